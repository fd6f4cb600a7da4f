"""The teaching views in the browser: one input taken apart, a run watched epoch by epoch, collapse named."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")

from playwright.sync_api import Page, expect  # noqa: E402
from test_pages import assert_no_exception, expect_loaded, image_by_caption, open_page, wait_idle  # noqa: E402

TRAIN_TIMEOUT = 180_000  # ms: a 10-epoch digits run in a freshly spawned worker


def test_resampling_eps_moves_z_and_changes_the_decode(page: Page, app_url: str):
    open_page(page, app_url + "/Your_Input?model=digits-10d", r"Anatomy of one input")
    page.get_by_role("button", name="Use this one").click()
    wait_idle(page)
    first = image_by_caption(page, re.compile(r"decoded from this z \(draw 1\)"))
    expect_loaded(first)
    src = first.get_attribute("src")
    expect(page.get_by_text(re.compile(r"^−log p\(x\) ≤ \(IWAE, k = 64\)"))).to_be_visible()
    page.get_by_role("button", name="Resample ε").click()
    second = image_by_caption(page, re.compile(r"decoded from this z \(draw 2\)"))
    expect_loaded(second)
    assert second.get_attribute("src") != src
    assert_no_exception(page)


def test_a_beta_8_run_is_watched_epoch_by_epoch_and_its_collapse_is_named(page: Page, app_url: str):
    open_page(page, app_url + "/Train", r"Train")
    for label, value in (("Latent dimensions", 10), ("Epochs", 10), ("β (KL weight)", 8)):
        box = page.get_by_role("spinbutton", name=label, exact=True)
        box.fill(str(value))
        box.press("Enter")
        wait_idle(page)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"^Finished 10 epochs"))).to_be_visible(timeout=TRAIN_TIMEOUT)
    expect(page.get_by_text(re.compile(r"^Epoch by epoch \(10 so far\)"))).to_be_visible()
    expect(page.get_by_text("Where the KL goes (test subset)", exact=False).first).to_be_visible()
    alert = page.locator('[data-testid="stAlertContentWarning"]', has_text="Posterior collapse")
    expect(alert.first).to_be_visible()
    page.get_by_role("button", name=re.compile("Retrain with a remedy")).first.click()
    page.get_by_role("button", name=re.compile(r"^free bits")).click()  # one click: a new run with the remedy
    # when it ends, the run with the remedy becomes the current model, and its code is no longer collapsed
    expect(page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Model")).to_have_value(
        re.compile(r"free_bits"), timeout=TRAIN_TIMEOUT)
    wait_idle(page)
    expect(page.locator('[data-testid="stAlertContentWarning"]', has_text="Posterior collapse")).to_have_count(0)
    assert_no_exception(page)
