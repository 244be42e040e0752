"""A story's book as one self-contained HTML page, for every screen.

`book_html` writes the page; where each picture comes from is its caller's choice: the
file itself, embedded as a data: URI (`embedded_pictures`, a download that needs nothing
else), or a link (`linked_pictures`, for a web route that serves them). Every string a
model or a player wrote is escaped, and the page allows no script at all (its
Content-Security-Policy), so a narration holding markup is shown as text.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from storycraft_bot.core.book import Book, BookPart
from storycraft_bot.core.texts import Msg, text

log = logging.getLogger(__name__)

#: Where a part's picture is shown from (a URL), or None to show none.
PictureSource = Callable[[BookPart], str | None]
#: A part's picture's width and height, when known (the page keeps its room).
PictureSize = Callable[[BookPart], tuple[int, int] | None]

#: Pictures above either bound are re-encoded smaller, so a 30-part book stays a few MB.
MAX_SIDE = 1024
MAX_BYTES = 300_000
JPEG_QUALITY = 82
MIN_SIDE = 256
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg"}

_STYLE = """
:root { color-scheme: light; }
body { font: 19px/1.65 Georgia, "Iowan Old Style", "Palatino Linotype", "Times New Roman", serif;
  max-width: 40rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; color: #2a2520;
  background: #fbf8f1; hyphens: auto; text-rendering: optimizeLegibility; }
header { text-align: center; margin: 1rem 0 3rem; padding-bottom: 2rem;
  border-bottom: 1px solid #d8cfbf; }
h1 { font-size: 2.3rem; line-height: 1.2; margin: 0 0 .6rem; font-weight: normal; }
.meta { color: #7a6f60; font-style: italic; margin: .3rem 0; }
.premise { margin: 1.2rem auto 0; max-width: 32rem; color: #4a4238; }
.tools { font: 15px system-ui, sans-serif; margin-top: 1.2rem; }
.tools a { color: #6b4bb0; }
.part { margin: 2.5rem 0 3rem; }
.part h2 { font: 600 .8rem system-ui, sans-serif; text-transform: uppercase;
  letter-spacing: .14em; color: #9a8f80; text-align: center; margin: 0 0 1.2rem; }
.part p { margin: 0 0 1rem; text-align: justify; }
figure { margin: 0 0 1.5rem; text-align: center; }
figure img { width: min(100%, 30rem); height: auto; border-radius: 4px;
  box-shadow: 0 2px 10px rgba(60, 40, 20, .18); }
.chosen { color: #6b5f50; font-style: italic; text-align: center; margin-top: 1.4rem; }
.end { text-align: center; margin: 3rem 0; font-style: italic; color: #7a6f60; }
@page { margin: 18mm 16mm; }
@media print {
  body { background: #fff; color: #000; font-size: 12pt; max-width: none; padding: 0; }
  header { margin-top: 30%; border: 0; }
  .tools { display: none; }
  .part { break-before: page; page-break-before: always; margin: 0; }
  figure img { box-shadow: none; max-height: 120mm; object-fit: contain; }
  figure, figure img, .chosen { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  p { orphans: 3; widows: 3; }
}
"""


def book_html(
    book: Book,
    pictures: PictureSource,
    *,
    sizes: PictureSize | None = None,
    download: tuple[str, str] | None = None,
) -> str:
    """The whole page: cover, every part in order with its picture and the choice that
    led on from it, and a closing line (the end, or "the story goes on"). `download` is
    a link (URL, label) shown on screen, never in print."""
    lang = book.language
    started = time.strftime("%Y-%m-%d", time.gmtime(book.started_at))
    meta = [book.genre, text(lang, Msg.BOOK_BEGUN, date=started)]
    parts = [_part_html(book, part, pictures, sizes) for part in book.parts]
    closing = Msg.BOOK_THE_END if book.finished else Msg.BOOK_GOES_ON
    shown = book.premise.strip()
    # A premise that is the title already says nothing more under it.
    premise = f'<p class="premise">{_escape(shown)}</p>' if shown and shown != book.title else ""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{lang.value}">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "img-src data: 'self'; style-src 'unsafe-inline'\">",
            f"<title>{_escape(book.title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            "<header>",
            f"<h1>{_escape(book.title)}</h1>",
            f'<p class="meta">{_escape(" · ".join(meta))}</p>',
            premise,
            _download_html(download),
            "</header>",
            *parts,
            f'<p class="end">{_escape(text(lang, closing))}</p>',
            "</body>",
            "</html>",
            "",
        ]
    )


def _download_html(download: tuple[str, str] | None) -> str:
    if download is None:
        return ""
    url, label = download
    return f'<p class="tools"><a href="{_escape(url)}" download>{_escape(label)}</a></p>'


def _part_html(
    book: Book, part: BookPart, pictures: PictureSource, sizes: PictureSize | None
) -> str:
    lang = book.language
    lines = [
        f'<section class="part" id="part-{part.number}">',
        f"<h2>{_escape(text(lang, Msg.BOOK_PART, number=part.number))}</h2>",
    ]
    source = pictures(part) if part.picture else None
    if source is not None:
        alt = text(lang, Msg.BOOK_PICTURE, number=part.number)
        size = sizes(part) if sizes is not None else None
        box = f' width="{size[0]}" height="{size[1]}"' if size is not None else ""
        lines.append(
            f'<figure><img src="{_escape(source)}"{box} decoding="async" '
            f'alt="{_escape(alt)}"></figure>'
        )
    lines.extend(_paragraphs(part.narration))
    if part.choice is not None:
        chosen = text(lang, Msg.BOOK_CHOSEN, choice=part.choice)
        lines.append(f'<p class="chosen">{_escape(chosen)}</p>')
    lines.append("</section>")
    return "\n".join(lines)


def _paragraphs(narration: str) -> list[str]:
    """Blank lines part paragraphs; a single line break stays one."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", narration) if b.strip()]
    return ["<p>" + "<br>".join(_escape(line) for line in b.splitlines()) + "</p>" for b in blocks]


def _escape(value: str) -> str:
    return html.escape(value, quote=True)


def embedded_pictures(max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES) -> PictureSource:
    """Each picture as a data: URI of its file (shrunk when large); a missing or broken
    file shows no picture."""

    def source(part: BookPart) -> str | None:
        found = picture_data(Path(part.picture), max_side, max_bytes) if part.picture else None
        if found is None:
            return None
        mime, data = found
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    return source


def linked_pictures(url_of: Callable[[BookPart], str]) -> PictureSource:
    """Each ready picture as a link (`url_of` says where a web route serves it)."""
    return lambda part: url_of(part) if part.picture else None


def picture_data(
    path: Path, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES
) -> tuple[str, bytes] | None:
    """A picture's type and bytes: the file as stored when it is a PNG or JPEG within
    the bounds, otherwise re-encoded as a JPEG at most `max_side` pixels wide and high,
    smaller still until it weighs at most `max_bytes` (or is down to `MIN_SIDE`). None
    (and a log line) for a missing or unreadable file."""
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            mime = _MIME.get(image.format or "")
            if mime and len(data) <= max_bytes and max(image.size) <= max_side:
                return mime, data
            rgb = image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as err:
        log.warning("book: picture %s left out: %s", path, err)
        return None
    side = max_side
    while True:
        shrunk = rgb.copy()
        shrunk.thumbnail((side, side))
        out = io.BytesIO()
        shrunk.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        if out.tell() <= max_bytes or side <= MIN_SIDE:
            return "image/jpeg", out.getvalue()
        side = max(MIN_SIDE, side * 3 // 4)


_CYRILLIC = str.maketrans(
    {"ж": "zh", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ю": "yu", "я": "ya"}
    | dict(zip("абвгдеёзийклмнопрстуфыэъь", "abvgdeeziyklmnoprstufye--", strict=True))
)


def book_file_name(book: Book) -> str:
    """`story-<title>.html` in plain ASCII (Cyrillic transliterated), safe everywhere."""
    latin = book.title.lower().translate(_CYRILLIC)
    slug = re.sub(r"[^a-z0-9]+", "-", latin).strip("-")[:60].rstrip("-")
    return f"story-{slug or book.book_id[:8] or 'book'}.html"
