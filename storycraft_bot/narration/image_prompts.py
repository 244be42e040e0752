"""English Stable Diffusion prompts for finished segments: a short model call with a
cache, and a rule-made prompt when the model fails.

SD1.5's text encoder reads 77 tokens per chunk; ComfyUI splits a longer prompt into chunks
that dilute each other. So the model is asked for a bounded prompt, and every prompt (the
model's or the rule's, with looks and style added) is fitted to about what one chunk holds.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from storycraft_bot.core.errors import NarratorError
from storycraft_bot.core.faces import characters_present
from storycraft_bot.core.models import (
    ImagePrompt,
    ImageSource,
    PictureStyle,
    Segment,
    StoryMemory,
)
from storycraft_bot.core.rating import merge_negative
from storycraft_bot.core.styles import StyleBook
from storycraft_bot.narration.ollama_gateway import Message, OllamaGateway

log = logging.getLogger(__name__)

NEGATIVE_PROMPT = (
    "lowres, blurry, jpeg artifacts, text, watermark, signature, deformed hands, extra limbs, "
    "bad anatomy, disfigured face"
)

QUALITY = "highly detailed, sharp focus, beautiful lighting"

#: About 77 CLIP tokens: words plus the commas between phrases, with room for the rest.
PROMPT_MAX_WORDS = 50
PROMPT_MAX_CHARS = 320
#: What the model itself may write, before looks and style are added.
MODEL_PROMPT_MAX_CHARS = 240
_PROMPT_TOKENS = 120  # num_predict for the prompt reply: its longest JSON and no more

_SYSTEM = (
    "You write prompts for Stable Diffusion. From a story part, write ONE English prompt of "
    "comma-separated phrases, at most 35 words: main subject first, then setting, lighting "
    "and mood, then style tags. Describe characters by their looks, never by name. No "
    "sentences, no text in the picture."
)


class _PromptReply(BaseModel):
    prompt: str = Field(min_length=3, max_length=MODEL_PROMPT_MAX_CHARS)


@functools.cache
def _prompt_schema() -> Mapping[str, Any]:
    """The image prompt's JSON schema for Ollama's `format` (made once, shared)."""
    return MappingProxyType(_PromptReply.model_json_schema())


def fit_prompt(parts: list[str], keep: str = "") -> str:
    """Comma-joined phrases, in order of importance, cut to what one text-encoder chunk
    uses: at most PROMPT_MAX_WORDS words and PROMPT_MAX_CHARS characters. `keep` (the
    story's style) always stays: the rest is cut to leave room for it."""
    kept_style = _phrases([keep])
    max_words = max(
        PROMPT_MAX_WORDS // 2, PROMPT_MAX_WORDS - sum(len(p.split()) for p in kept_style)
    )
    max_chars = max(PROMPT_MAX_CHARS // 2, PROMPT_MAX_CHARS - sum(len(p) + 2 for p in kept_style))
    kept: list[str] = []
    words = chars = 0
    for phrase in _phrases(parts):
        size = len(phrase.split())
        if words + size > max_words or chars + len(phrase) + 2 > max_chars:
            if not kept:  # one huge phrase: keep its first words
                kept.append(" ".join(phrase.split()[:max_words])[:max_chars])
            break
        kept.append(phrase)
        words += size
        chars += len(phrase) + 2
    return ", ".join([*kept, *kept_style])


def _phrases(parts: list[str]) -> list[str]:
    return [p.strip(" ,.") for part in parts for p in part.split(",") if p.strip(" ,.")]


def style_for(genre: str) -> str:
    """Style tags for a genre, in English whatever language the genre was given in."""
    return StyleBook().for_genre(genre).positive


def _style(genre: str, style: PictureStyle | None) -> PictureStyle:
    return style or StyleBook().for_genre(genre)


def rule_prompt(
    genre: str, segment: Segment, memory: StoryMemory, style: PictureStyle | None = None
) -> ImagePrompt:
    """A prompt made without the model: scene, looks of who is there, the story's style."""
    style = _style(genre, style)
    # The genre may be typed in Russian; only an ASCII genre goes into the prompt.
    fallback_subject = f"a scene from a {genre} story" if genre.isascii() else "a story scene"
    parts = [segment.scene.strip().rstrip(".") or fallback_subject]
    parts += [c.looks for c in characters_present(segment, memory)]
    return ImagePrompt(
        fit_prompt([p for p in parts if p], keep=f"{style.positive}, {QUALITY}"),
        merge_negative(NEGATIVE_PROMPT, style.negative),
        ImageSource.RULE,
    )


class ModelPromptWriter:
    """The PromptWriter port: asks a (small) model, caches, falls back to the rule."""

    def __init__(self, gateway: OllamaGateway, model: str, cache_size: int = 256) -> None:
        self._gateway = gateway
        self._model = model
        self._cache: OrderedDict[tuple[str, ...], ImagePrompt] = OrderedDict()
        self._cache_size = cache_size

    async def image_prompt(
        self,
        genre: str,
        segment: Segment,
        memory: StoryMemory,
        style: PictureStyle | None = None,
    ) -> ImagePrompt:
        style = _style(genre, style)
        present = characters_present(segment, memory)
        looks = "; ".join(f"{c.name}: {c.looks}" for c in present)
        cache_key = (self._model, genre, segment.narration, segment.scene, looks, str(style))
        cached = self._cache.get(cache_key)
        if cached is not None:
            self._cache.move_to_end(cache_key)
            return cached
        messages: list[Message] = [
            {"role": "system", "content": _SYSTEM},
            {
                "role": "user",
                "content": f"Genre: {genre}\nScene: {segment.scene or '(not given)'}\n"
                f"Who is there and how they look: {looks or '(nobody known)'}\n"
                f"Story part:\n{segment.narration[:1500]}",
            },
        ]
        try:
            result = await self._gateway.chat(
                messages,
                schema=_prompt_schema(),
                model=self._model,
                num_predict=_PROMPT_TOKENS,
            )
            prompt = _PromptReply.model_validate_json(result.content).prompt.strip()
            if not prompt:
                raise ValueError("empty prompt")
        except (NarratorError, ValidationError, ValueError) as err:
            log.warning("image prompt from the model failed (%s); using the rule", err)
            return rule_prompt(genre, segment, memory, style)
        parts = [prompt.rstrip(". ,")]
        parts += [c.looks for c in present if c.looks.casefold() not in prompt.casefold()]
        made = ImagePrompt(
            fit_prompt(parts, keep=style.positive),
            merge_negative(NEGATIVE_PROMPT, style.negative),
            ImageSource.MODEL,
        )
        self._cache[cache_key] = made
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return made
