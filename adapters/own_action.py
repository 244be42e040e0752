"""A player's own action as every screen takes it (issue 15): the press on "✍️ Your own
action" only asks for the text (each platform its own way: a Discord modal, a Telegram
reply, a console line); the text then goes to the engine here, one path for all."""

from __future__ import annotations

from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, Language, Place
from storycraft_bot.core.texts import Msg, text

from .buttons import Button, ButtonKind
from .commands import PRESS_REPLIES, Reply, ReplyKind


async def may_type(
    engine: StoryEngine, button: Button | None, place: Place, actor: Actor, *, retired: bool
) -> int:
    """The part a press on an own-action button asks a text for: refused (StoryActionError)
    for an id the bot never made, a retired message, a part that is over, or an actor
    who may not add one now."""
    if button is None or button.kind is not ButtonKind.OWN_ACTION or retired:
        raise StoryActionError(Msg.PART_OVER)
    await engine.own_actions.check(place, actor, button.segment_id)
    return button.segment_id


async def submit(
    engine: StoryEngine,
    place: Place,
    actor: Actor,
    language: Language,
    segment_id: int | None,
    typed: str,
) -> Reply:
    """Hand the typed action for part `segment_id` to the engine (None: the screen could
    not tell which part, refused like a part that is over); the presser's private answer."""
    if segment_id is None:
        raise StoryActionError(Msg.PART_OVER)
    outcome = await engine.own_actions.submit(place, actor, segment_id, typed)
    reply = text(language, PRESS_REPLIES[outcome.kind], choice=outcome.choice_text)
    return Reply(reply, ReplyKind.SEEN)
