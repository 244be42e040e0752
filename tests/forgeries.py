"""Button ids a client may forge: random text and ids shaped like the bot's own (wrong
kinds, parts that never were, out-of-range choices, leading zeros, non-ASCII digits,
extra fields, oversized numbers, unoffered settings), and a full dump of the database to
show that none of them changed anything."""

from __future__ import annotations

import random
import sqlite3
import string
from pathlib import Path

DIGITS = ["0", "1", "7", "00", "01", "-1", "²", "٣", "１", "9" * 16, "9" * 40, "", " 2", "2 "]
SHAPES = [
    "c:{n}:{m}",
    "c:{n}",
    "c:{n}:{m}:{m}",
    "t:{n}",
    "r:{n}",
    "x:{n}",
    "x:{n}:{m}",
    "s:p:{m}",
    "s:w:{n}",
    "s:f:{m}",
    "s:{m}",
    "{n}:{m}",
    "C:{n}:{m}",
    "c::{m}",
]
ALPHABET = string.printable + "абвгдеёжзийклмнопрстуфхцчшщъыьэюя²٣１🙂\u200b"


def forgeries(count: int, rng: random.Random, *, prefix: str = "", limit: int = 64) -> list[str]:
    """`count` distinct ids, none of which the bot offers while the only live part is 1
    (its choices 0-2), each 1 to `limit` bytes (the platform would not deliver others)."""
    offered = {f"c:1:{i}" for i in range(3)} | {"t:1", "r:1", "x:1", "n"}
    offered |= {"s:p:0", "s:p:1", "s:w:30", "s:w:60", "s:w:120", "s:f:0", "s:f:1"}
    found: set[str] = set()
    while len(found) < count:
        if rng.random() < 0.3:
            body = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, limit)))
        else:
            shape = rng.choice(SHAPES)
            body = shape.format(n=_number(rng), m=_number(rng))
            body = (prefix if rng.random() < 0.9 else "") + body
        if body.removeprefix(prefix) in offered or not 1 <= len(body.encode()) <= limit:
            continue
        found.add(body)
    return sorted(found, key=lambda _: rng.random())


def _number(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(DIGITS)
    return str(rng.randint(2, 10 ** rng.randint(1, 15)))


def dump(database: Path) -> list[str]:
    """Every row of every table, as SQL (the file is in WAL mode: committed rows show)."""
    with sqlite3.connect(database) as connection:
        return list(connection.iterdump())
