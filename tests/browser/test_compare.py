"""Compare in the browser: models side by side, a heatmap click, a GIF, and a sweep started from the page."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")

from PIL import Image  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402
from test_pages import LOAD_TIMEOUT, assert_no_exception, expect_loaded, image_by_caption, open_page, wait_idle  # noqa: E402

SWEEP_TIMEOUT = 240_000  # ms: two one-epoch runs on digits, each in a freshly spawned worker


def models_box(page: Page):
    return page.get_by_role("combobox", name=re.compile(r"^Models"))


def choose_models(page: Page, names: list[str]) -> None:
    """Empty the multiselect, then add `names` in order (the first is the sweep's base)."""
    select = page.locator('[data-testid="stMultiSelect"]')
    tags = select.locator("[data-tag]")
    select.get_by_role("button", name="Clear all").click()
    expect(tags).to_have_count(0)
    wait_idle(page)
    for i, name in enumerate(names, start=1):
        models_box(page).fill(name)
        page.get_by_role("option", name=re.compile(rf"^{re.escape(name)}\b")).first.click()
        expect(tags).to_have_count(i)
        page.keyboard.press("Escape")
        wait_idle(page)
    expect(tags).to_have_count(len(names))


def expect_score_rows(page: Page, n: int, timeout: float = LOAD_TIMEOUT) -> None:
    """The Scores table has `n` models (st.dataframe draws on a canvas; its aria grid lists the rows)."""
    rows = page.locator('[data-testid="stDataFrame"]').first.locator('[role="row"]')
    expect(rows).to_have_count(n + 1, timeout=timeout)  # and the header row


def test_compare_two_models_side_by_side(page: Page, app_url: str):
    open_page(page, app_url + "/Compare", r"Compare models")
    choose_models(page, ["sprites-beta4", "digits-10d"])
    assert_no_exception(page)
    expect(page.get_by_text("No disentanglement metrics for")).to_be_visible()  # digits has no factors
    expect_score_rows(page, 2)
    expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible()  # rate–distortion

    # The same eight inputs through both models (only same-shape models: the sprites one here).
    recon = page.locator('[data-testid="stImage"] img').first
    expect_loaded(recon)
    # A traversal grid per model, and the GIF of the sprites model's traversal.
    expect(page.get_by_text(re.compile(r"^sprites-beta4"), exact=False).first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Traversal GIF").first.click()
    gif = Image.open(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert gif.format == "GIF" and gif.n_frames > 2

    # Clicking a cell of the sprites model's mutual-information heatmap shows that dimension moving.
    heatmap = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="mutual information").first
    heatmap.scroll_into_view_if_needed()
    cell = heatmap.locator(".nsewdrag").first
    box = cell.bounding_box()
    cell.click(position={"x": box["width"] * 0.9, "y": box["height"] * 0.05})  # a corner cell
    wait_idle(page)
    traversal = image_by_caption(page, re.compile(r"^z\d+ moved from"))
    expect_loaded(traversal)
    assert_no_exception(page)


def test_a_beta_sweep_started_from_the_page_joins_the_comparison(page: Page, app_url: str):
    open_page(page, app_url + "/Compare", r"Compare models")
    choose_models(page, ["digits-10d", "sprites-beta4"])
    page.get_by_text("Sweep: train several settings").click()
    values = page.get_by_role("textbox", name=re.compile(r"values$"))
    values.fill("1, 4")
    values.press("Enter")
    epochs = page.get_by_role("spinbutton", name="Epochs")
    epochs.fill("1")
    epochs.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name=re.compile("Start the sweep")).click()
    # A progress line per run, then both runs join the models and the table.
    progress = page.locator('[data-testid="stCaptionContainer"]', has_text=re.compile(r"^sweep beta-vae β=4 seed 0"))
    expect(progress).to_have_count(1, timeout=LOAD_TIMEOUT)
    tags = page.locator('[data-testid="stMultiSelect"] [data-tag]')
    expect(tags).to_have_count(4, timeout=SWEEP_TIMEOUT)
    wait_idle(page, SWEEP_TIMEOUT)
    expect(tags.filter(has_text=re.compile(r"^★ sweep beta-vae β=4 seed 0"))).to_have_count(1)
    expect(tags.filter(has_text=re.compile(r"^★ sweep beta-vae β=1 seed 0"))).to_have_count(1)
    expect_score_rows(page, 4)
    assert_no_exception(page)
