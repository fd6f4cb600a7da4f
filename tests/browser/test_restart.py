"""A model trained in the browser is still there after a refresh and after a server restart."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")

import _common  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402
from test_pages import LOAD_TIMEOUT, assert_no_exception, model_box, open_page, wait_idle  # noqa: E402


def test_a_trained_model_survives_a_refresh_and_a_server_restart(page: Page, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))  # this test's own runs folder
    with _common.streamlit_server(timeout=90) as server:
        open_page(page, server.url + "/Train", "Train")
        epochs = page.get_by_label("Epochs", exact=True)
        epochs.fill("1")
        epochs.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name=re.compile(r"Start training")).click()
        expect(page.get_by_text(re.compile(r"Finished 1 epochs"))).to_be_visible(timeout=120_000)
        expect(model_box(page)).to_have_value(re.compile(r"^★ digits · gaussian"), timeout=LOAD_TIMEOUT)
        wait_idle(page)
        expect(page).to_have_url(re.compile(r"model=run%3A|model=run:"))
        link = urlsplit(page.url)
        label = model_box(page).input_value()

        page.reload()
        wait_idle(page)
        expect(model_box(page)).to_have_value(label, timeout=LOAD_TIMEOUT)
        assert_no_exception(page)

    with _common.streamlit_server(timeout=90) as restarted:
        open_page(page, f"{restarted.url}{link.path}?{link.query}", "Train")
        expect(model_box(page)).to_have_value(label, timeout=LOAD_TIMEOUT)
        page.get_by_role("tab", name="History of the loaded model").click()
        expect(page.get_by_text(re.compile(r": 1 epochs, status done"))).to_be_visible(timeout=LOAD_TIMEOUT)
        assert_no_exception(page)
    assert any((tmp_path / "runs").iterdir())
