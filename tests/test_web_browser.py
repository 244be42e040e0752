"""The story page in a real headless Chromium (Playwright driving the system's browser):
what a newcomer sees, two browsers voting, markup in narration shown as text."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import FakeClock
from tests.test_web import XSS
from tests.web_rig import WebFactory, make_web

__all__ = ["make_web"]  # fixtures

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install it (Debian: `apt-get install chromium`; "
            "`make test` does so when run as root) or set CHROMIUM to its path"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def ticking(clock: FakeClock) -> AsyncIterator[None]:
    """The fake clock moving on its own at about real speed, for a browser that waits
    (faster would run out the narrator's token timeouts while the browser works)."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.02)
            await clock.advance(0.02)

    task = asyncio.create_task(tick())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def pdf_text(path: Path) -> str | None:
    """The PDF's text (pdftotext from poppler-utils, which `make test` installs as root);
    None without it."""
    tool = shutil.which("pdftotext")
    if tool is None:
        return None
    done = subprocess.run([tool, "-layout", str(path), "-"], capture_output=True, check=True)
    return " ".join(done.stdout.decode().split())


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


async def narration_length(page: Page) -> int:
    narration = page.locator(".narration").first
    return len(await narration.inner_text()) if await narration.count() else 0


async def grows(page: Page, longer_than: int) -> int:
    """Until the first part's narration is longer than `longer_than`; its length then."""
    for _ in range(500):
        length = await narration_length(page)
        if length > longer_than:
            return length
        await asyncio.sleep(0.02)
    raise AssertionError(f"the narration stopped at {longer_than} characters")


async def test_a_newcomer_plays_a_story_with_its_picture(
    make_web: WebFactory,
    chromium: Browser,
    fake_ollama: FakeOllama,
    fake_comfy: FakeComfyUI,
    ticking: None,
    tmp_path: Path,
) -> None:
    narration = "The lighthouse keeper climbs the winding stairs. " * 16
    choices = ["Open the sea door", "Light the lamp"]
    fake_ollama.then(Reply.segment(narration, choices, chunk_delay=0.08))  # about 4 s
    rig = await make_web(comfy=fake_comfy)
    context = await chromium.new_context(locale="en-US", viewport={"width": 800, "height": 900})
    page = await context.new_page()
    await page.goto(rig.url + "/")
    await page.fill("textarea[name=premise]", "A lighthouse keeper finds a door in the sea")
    await page.click("button[type=submit]")
    await expect(page.locator(".part")).to_have_count(1)
    first = await grows(page, 0)
    second = await grows(page, first)  # the narration grows in place
    assert await page.locator("button.choice").count() == 0  # still being written

    await page.reload()  # mid-stream: the story is where it was
    assert await narration_length(page) >= second
    buttons = page.locator(".part button.choice")
    await expect(buttons).to_have_count(2, timeout=15_000)
    picture = page.locator(".part").first.locator("figure.picture img")
    await expect(picture).to_be_visible()
    assert await picture.get_attribute("loading") == "lazy"
    await page.screenshot(path=tmp_path / "web-story.png", full_page=True)
    DOCS.mkdir(exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=DOCS / "web-story.png")

    await buttons.first.click()
    await expect(page.locator("#toast")).to_contain_text("Chosen: Open the sea door")
    await expect(page.locator(".part")).to_have_count(2)
    await expect(page.locator(".part").first).to_contain_text("Open the sea door")
    await expect(page.locator(".part").nth(1)).to_contain_text("Part 1.")
    await expect(page.locator(".part").nth(1).locator("button.choice")).to_have_count(3)
    await expect(page.locator(".part").nth(1).locator("figure.picture img")).to_be_visible()

    await page.click(".book-link a")  # the story as a book: both parts, both pictures
    await expect(page.locator("h1")).to_have_text("A lighthouse keeper finds a door in the sea")
    await expect(page.locator("section.part")).to_have_count(2)
    await expect(page.locator("section.part img")).to_have_count(2)
    await expect(page.locator(".chosen")).to_contain_text("Open the sea door")
    await page.evaluate("document.fonts.ready")
    await page.screenshot(path=tmp_path / "web-book.png", full_page=True)
    await page.screenshot(path=DOCS / "web-book.png")
    pdf = await page.pdf(format="A5", print_background=True)
    (tmp_path / "book.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 10_000
    assert pdf_pages(pdf) >= 3  # the cover, then each part from a new page
    printed = pdf_text(tmp_path / "book.pdf")
    if printed is not None:
        assert "A lighthouse keeper finds a door in the sea" in printed
        squeezed = "".join(printed.split()).lower()  # letter-spaced capitals in print
        assert "part1" in squeezed
        assert "part2" in squeezed
        assert "Open the sea door" in printed
        assert "Download" not in printed  # the print stylesheet leaves the tools out
    await context.close()


async def test_two_browsers_vote_on_one_story(
    make_web: WebFactory, chromium: Browser, ticking: None
) -> None:
    rig = await make_web()
    pages: list[Page] = []
    for _ in range(2):
        context = await chromium.new_context(locale="en-US")
        pages.append(await context.new_page())
    alice, bob = pages
    await alice.goto(rig.url + "/")
    await alice.check("input[name=together]")
    await alice.click("button[type=submit]")
    await expect(alice.locator("button.choice")).to_have_count(3)
    await bob.goto(alice.url)
    await expect(bob.locator("button.choice")).to_have_count(3)
    await alice.locator("button.choice").first.click()
    await bob.locator("button.choice").first.click()
    for page in pages:
        await expect(page.locator("button.choice").first).to_contain_text("· 2")
    for page in pages:
        await page.context.close()


async def test_markup_in_narration_shows_as_text(
    make_web: WebFactory, chromium: Browser, fake_ollama: FakeOllama, ticking: None
) -> None:
    fake_ollama.then(Reply.segment(XSS, ["<b>bold</b>", "javascript:alert(4)"]))
    rig = await make_web()
    context = await chromium.new_context(locale="en-US")
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(rig.url + "/")
    await page.click("button[type=submit]")
    narration = page.locator(".narration").first
    await expect(narration).to_contain_text("<script>alert(1)</script>")
    await expect(page.locator("button.choice").first).to_have_text("<b>bold</b>")
    assert await page.locator("main img, main a, main script, main b").count() == 0
    await page.reload()
    await expect(narration).to_contain_text('<img src=x onerror="alert(2)">')
    await page.locator("button.choice").first.click()
    await expect(page.locator(".part")).to_have_count(2)
    await page.click(".book-link a")
    book = page.locator("section.part").first
    await expect(book).to_contain_text("<script>alert(1)</script>")
    await expect(book.locator(".chosen")).to_contain_text("<b>bold</b>")
    assert await page.locator("body img, body a[href^=javascript], script, b").count() == 0
    assert dialogs == []
    await context.close()
