"""The web start form, read with its optional files (a character card, a lorebook):
multipart parts are streamed with a limit each, so the app's small body cap stays in
force for everything else and a large upload is refused without being kept."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from .card_input import CARD_MAX_BYTES, LOREBOOK_MAX_BYTES, check_size

FIELD_MAX_BYTES = 4096
MAX_PARTS = 12
CHUNK = 64 * 1024
_FILE_LIMITS = {"card": CARD_MAX_BYTES, "lorebook": LOREBOOK_MAX_BYTES}


@dataclass(frozen=True, slots=True)
class StartForm:
    """What the start form sent."""

    premise: str = ""
    genre: str = ""
    language: str = ""
    together: bool = False
    length: str = ""  # a StoryLength's value, or "" for the default
    style: str = ""  # a picture style's name, or "" for the genre's
    card: bytes | None = None
    lorebook: bytes | None = None


async def _limited(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        check_size(len(data), limit)
    return bytes(data)


async def read_start_form(request: web.Request) -> StartForm:
    """The form's fields and files; StoryActionError(CARD_TOO_LARGE) for a file or a
    field over its limit, web.HTTPBadRequest for a malformed body."""
    if request.content_type != "multipart/form-data":
        form = await request.post()
        return StartForm(
            premise=str(form.get("premise", "")),
            genre=str(form.get("genre", "")),
            language=str(form.get("language", "")),
            together=form.get("together") == "1",
            length=str(form.get("length", "")),
            style=str(form.get("style", "")),
        )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    reader = await request.multipart()
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or not part.name:
            raise web.HTTPBadRequest(text="malformed form")
        limit = _FILE_LIMITS.get(part.name, FIELD_MAX_BYTES)
        if part.name in _FILE_LIMITS and not part.filename:  # an empty file input
            await _limited(part, FIELD_MAX_BYTES)
            continue
        data = await _limited(part, limit)
        if part.name in _FILE_LIMITS:
            files[part.name] = data
        else:
            fields[part.name] = data.decode("utf-8", errors="replace")
    else:
        raise web.HTTPBadRequest(text="too many form parts")
    return StartForm(
        premise=fields.get("premise", ""),
        genre=fields.get("genre", ""),
        language=fields.get("language", ""),
        together=fields.get("together") == "1",
        length=fields.get("length", ""),
        style=fields.get("style", ""),
        card=files.get("card"),
        lorebook=files.get("lorebook"),
    )
