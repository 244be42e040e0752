"""The own-action form in a real headless Chromium (issue 15): typed and sent with Enter,
the story goes on with it, the field is emptied."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests import test_web_browser
from tests.web_rig import WebFactory, make_web

__all__ = ["make_web"]  # fixtures
chromium = test_web_browser.chromium
ticking = test_web_browser.ticking


async def test_a_player_types_an_own_action_and_the_story_goes_on(
    make_web: WebFactory, chromium: Browser, ticking: None
) -> None:
    rig = await make_web()
    context = await chromium.new_context(locale="en-US")
    page = await context.new_page()
    await page.goto(rig.url + "/")
    await page.click("button[type=submit]")
    field = page.locator(".part form.own_action input[name=action]")
    await expect(field).to_be_visible(timeout=15_000)
    assert await field.get_attribute("maxlength") == "200"

    await field.fill("I ring the bell")
    await field.press("Enter")

    await expect(page.locator("#toast")).to_contain_text("Chosen: I ring the bell")
    await expect(page.locator(".part")).to_have_count(2)
    await expect(page.locator(".part").first).to_contain_text("I ring the bell")
    await expect(page.locator(".part").nth(1).locator("form.own_action input")).to_have_value("")
    assert page.url.startswith(rig.url + "/s/")  # sent over the socket, no page load
    await context.close()
