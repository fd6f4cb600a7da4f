"""The user's own files in the browser: a zip to train on, a photo to encode, a broken file, MNIST."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")

from PIL import Image, ImageDraw  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402
from test_pages import (  # noqa: E402  (a sibling module: pytest puts this folder on sys.path)
    LOAD_TIMEOUT,
    assert_no_exception,
    expect_loaded,
    image_by_caption,
    open_page,
    wait_idle,
)

MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def _png(draw_shape: str, i: int, paper: bool = False) -> bytes:
    img = Image.new("L", (40, 40), 255 if paper else 0)
    ink = 0 if paper else 255
    d = ImageDraw.Draw(img)
    box = (8 + i % 5, 8 + i % 3, 30 + i % 4, 32)
    (d.ellipse if draw_shape == "circle" else d.rectangle)(box, outline=ink, width=4)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _choose(page: Page, label: str, option: str | re.Pattern) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).first.click()
    wait_idle(page)


def _set_number(page: Page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    expect(box).to_have_value(str(value))
    wait_idle(page)


def _start_and_finish(page: Page, epochs: int) -> None:
    page.get_by_role("button", name=re.compile(r"Start training")).click()
    expect(page.get_by_text(re.compile(rf"Finished {epochs} epochs"))).to_be_visible(timeout=120_000)
    expect(page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Model")).to_have_value(
        re.compile(r"^★ "), timeout=LOAD_TIMEOUT)
    wait_idle(page)
    assert_no_exception(page)


def test_training_on_an_uploaded_zip_reports_what_it_skipped(page: Page, app_url: str, tmp_path):
    archive = tmp_path / "shapes.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(12):
            zf.writestr(f"shapes/circles/c{i}.png", _png("circle", i))
            zf.writestr(f"shapes/squares/s{i}.png", _png("square", i))
        zf.writestr("shapes/squares/broken.png", _png("square", 0)[:60])  # truncated
    open_page(page, app_url + "/Train", "Train")
    _choose(page, "Dataset", re.compile(r"^your images"))
    page.locator('[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(archive))
    wait_idle(page)
    page.get_by_role("button", name=re.compile("Use these images")).click()
    expect(page.get_by_text(re.compile(r"24 images of 1×28×28, 2 label\(s\): circles, squares"))).to_be_visible(
        timeout=LOAD_TIMEOUT)
    expect(page.get_by_text("1 file(s) skipped")).to_be_visible()
    _set_number(page, "Epochs", 2)
    _start_and_finish(page, 2)


@pytest.mark.skipif(not MNIST.is_dir(), reason="MNIST is not in ../shared/data")
def test_training_on_mnist_from_the_page(page: Page, app_url: str):
    open_page(page, app_url + "/Train", "Train")
    _choose(page, "Dataset", re.compile(r"^mnist"))
    _set_number(page, "Images to use (0 = all 70,000)", 3500)
    _set_number(page, "Epochs", 1)
    _start_and_finish(page, 1)


def _upload_tab(page: Page, app_url: str):
    open_page(page, app_url + "/Your_Input", "Anatomy of one input")
    page.get_by_role("tab", name="Upload an image").click()


def test_an_uploaded_photo_is_encoded_and_placed_on_the_map(page: Page, app_url: str, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(_png("circle", 1, paper=True))  # dark ink on light paper: inverted automatically
    _upload_tab(page, app_url)
    page.locator('[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]').last.set_input_files(str(photo))
    wait_idle(page)
    page.get_by_role("button", name=re.compile("Encode the image")).click()
    wait_idle(page)
    expect_loaded(image_by_caption(page, "reconstruction"))
    expect(page.get_by_text(re.compile(r"Higher than \d+% of the test images"))).to_be_visible()
    expect(page.get_by_role("heading", name="Where it lands on the latent map")).to_be_visible()
    assert_no_exception(page)


def test_a_broken_photo_gets_a_clear_message_and_changes_nothing(page: Page, app_url: str, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(_png("circle", 1)[:70])
    _upload_tab(page, app_url)
    page.locator('[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]').last.set_input_files(str(broken))
    wait_idle(page)
    page.get_by_role("button", name=re.compile("Encode the image")).click()
    wait_idle(page)
    expect(page.get_by_text(re.compile(r"Not encoded \(nothing else changed\): broken\.png"))).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_training_on_an_uploaded_dsprites_file(page: Page, app_url: str, tmp_path):
    import numpy as np

    from vae_core.data.sprites import render_sprites, sample_sprite_classes, sprite_factor_values

    classes = sample_sprite_classes(1200, seed=1)  # a dSprites-format file: same keys, shapes, dtypes
    full = np.concatenate([np.zeros((len(classes), 1), np.int64), classes], axis=1)
    values = np.concatenate([np.ones((len(classes), 1)), sprite_factor_values(classes)], axis=1)
    npz = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    np.savez_compressed(npz, imgs=render_sprites(classes), latents_values=values, latents_classes=full)
    open_page(page, app_url + "/Train", "Train")
    _choose(page, "Dataset", re.compile(r"^dsprites"))
    _set_number(page, "Images to use", 1000)
    page.locator('[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(npz))
    expect(page.get_by_text(re.compile(r"1,000 dSprites images with factors shape, scale"))).to_be_visible(
        timeout=LOAD_TIMEOUT)
    _set_number(page, "Epochs", 1)
    _start_and_finish(page, 1)


def test_a_checkpoint_uploaded_as_its_weights_file_alone_becomes_the_current_model(page: Page, app_url: str,
                                                                                   tmp_path: Path):
    import vae_core as vc

    shipped = vc.load_checkpoint(Path(__file__).resolve().parents[2] / "checkpoints" / "digits-2d")
    vc.save_checkpoint(tmp_path / "ck", shipped.model, shipped.metadata)  # format 3: the config inside
    open_page(page, app_url + "/Traverse", "Traverse")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stExpander"] summary').first.click()
    uploads = sidebar.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploads.nth(0).set_input_files(files=[{"name": "empty.safetensors", "mimeType": "application/octet-stream",
                                            "buffer": b""}])
    expect(sidebar.get_by_text("empty.safetensors")).to_be_visible(timeout=LOAD_TIMEOUT)
    wait_idle(page)
    sidebar.get_by_role("button", name="Load uploaded model").click()
    expect(sidebar.get_by_text("the weights file is empty (0 bytes)")).to_be_visible(timeout=LOAD_TIMEOUT)
    uploads.nth(0).set_input_files(str(tmp_path / "ck" / "model.safetensors"))
    expect(sidebar.get_by_text("model.safetensors", exact=True)).to_be_visible(timeout=LOAD_TIMEOUT)
    wait_idle(page)
    sidebar.get_by_role("button", name="Load uploaded model").click()
    expect(sidebar.get_by_role("combobox", name="Model")).to_have_value(re.compile(r"^★ uploaded: model\.safetensors"),
                                                                         timeout=LOAD_TIMEOUT)
    wait_idle(page)
    assert_no_exception(page)
