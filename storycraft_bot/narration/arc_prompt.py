"""What the narrator is told about the story's arc (issue 16), in the story's language."""

from __future__ import annotations

from storycraft_bot.core.arc import Arc, ArcStage
from storycraft_bot.core.models import Language

_STAGES: dict[ArcStage, dict[Language, str]] = {
    ArcStage.OPENING: {
        Language.RU: "завязка: знакомь с героями и миром, намечай главный конфликт",
        Language.EN: "opening: introduce the characters and the world, hint at the conflict",
    },
    ArcStage.RISING: {
        Language.RU: "развитие действия: усложняй положение, поднимай ставки",
        Language.EN: "rising action: complicate things and raise the stakes",
    },
    ArcStage.CLIMAX: {
        Language.RU: "кульминация: главное столкновение, решающие события",
        Language.EN: "climax: the main confrontation, the decisive events",
    },
    ArcStage.RESOLUTION: {
        Language.RU: "развязка",
        Language.EN: "resolution",
    },
}
_STAGE = {
    Language.RU: "Стадия сюжета: {stage}. После этой части останется частей: {left}.",
    Language.EN: "Arc stage: {stage}. Parts left after this one: {left}.",
}
_ENDING = {
    Language.RU: "Это последняя часть истории: напиши настоящую развязку, которая завершает "
    "сюжет и судьбы героев. Не предлагай вариантов действий: поле choices — пустой список.",
    Language.EN: "This is the last part of the story: write a real ending that resolves "
    "the plot and the characters' fates. Offer no actions: the field choices is an empty "
    "list.",
}


def arc_instructions(arc: Arc | None, language: Language) -> str:
    """The system prompt's lines about the arc ("" for an endless story)."""
    if arc is None:
        return ""
    if arc.ending:
        return _ENDING[language]
    return _STAGE[language].format(stage=_STAGES[arc.stage][language], left=arc.parts_left)
