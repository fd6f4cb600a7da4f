"""The Traverse page's live scrub decodes in the browser: the canvas follows the slider with no rerun."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")

from playwright.sync_api import Page, expect  # noqa: E402
from test_pages import LOAD_TIMEOUT, assert_no_exception, open_page  # noqa: E402


def test_live_scrub_redraws_the_canvas_in_the_page(page: Page, app_url: str):
    open_page(page, app_url + "/Traverse", "Traverse")
    page.get_by_role("tab", name=re.compile("Live scrub")).click()
    canvas = page.locator('[data-testid="live-canvas"]')
    expect(canvas).to_have_attribute("data-decode-ms", re.compile(r"\d"), timeout=LOAD_TIMEOUT)
    before = canvas.evaluate("c => c.toDataURL()")
    script_state = page.locator('[data-testid="stApp"]')
    slider = page.locator(".live-root input[type=range]").first
    page.evaluate("""() => {  // count script runs from here on
        window.__runs = 0;
        const app = document.querySelector('[data-testid="stApp"]');
        new MutationObserver(() => {
            if (app.getAttribute('data-test-script-state') === 'running') window.__runs += 1;
        }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    }""")
    slider.focus()
    for _ in range(60):
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value("0.6")
    assert canvas.evaluate("c => c.toDataURL()") != before  # the decoded image changed
    assert float(canvas.get_attribute("data-decode-ms")) < 50  # an MLP decode takes well under 1 ms
    page.wait_for_timeout(500)
    assert page.evaluate("window.__runs") == 0  # no round trip to the server at all
    expect(script_state).to_have_attribute("data-test-script-state", "notRunning")
    assert_no_exception(page)
