"""English Stable Diffusion prompts for finished segments: a short model call with a
cache, and a rule-made prompt when the model fails."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel, ValidationError

from storycraft_bot.core.errors import NarratorError
from storycraft_bot.core.models import Character, ImagePrompt, ImageSource, Segment, StoryMemory
from storycraft_bot.narration.ollama_gateway import Message, OllamaGateway

log = logging.getLogger(__name__)

NEGATIVE_PROMPT = (
    "lowres, blurry, jpeg artifacts, text, watermark, signature, deformed hands, extra limbs, "
    "bad anatomy, disfigured face"
)

_GENRE_STYLE = {
    "fantasy": "epic fantasy art, painterly, dramatic",
    "фэнтези": "epic fantasy art, painterly, dramatic",
    "sci-fi": "science fiction concept art, cinematic",
    "scifi": "science fiction concept art, cinematic",
    "фантастика": "science fiction concept art, cinematic",
    "horror": "dark horror illustration, eerie, desaturated",
    "ужасы": "dark horror illustration, eerie, desaturated",
    "mystery": "noir mystery illustration, moody",
    "детектив": "noir mystery illustration, moody",
    "fairy tale": "storybook illustration, whimsical, soft colors",
    "сказка": "storybook illustration, whimsical, soft colors",
    "cyberpunk": "cyberpunk, neon, rain, cinematic",
    "киберпанк": "cyberpunk, neon, rain, cinematic",
}
_DEFAULT_STYLE = "digital painting, detailed illustration"
_QUALITY = "highly detailed, sharp focus, beautiful lighting"

_SYSTEM = (
    "You write prompts for Stable Diffusion. From a story part, write ONE English prompt of "
    "comma-separated phrases, at most 60 words: main subject first, then setting, lighting "
    "and mood, then style tags. Describe characters by their looks, never by name. No "
    "sentences, no text in the picture."
)
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"prompt": {"type": "string"}},
    "required": ["prompt"],
}


class _PromptReply(BaseModel):
    prompt: str


def characters_present(segment: Segment, memory: StoryMemory) -> tuple[Character, ...]:
    """Remembered characters named in the segment (so the picture keeps their looks)."""
    haystack = f"{segment.narration} {segment.scene}".casefold()
    return tuple(c for c in memory.characters if c.name and c.name.casefold() in haystack)


def style_for(genre: str) -> str:
    """Style tags for a genre, in English whatever language the genre was given in."""
    return _GENRE_STYLE.get(genre.strip().casefold(), _DEFAULT_STYLE)


def rule_prompt(genre: str, segment: Segment, memory: StoryMemory) -> ImagePrompt:
    """A prompt made without the model: scene, looks of who is there, genre style."""
    # The genre may be typed in Russian; only an ASCII genre goes into the prompt.
    fallback_subject = f"a scene from a {genre} story" if genre.isascii() else "a story scene"
    parts = [segment.scene.strip().rstrip(".") or fallback_subject]
    parts += [c.looks for c in characters_present(segment, memory)]
    parts += [style_for(genre), _QUALITY]
    return ImagePrompt(", ".join(p for p in parts if p), NEGATIVE_PROMPT, ImageSource.RULE)


class ModelPromptWriter:
    """The PromptWriter port: asks a (small) model, caches, falls back to the rule."""

    def __init__(self, gateway: OllamaGateway, model: str, cache_size: int = 256) -> None:
        self._gateway = gateway
        self._model = model
        self._cache: OrderedDict[tuple[str, ...], ImagePrompt] = OrderedDict()
        self._cache_size = cache_size

    async def image_prompt(self, genre: str, segment: Segment, memory: StoryMemory) -> ImagePrompt:
        present = characters_present(segment, memory)
        looks = "; ".join(f"{c.name}: {c.looks}" for c in present)
        cache_key = (self._model, genre, segment.narration, segment.scene, looks)
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
            result = await self._gateway.chat(messages, schema=_SCHEMA, model=self._model)
            prompt = _PromptReply.model_validate_json(result.content).prompt.strip()
            if not prompt:
                raise ValueError("empty prompt")
        except (NarratorError, ValidationError, ValueError) as err:
            log.warning("image prompt from the model failed (%s); using the rule", err)
            return rule_prompt(genre, segment, memory)
        parts = [prompt.rstrip(". ,")]
        parts += [c.looks for c in present if c.looks.casefold() not in prompt.casefold()]
        parts.append(style_for(genre))
        made = ImagePrompt(", ".join(parts), NEGATIVE_PROMPT, ImageSource.MODEL)
        self._cache[cache_key] = made
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return made
