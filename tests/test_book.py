"""The book: a story's chosen path from the engine, and its one HTML page."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from adapters.book import (
    MAX_BYTES,
    book_file_name,
    book_html,
    embedded_pictures,
    linked_pictures,
)
from storycraft_bot.core import events as ev
from storycraft_bot.core.book import Book, BookPart
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, DecidedBy, Language, Picture, SegmentState
from storycraft_bot.storage.sqlite import Store
from tests.conftest import PRIVATE
from tests.fakes import RecordingView

ALICE = Actor("u1", "Alice")
XSS = (
    '<script>alert("x")</script>',
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
)


async def test_the_book_holds_the_chosen_path_only_after_retry_and_undo(
    engine: StoryEngine, view: RecordingView, store: Store
) -> None:
    session = await engine.start(PRIVATE, ALICE, premise="A lost key\nin the lighthouse")
    first = (await view.wait_for(ev.SegmentFinished)).segment
    await engine.retry(PRIVATE, ALICE)  # part 1 rewritten: "Part 1." is superseded
    first = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await engine.press(PRIVATE, ALICE, first.id, 1)
    second = (await view.wait_for(ev.SegmentFinished, count=3)).segment
    await engine.undo(PRIVATE, ALICE)  # the second part is taken back...
    await view.wait_for(ev.SegmentFinished, count=4)
    await engine.press(PRIVATE, ALICE, first.id, 0)  # ...and another choice made
    third = (await view.wait_for(ev.SegmentFinished, count=5)).segment
    await engine.wait_idle()
    await store.save_picture(first.id, Picture("/pics/1.png", 7, "s", "p", 1.0))

    book = await engine.book(PRIVATE)

    assert book.title == "A lost key"
    assert book.language is Language.EN
    assert book.premise.startswith("A lost key")
    assert book.started_at == session.created_at
    assert book.ended_at is None  # still running: the story so far
    assert [p.index for p in book.parts] == [0, 1]
    assert [p.narration[:7] for p in book.parts] == ["Part 2.", "Part 4."]
    assert second.narration.startswith("Part 3.")
    assert all(p.narration != second.narration for p in book.parts)
    assert book.parts[0].choice == first.choices[0]
    assert book.parts[0].decided_by is DecidedBy.PRESS
    assert book.parts[0].picture == "/pics/1.png"
    assert book.parts[1].choice is None  # open: nothing chosen yet
    assert book.parts[1].picture is None
    assert third.state is SegmentState.OPEN


async def test_a_stopped_story_keeps_its_book_and_its_id_finds_it(
    engine: StoryEngine, view: RecordingView
) -> None:
    session = await engine.start(PRIVATE, ALICE, genre="mystery")
    first = (await view.wait_for(ev.SegmentFinished)).segment
    await engine.press(PRIVATE, ALICE, first.id, 2)
    await view.wait_for(ev.SegmentFinished, count=2)
    await engine.stop(PRIVATE, ALICE)

    book = await engine.book(PRIVATE)  # the channel's newest story, stopped
    assert book.finished
    assert book.ended_at is not None
    assert book.title == "A mystery story"  # no premise: named after its genre
    assert [p.choice for p in book.parts] == [first.choices[2], None]
    assert len(session.book_id) >= 20
    assert re.fullmatch(r"[A-Za-z0-9_-]+", session.book_id)
    assert book.book_id == session.book_id
    assert await engine.book_by_id(session.book_id) == book
    assert await engine.book_by_id("no-such-book") is None
    assert await engine.book_by_id("") is None

    # A second story in the same channel gets its own id; the first stays readable.
    newer = await engine.start(PRIVATE, ALICE)
    assert newer.book_id != session.book_id
    assert (await engine.book(PRIVATE)).book_id == newer.book_id
    found = await engine.book_by_id(session.book_id)
    assert found is not None
    assert found.parts == book.parts


async def test_a_channel_that_never_had_a_story_has_no_book(engine: StoryEngine) -> None:
    with pytest.raises(StoryActionError, match="no_story"):
        await engine.book(PRIVATE)


class Page(HTMLParser):
    """What a browser would see: text per element, images, links, styles, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.links: list[str | None] = []
        self.handlers: list[str] = []
        self.text: list[str] = []
        self.style = ""
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        if tag == "a":
            self.links.append(dict(attrs).get("href"))
        self.handlers += [name for name, _ in attrs if name.startswith("on")]

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "style":
            self.style += data
        elif data.strip():
            self.text.append(data.strip())


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser


def picture(path: Path, size: tuple[int, int], fmt: str = "PNG", noisy: bool = False) -> str:
    image = Image.effect_noise(size, 80).convert("RGB") if noisy else Image.new("RGB", size)
    image.save(path, fmt)
    return str(path)


