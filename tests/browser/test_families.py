"""Every page with a model of each family, the picker switched six times across pages, a shared link.

Screenshots of each page and family go to test-results/families/ (look at them)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")

from playwright.sync_api import Page, expect  # noqa: E402
from test_pages import LOAD_TIMEOUT, PAGES, assert_no_exception, model_box, open_page, wait_idle  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-results" / "families"
FAMILY_MODELS = {"gaussian": "mnist-conv-20d", "vq": "mnist-vq", "m2": "mnist-m2-100"}
MNIST = ROOT.parent / "shared" / "data" / "mnist"
# What each page shows for a family, besides its title (a view that does not apply says why).
EXPECTED = {
    ("/Traverse", "vq"): "applies to Gaussian VAE and semi-supervised M2 models",
    ("/Interpolate", "vq"): "applies to Gaussian VAE and semi-supervised M2 models",
    ("/Codebook", "vq"): "Codebook usage over the test set",
    ("/Codebook", "gaussian"): "applies to VQ-VAE models",
    ("/Classes", "m2"): "Style × class",
    ("/Classes", "vq"): "applies to semi-supervised M2 models",
    ("/Traverse", "m2"): "Class y (the sliders move the style z)",
    ("/Latent_Map", "vq"): "its whole grid of quantised vectors",
}


def _choose_model(page: Page, name: str) -> None:
    model_box(page).click()
    page.get_by_role("option", name=re.compile(rf"^★? ?{re.escape(name)}\b")).first.click()
    wait_idle(page)


@pytest.mark.skipif(not MNIST.is_dir(), reason="the MNIST models' pages need MNIST in ../shared/data")
@pytest.mark.parametrize("family", list(FAMILY_MODELS))
def test_every_page_works_for_each_family(page: Page, app_url: str, family: str):
    name = FAMILY_MODELS[family]
    if not (ROOT / "checkpoints" / name).is_dir():
        pytest.fail(f"the shipped checkpoint {name} is missing")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for path, title in PAGES.items():
        open_page(page, f"{app_url}{path}?model={name}", title)
        expect(model_box(page)).to_have_value(re.compile(rf"^{re.escape(name)}\b"))
        page.wait_for_timeout(500)  # a late exception would render after the run finishes
        wait_idle(page)
        assert_no_exception(page)
        text = EXPECTED.get((path, family))
        if text:
            expect(page.get_by_text(text).first).to_be_visible(timeout=LOAD_TIMEOUT)
        page.screenshot(path=str(SHOTS / f"{family}{path.replace('/', '_') or '_home'}.png"), full_page=True)


def test_every_change_of_the_picker_sticks_on_every_page(page: Page, app_url: str):
    switches = [("/Traverse", "digits-10d"), ("/Latent_Map", "digits-2d"), ("/", "sprites-beta4"),
                ("/Interpolate", "digits-10d"), ("/Train", "digits-2d"), ("/Your_Input", "digits-10d")]
    for path, name in switches:
        open_page(page, app_url + path, PAGES[path])
        _choose_model(page, name)
        page.wait_for_timeout(1500)  # the picker used to snap back about a second after a change
        wait_idle(page)
        expect(model_box(page)).to_have_value(re.compile(rf"^{re.escape(name)}\b"))
        assert f"model={name}" in page.url
        assert_no_exception(page)
        # the choice carries to the next page through the sidebar's navigation
        page.locator('[data-testid="stSidebarNav"] span[label="Home"]').click()
        wait_idle(page)
        expect(model_box(page)).to_have_value(re.compile(rf"^{re.escape(name)}\b"))


def test_a_copied_link_opens_the_same_model_page_and_view(page: Page, app_url: str, browser):
    open_page(page, app_url + "/Traverse?model=digits-10d", PAGES["/Traverse"])
    page.get_by_role("tab", name=re.compile("^Sliders")).click()  # the sliders whose values the link keeps
    wait_idle(page)
    slider = page.get_by_role("slider", name=re.compile(r"^z\d+\b")).first
    slider.focus()
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    wait_idle(page)

    def linked_z() -> list[float]:  # the slider's callback writes ?z= once the rerun ends
        z = parse_qs(urlparse(page.url).query).get("z", [""])[0]
        return [float(v) for v in z.split(",") if v]

    seen = []
    for _ in range(100):  # until the link holds a moved dimension and stays the same for 0.5 s
        seen = [*seen[-4:], linked_z()]
        if len(seen) == 5 and all(z == seen[0] for z in seen) and any(seen[0]):
            break
        page.wait_for_timeout(100)
    z = linked_z()
    assert any(z), page.url
    dim = next(i for i, v in enumerate(z) if v)
    link = page.url

    other = browser.new_context(viewport={"width": 1400, "height": 2000}).new_page()  # another student
    open_page(other, link, PAGES["/Traverse"])
    expect(model_box(other)).to_have_value(re.compile(r"^digits-10d\b"), timeout=LOAD_TIMEOUT)
    expect(other.get_by_role("tab", name=re.compile("^Sliders"))).to_have_attribute("aria-selected", "true")
    moved = other.get_by_role("slider", name=re.compile(rf"^z{dim}\b"))
    expect(moved).to_have_value(re.compile(r"^-?[\d.]+$"))
    assert float(moved.input_value()) == pytest.approx(z[dim])
    assert_no_exception(other)
