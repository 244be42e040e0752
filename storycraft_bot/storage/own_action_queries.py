"""Own actions on a part's ballot (issue 15), for both backends: the typed text joins the
segment's `choices`, its author joins the segment's `own_actions` JSON list, in one
statement that changes only a part still open."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from storycraft_bot.core.models import Actor, OwnAction, Segment


def own_actions_of(raw: str | None) -> tuple[OwnAction, ...]:
    """The stored JSON list as OwnActions (none on a database before migration 010)."""
    return tuple(
        OwnAction(int(a["choice_index"]), str(a["user_id"]), str(a["user_name"]))
        for a in json.loads(raw or "[]")
    )


def appended(segment: Segment, author: Actor, action: str) -> tuple[str, Sequence[Any]]:
    """The UPDATE that puts `action` by `author` on the open part's ballot, and its
    parameters; it matches no row once the part is no longer open or its ballot changed
    since `segment` was read."""
    authors = [
        {"choice_index": a.choice_index, "user_id": a.user_id, "user_name": a.user_name}
        for a in segment.own_actions
    ]
    authors.append(
        {"choice_index": len(segment.choices), "user_id": author.user_id, "user_name": author.name}
    )
    old_choices = json.dumps(list(segment.choices), ensure_ascii=False)
    return (
        "UPDATE segments SET choices = ?, own_actions = ? WHERE id = ? AND state = 'open'"
        " AND choices = ?",
        (
            json.dumps([*segment.choices, action], ensure_ascii=False),
            json.dumps(authors, ensure_ascii=False),
            segment.id,
            old_choices,
        ),
    )
