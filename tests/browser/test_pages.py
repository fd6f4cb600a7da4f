"""What a user does in the browser: load a model, train, pick points, move sliders, download a GIF."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")

from PIL import Image  # noqa: E402
from playwright.sync_api import Page, WebSocket, expect  # noqa: E402

LOAD_TIMEOUT = 60_000  # ms: the first run of a page imports torch and loads the checkpoint and dataset
ROOT = Path(__file__).resolve().parents[2]
# URL path -> what its <h1> says; pages added later are found in pages/ and need only some <h1>.
PAGES = {
    "/": r"Latent Explorer",
    "/Train": r"Train",
    "/Latent_Map": r"Latent map",
    "/Traverse": r"Traverse",
    "/Interpolate": r"Interpolate",
}
for _file in sorted((ROOT / "pages").glob("*.py")):
    if _file.stem != "0_Home":  # the home page is served at "/"
        PAGES.setdefault("/" + re.sub(r"^\d+_", "", _file.stem), r".")


# --- helpers ---------------------------------------------------------------------------------


def wait_idle(page: Page, timeout: float = LOAD_TIMEOUT) -> None:
    """Until the app is connected and no script (or fragment) run is in progress."""
    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)


def open_page(page: Page, url: str, title: str) -> None:
    page.goto(url)
    expect(page.locator("h1").filter(has_text=re.compile(title, re.I)).first).to_be_visible(timeout=LOAD_TIMEOUT)
    wait_idle(page)


def assert_no_exception(page: Page) -> None:
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)


def image_by_caption(page: Page, caption: str | re.Pattern):
    """The <img> of the st.image whose caption contains `caption`."""
    caption_el = page.locator('[data-testid="stImageCaption"]', has_text=caption)
    return page.locator('[data-testid="stImage"]').filter(has=caption_el).locator("img").first


def expect_loaded(img) -> None:
    expect(img).to_have_attribute("src", re.compile(r"\S"), timeout=LOAD_TIMEOUT)
    img.evaluate("el => el.decode()")  # resolves once the image data has loaded and decoded
    assert img.evaluate("el => el.complete && el.naturalWidth > 0")


def model_box(page: Page):
    return page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Model")


# --- tests -----------------------------------------------------------------------------------


def test_home_shows_the_loaded_model(page: Page, app_url: str):
    open_page(page, app_url + "/", PAGES["/"])
    expect(model_box(page)).to_have_value(re.compile(r"^digits-2d\b"))
    for heading in ("Reconstructions", "Samples from the prior"):
        column = page.locator('[data-testid="stColumn"]').filter(
            has=page.get_by_role("heading", name=heading, exact=True)
        )
        expect(column).to_have_count(1)
        expect_loaded(column.locator('[data-testid="stImage"] img').first)
    assert_no_exception(page)


def test_a_short_training_run_can_be_stopped_and_becomes_the_current_model(page: Page, app_url: str):
    open_page(page, app_url + "/Train", PAGES["/Train"])
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("2000")  # long enough to be still running when we press Stop
    epochs.press("Enter")
    expect(epochs).to_have_value("2000")
    wait_idle(page)

    page.get_by_role("button", name=re.compile(r"Start training")).click()
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    curves = page.locator('.st-key-train_curves svg.panel').first  # the live curves, drawn in the page
    expect(curves).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(curves).to_have_attribute("aria-label", re.compile(r"^−ELBO: last \d"), timeout=LOAD_TIMEOUT)
    expect(curves.locator("polyline.train")).to_be_attached()
    # Wait for a whole epoch so that the stopped run reports one.
    expect(page.locator('[data-testid="stMetric"]', has_text="Epoch").first).to_contain_text(
        re.compile(r"[1-9]\d* / 2000"), timeout=LOAD_TIMEOUT
    )

    page.locator('[data-testid="stMain"]').get_by_role("button", name=re.compile(r"\bStop\b")).click()
    expect(page.get_by_text(re.compile(r"Stopped after \d+ epoch"))).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator('[data-testid="stProgress"]')).to_have_count(0)
    expect(model_box(page)).to_have_value(re.compile(r"^★ digits · gaussian"), timeout=LOAD_TIMEOUT)
    wait_idle(page)
    assert_no_exception(page)


def _map_chart(page: Page):
    chart = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    expect(chart).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(chart.locator(".nsewdrag").first).to_be_attached()
    return chart


def _expect_reconstruction(page: Page) -> None:
    expect(page.get_by_role("heading", name=re.compile(r"^Test image #\d+"))).to_be_visible(timeout=LOAD_TIMEOUT)
    expect_loaded(image_by_caption(page, "reconstruction"))
    assert_no_exception(page)


def test_clicking_a_point_on_the_latent_map_shows_its_reconstruction(page: Page, app_url: str):
    open_page(page, app_url + "/Latent_Map", PAGES["/Latent_Map"])
    chart = _map_chart(page)
    # Page coordinates of the first point of the first trace, from Plotly's own axis mapping.
    x, y = chart.evaluate(
        """gd => {
            const L = gd._fullLayout, t = gd._fullData[0];
            const box = gd.getBoundingClientRect();
            return [box.left + L._size.l + L.xaxis.d2p(t.x[0]), box.top + L._size.t + L.yaxis.d2p(t.y[0])];
        }"""
    )
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    _expect_reconstruction(page)


def test_box_selecting_points_on_the_latent_map_shows_a_reconstruction(page: Page, app_url: str):
    open_page(page, app_url + "/Latent_Map", PAGES["/Latent_Map"])
    chart = _map_chart(page)
    chart.hover()
    chart.locator('.modebar-btn[data-title="Box Select"]').click()
    box = chart.locator(".nsewdrag").first.bounding_box()
    assert box is not None
    # The middle third of the plot: a 2D latent packs most test images around the origin.
    x0, y0 = box["x"] + box["width"] / 3, box["y"] + box["height"] / 3
    x1, y1 = box["x"] + 2 * box["width"] / 3, box["y"] + 2 * box["height"] / 3
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()
    _expect_reconstruction(page)


class ServerMessages:
    """Decoded ForwardMsgs the server sends over the app's websocket."""

    def __init__(self, page: Page) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._parse = ForwardMsg.FromString
        self.raw: list[bytes] = []
        page.on("websocket", self._attach)

    def _attach(self, ws: WebSocket) -> None:
        if "_stcore/stream" in ws.url:
            ws.on("framereceived", lambda payload: self.raw.append(payload) if isinstance(payload, bytes) else None)

    def since(self, mark: int) -> list:
        return [self._parse(b) for b in self.raw[mark:]]