def a_book(
    tmp_path: Path,
    *,
    language: Language = Language.EN,
    finished: bool = True,
    noisy: bool = False,
) -> Book:
    """Three parts; the third's picture is over the size bounds (`noisy`: one that
    barely compresses, so it must shrink further than the largest side allowed)."""
    small = picture(tmp_path / "small.png", (64, 48))
    large = picture(tmp_path / "large.png", (1400, 1050) if noisy else (2048, 1536), noisy=noisy)
    parts = (
        BookPart(0, "The door creaked.\n\nA light " + XSS[0], XSS[1], DecidedBy.PRESS, small),
        BookPart(1, "Stairs went down. " + XSS[2], "Go down", DecidedBy.VOTE, None),
        BookPart(2, "At the bottom, a key.", None, None, large),
    )
    return Book(
        book_id="abc123",
        title="The " + XSS[0],
        language=language,
        genre="mystery",
        premise=XSS[1],
        started_at=1_700_000_000.0,
        ended_at=1_700_000_500.0 if finished else None,
        parts=parts,
    )


def test_the_page_has_every_part_in_order_with_its_choice_and_its_picture(
    tmp_path: Path,
) -> None:
    book = a_book(tmp_path, noisy=True)
    page = parse(book_html(book, embedded_pictures()))

    headings = [t for t in page.text if t.startswith("Part ")]
    assert headings == ["Part 1", "Part 2", "Part 3"]
    joined = "\n".join(page.text)
    assert joined.index("The door creaked.") < joined.index("Stairs went down.")
    assert joined.index("Stairs went down.") < joined.index("At the bottom, a key.")
    assert f"» chosen: {XSS[1]}" in page.text
    assert "» chosen: Go down" in page.text
    assert "The end" in page.text
    # Two ready pictures, embedded in their parts; the large one shrunk, as a JPEG.
    sources = [str(img["src"]) for img in page.images]
    assert len(sources) == 2
    assert sources[0].startswith("data:image/png;base64,")
    assert (
        base64.b64decode(sources[0].split(",", 1)[1])
        == Path(book.parts[0].picture or "").read_bytes()
    )
    assert sources[1].startswith("data:image/jpeg;base64,")
    shrunk = base64.b64decode(sources[1].split(",", 1)[1])
    assert len(shrunk) <= MAX_BYTES
    assert max(Image.open(io.BytesIO(shrunk)).size) <= 1024
    assert [img["alt"] for img in page.images] == ["Picture for part 1", "Picture for part 3"]


def test_model_and_player_strings_render_as_text(tmp_path: Path) -> None:
    page_text = book_html(a_book(tmp_path), embedded_pictures())
    page = parse(page_text)

    assert "script" not in page.tags
    assert page.links == []  # the javascript: link is text, not a link
    assert page.handlers == []  # no onerror or any other handler
    assert [img["src"][:11] for img in page.images if img["src"]] == ["data:image/"] * 2
    shown = "\n".join(page.text)
    for hostile in XSS:
        assert hostile in shown  # shown to the reader exactly as written
    assert "default-src 'none'" in page_text  # and the page allows no script anyway


def test_the_print_stylesheet_breaks_pages_between_parts_and_never_splits_a_picture(
    tmp_path: Path,
) -> None:
    style = parse(book_html(a_book(tmp_path), embedded_pictures())).style
    printing = style[style.index("@media print") :]
    assert re.search(r"\.part\s*\{[^}]*break-before:\s*page", printing)
    assert re.search(r"figure[^{]*\{[^}]*break-inside:\s*avoid", printing)


def test_labels_follow_the_story_language_and_a_running_story_says_so(tmp_path: Path) -> None:
    page = parse(
        book_html(a_book(tmp_path, language=Language.RU, finished=False), embedded_pictures())
    )
    assert [t for t in page.text if t.startswith("Часть ")] == ["Часть 1", "Часть 2", "Часть 3"]
    assert "» выбрано: Go down" in page.text
    assert "История ещё продолжается…" in page.text
    assert "Конец" not in page.text


def test_pictures_as_links_from_the_same_page(tmp_path: Path) -> None:
    book = a_book(tmp_path)
    page = parse(book_html(book, linked_pictures(lambda p: f"/book/abc/pictures/{p.number}")))
    assert [img["src"] for img in page.images] == ["/book/abc/pictures/1", "/book/abc/pictures/3"]


def test_a_missing_or_broken_picture_is_left_out(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    book = a_book(tmp_path)
    parts = (
        BookPart(0, "One.", "on", DecidedBy.PRESS, str(broken)),
        BookPart(1, "Two.", None, None, str(tmp_path / "gone.png")),
    )
    page = parse(book_html(replace(book, parts=parts), embedded_pictures()))
    assert page.images == []
    assert "One." in page.text
    assert "Two." in page.text


def test_file_names_are_plain_ascii_from_the_title(tmp_path: Path) -> None:
    book = a_book(tmp_path)
    assert book_file_name(book) == "story-the-script-alert-x-script.html"
    russian = replace(book, title="Ключ от маяка")
    assert book_file_name(russian) == "story-klyuch-ot-mayaka.html"
    nothing = replace(book, title="!!!")
    assert book_file_name(nothing) == "story-abc123.html"
