"""A player's own action on Telegram (issue 15): the button sends a ForceReply prompt
that mentions the presser (selective: only their client opens the reply field), and their
reply to that prompt is the action. In a private chat plain text after a prompt counts
too, since there is no one else to talk to.

Prompts live in memory only: a reply to one from before a restart, or to one whose part
is over, is answered "press the button again" and changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from telegram import ForceReply, Message, MessageEntity, User

from storycraft_bot.core.models import Language
from storycraft_bot.core.own_actions import OWN_ACTION_MAX_CHARS
from storycraft_bot.core.texts import Msg, text

#: Prompts remembered at once; the oldest are forgotten first.
PROMPTS_KEPT = 1000
#: What every prompt starts with, in either language (to know our old prompts).
PROMPT_MARK = "✍️"


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt the bot sent: the part it asks an action for and who may answer it."""

    chat_id: int
    message_id: int
    segment_id: int
    user_id: int


class Prompts:
    """The prompts sent since start, by chat and message."""

    def __init__(self, capacity: int = PROMPTS_KEPT) -> None:
        self._capacity = capacity
        self._by_message: OrderedDict[tuple[int, int], Prompt] = OrderedDict()

    def remember(self, prompt: Prompt) -> None:
        self._by_message[(prompt.chat_id, prompt.message_id)] = prompt
        while len(self._by_message) > self._capacity:
            self._by_message.popitem(last=False)

    def forget(self, prompt: Prompt) -> None:
        self._by_message.pop((prompt.chat_id, prompt.message_id), None)

    def answered(self, message: Message, bot_id: int, *, private: bool) -> Prompt | None:
        """The prompt `message` answers: the one it replies to, or in a private chat the
        newest one there."""
        replied = message.reply_to_message
        if replied is not None:
            if replied.from_user is None or replied.from_user.id != bot_id:
                return None
            return self._by_message.get((message.chat_id, replied.message_id))
        if not private:
            return None
        chat = [p for (c, _), p in self._by_message.items() if c == message.chat_id]
        return chat[-1] if chat else None


def is_old_prompt(message: Message, bot_id: int) -> bool:
    """`message` replies to a prompt of ours the bot no longer knows (sent before a
    restart, or forgotten)."""
    replied = message.reply_to_message
    return (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == bot_id
        and (replied.text or "").startswith(PROMPT_MARK)
    )


def prompt_message(language: Language, user: User) -> tuple[str, list[MessageEntity], ForceReply]:
    """The prompt's text, the mention of the presser in it, and the selective ForceReply."""
    name = user.full_name
    body = text(language, Msg.OWN_ACTION_PROMPT, name=name, limit=OWN_ACTION_MAX_CHARS)
    start = body.index(name)
    # Telegram counts entity offsets in UTF-16 code units.
    offset = len(body[:start].encode("utf-16-le")) // 2
    length = len(name.encode("utf-16-le")) // 2
    mention = MessageEntity(MessageEntity.TEXT_MENTION, offset, length, user=user)
    placeholder = text(language, Msg.OWN_ACTION_BUTTON)[:64]
    return body, [mention], ForceReply(selective=True, input_field_placeholder=placeholder)