def _runs(messages) -> dict[str, tuple[str, ...]]:
    """script_run_id -> the fragment ids that run executed (empty for a full run of the page)."""
    runs = {}
    for m in messages:
        run = m.metadata.run
        if run.script_run_id:
            runs[run.script_run_id] = tuple(run.fragment_ids)
    return runs


def test_a_traverse_slider_changes_the_image_and_reruns_only_its_fragment(page: Page, app_url: str):
    server = ServerMessages(page)  # before goto, so the websocket is seen
    open_page(page, app_url + "/Traverse", PAGES["/Traverse"])
    expect(page.get_by_role("tab", name=re.compile("Live scrub"))).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name=re.compile("^Sliders")).click()  # the server-side sliders (a rerun builds them)
    wait_idle(page)
    decoded = image_by_caption(page, "decoder(z)")
    grid = image_by_caption(page, "Each row moves one dimension")
    kl_chart = page.locator('.st-key-kl_bars svg').first
    expect_loaded(decoded)
    expect_loaded(grid)
    before, grid_src = decoded.get_attribute("src"), grid.get_attribute("src")
    # Tag the DOM nodes outside the fragment: a full rerun that rebuilt them would drop the tags.
    grid.evaluate("el => { el.__keep = 'grid'; }")
    kl_chart.evaluate("el => { el.__keep = 'kl'; }")

    slider = page.get_by_role("slider", name=re.compile(r"^z0\b"))
    start_value = float(slider.input_value())
    mark = len(server.raw)
    slider.focus()
    for _ in range(3):
        slider.press("ArrowRight")
    expect(decoded).not_to_have_attribute("src", before, timeout=LOAD_TIMEOUT)
    page.wait_for_timeout(300)  # let any trailing run start
    wait_idle(page)
    assert float(slider.input_value()) == pytest.approx(start_value + 3 * 0.05)
    expect_loaded(decoded)

    runs = _runs(server.since(mark))
    assert runs, "moving the slider caused no script run"
    assert all(fragments for fragments in runs.values()), f"a full page run happened: {runs}"
    messages = server.since(mark)
    deltas = [m for m in messages if m.HasField("delta")]
    assert deltas and all(m.delta.fragment_id for m in deltas), "elements outside the fragment were re-sent"
    assert grid.evaluate("el => el.__keep") == "grid" and grid.get_attribute("src") == grid_src
    assert kl_chart.evaluate("el => el.__keep") == "kl"

    # Control: a widget outside the fragment does rerun the whole page, and the check above sees it.
    mark = len(server.raw)
    outside = page.get_by_role("slider", name="Values per dimension")
    outside.focus()
    outside.press("ArrowLeft")
    expect(grid).not_to_have_attribute("src", grid_src, timeout=LOAD_TIMEOUT)
    wait_idle(page)
    assert any(not fragments for fragments in _runs(server.since(mark)).values())
    assert_no_exception(page)


def test_an_interpolation_downloads_as_an_animated_gif(page: Page, app_url: str, tmp_path):
    open_page(page, app_url + "/Interpolate", PAGES["/Interpolate"])
    button = page.get_by_role("button", name=re.compile(r"Animation \(GIF\)"))
    expect(button).to_be_enabled(timeout=LOAD_TIMEOUT)  # drawn after the strip, late on a loaded machine
    with page.expect_download(timeout=LOAD_TIMEOUT) as info:
        button.click()
    download = info.value
    assert download.suggested_filename.endswith(".gif")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    with Image.open(io.BytesIO(target.read_bytes())) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames > 1
    assert_no_exception(page)


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_without_exception(page: Page, app_url: str, path: str):
    open_page(page, app_url + path, PAGES[path])
    page.wait_for_timeout(500)  # a late exception would render after the run finishes
    wait_idle(page)
    assert_no_exception(page)
