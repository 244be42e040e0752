"""The text chunks of a PNG (tEXt, zTXt, iTXt), read with the standard library and
bounded: a compressed chunk is inflated only up to a limit, so a small file cannot
expand into gigabytes."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Collection

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.texts import Msg

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The most text one chunk may hold once inflated.
CHUNK_TEXT_MAX = 2 * 1024 * 1024


def _damaged(what: str) -> StoryActionError:
    return StoryActionError(Msg.CARD_DAMAGED, what=what)


def _inflate(data: bytes, limit: int) -> bytes:
    """`data` inflated, refused once it would pass `limit` bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as err:
        raise _damaged("zlib") from err
    if len(out) > limit or inflater.unconsumed_tail:
        raise StoryActionError(Msg.CARD_TOO_LARGE, size=(limit + 1) // 1024, limit=limit // 1024)
    return out


def _text_of(kind: bytes, body: bytes, limit: int) -> tuple[str, str]:
    """(keyword, text) of one text chunk."""
    keyword, sep, rest = body.partition(b"\0")
    if not sep or not 1 <= len(keyword) <= 79:
        raise _damaged("PNG text chunk")
    name = keyword.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        if not rest or rest[0] != 0:
            raise _damaged("PNG zTXt method")
        return name, _inflate(rest[1:], limit).decode("latin-1")
    # iTXt: compression flag, method, language tag \0, translated keyword \0, UTF-8 text
    if len(rest) < 2:
        raise _damaged("PNG iTXt chunk")
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3 or compressed not in (0, 1) or (compressed and method != 0):
        raise _damaged("PNG iTXt chunk")
    raw = _inflate(parts[2], limit) if compressed else parts[2]
    try:
        return name, raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _damaged("PNG iTXt text") from err


def png_texts(data: bytes, wanted: Collection[str], limit: int = CHUNK_TEXT_MAX) -> dict[str, str]:
    """The text chunks of the PNG `data` whose keyword is in `wanted`, by keyword;
    StoryActionError(CARD_DAMAGED) for a broken file."""
    if not data.startswith(PNG_SIGNATURE):
        raise _damaged("PNG signature")
    found: dict[str, str] = {}
    at = len(PNG_SIGNATURE)
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        end = at + 12 + length
        if len(body) != length or end > len(data):
            raise _damaged("PNG chunk length")
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise _damaged("PNG chunk checksum")
        if kind == b"IEND":
            return found
        if (
            kind in (b"tEXt", b"zTXt", b"iTXt")
            and body.partition(b"\0")[0].decode("latin-1") in wanted
        ):
            name, value = _text_of(kind, body, limit)
            found.setdefault(name, value)
        at = end
    raise _damaged("PNG end")  # cut short: a card in it may be cut too
