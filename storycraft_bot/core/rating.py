"""Content ratings: what a story may show, who may allow `mature`, and the negative
prompt each rating adds to pictures."""

from __future__ import annotations

import enum

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, Place, Platform, Rating
from storycraft_bot.core.texts import Msg

__all__ = ["RATING_NEGATIVE", "MatureGate", "Rating", "check_rating", "is_spoiler"]


class MatureGate(enum.Enum):
    """Who may allow `mature` in a place, by the platform's own means."""

    AGE_RESTRICTED = enum.auto()  # the channel is marked age-restricted (Discord's nsfw)
    ADMIN = enum.auto()  # a chat administrator (Telegram, the web)
    OPERATOR = enum.auto()  # whoever runs the bot (the console)


#: How each platform lets a place allow `mature`.
MATURE_GATES: dict[Platform, MatureGate] = {
    Platform.DISCORD: MatureGate.AGE_RESTRICTED,
    Platform.TELEGRAM: MatureGate.ADMIN,
    Platform.WEB: MatureGate.ADMIN,
    Platform.CONSOLE: MatureGate.OPERATOR,
}


def mature_allowed(place: Place, actor: Actor | None) -> bool:
    """Whether `mature` may be chosen here (by `actor`; None: a default already set by an
    administrator is being applied)."""
    gate = MATURE_GATES[place.key.platform]
    if gate is MatureGate.AGE_RESTRICTED:
        return place.age_restricted
    if gate is MatureGate.ADMIN:
        return actor is None or actor.can_moderate or actor.can_manage_guild
    return True


def check_rating(place: Place, actor: Actor | None, rating: Rating) -> None:
    """StoryActionError, saying what would allow it, for `mature` where it is not allowed."""
    if rating is Rating.MATURE and not mature_allowed(place, actor):
        gate = MATURE_GATES[place.key.platform]
        raise StoryActionError(
            Msg.MATURE_NEEDS_AGE_RESTRICTED
            if gate is MatureGate.AGE_RESTRICTED
            else Msg.MATURE_NEEDS_ADMIN
        )


#: What the image model is told to avoid, per rating; merged with the workflow's own.
RATING_NEGATIVE: dict[Rating, str] = {
    Rating.SAFE: "nsfw, nudity, gore, blood, violence, weapons pointed at viewer, horror",
    Rating.TEEN: "nsfw, nudity, explicit, gore",
    Rating.MATURE: "",
}


def merge_negative(*parts: str) -> str:
    """Comma-joined phrases of every part, each once (case-insensitive), in order."""
    seen: set[str] = set()
    kept: list[str] = []
    for part in parts:
        for phrase in part.split(","):
            phrase = phrase.strip()
            if phrase and phrase.casefold() not in seen:
                seen.add(phrase.casefold())
                kept.append(phrase)
    return ", ".join(kept)


def is_spoiler(rating: Rating) -> bool:
    """Pictures of a mature story are hidden until a reader opens them."""
    return rating is Rating.MATURE
