import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

import vae_core as vc
from vae_core.data import user_images as ui
from vae_core.train import main


def _enc(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _img(value=200, size=(40, 30), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(value)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB").convert(mode)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, followed by a tiny (wrong) IDAT."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(
        b"IEND", b"")


def _zip(files: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _reasons(skipped):
    return {s.name: s.reason for s in skipped}


GOOD = {
    "a.png": _enc(_img(1)),
    "b.jpg": _enc(_img(2), "JPEG"),
    "c.bmp": _enc(_img(3)),
    "d.gif": _enc(_img(4), "GIF"),
    "e.webp": _enc(_img(5), "WEBP"),
}


# --- datasets from uploads and zips -----------------------------------------------------------


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("mode, channels", [("L", 1), ("RGB", 3)])
def test_allowed_formats_become_a_dataset_of_the_asked_shape(size, mode, channels):
    data, skipped = vc.load_user_images(list(GOOD.items()), size=size, mode=mode)
    assert skipped == []
    assert data.name == "images" and data.images.shape == (5, channels, size, size)
    assert data.images.dtype == torch.float32 and data.images.min() >= 0.0 and data.images.max() <= 1.0
    assert data.label_names == ("unlabelled",) and data.labels.tolist() == [0] * 5
    assert len(data.train_index) == 3 and len(data.test_index) == 2  # at least two test images
    assert data.params == {"source": "upload"}


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_colour_images_train_with_both_architectures(arch):
    data, _ = vc.load_user_images(list(GOOD.items()) * 4, size=28, mode="RGB")
    torch.manual_seed(0)
    model = vc.VAE(vc.ModelConfig(image_shape=data.image_shape, latent_dim=2, arch=arch, hidden=16))
    result = vc.fit(model, data.train_images, vc.TrainConfig(epochs=1, batch_size=8))
    assert result.error is None
    assert model.decode(torch.zeros(1, 2)).shape == (1, 3, 28, 28)


def test_zip_folders_become_sorted_labels():
    blob = _zip({
        "photos/": b"",
        "photos/dogs/1.png": GOOD["a.png"],
        "photos/cats/1.jpg": GOOD["b.jpg"],
        "photos/cats/2.bmp": GOOD["c.bmp"],
        "photos/loose.gif": GOOD["d.gif"],
    })
    data, skipped = vc.load_user_images(blob, size=32)
    assert skipped == []
    assert data.label_names == ("cats", "dogs", "unlabelled")
    assert data.labels.tolist() == [1, 0, 0, 2]  # zip order: dogs, cats, cats, loose


def test_one_folder_names_the_label_and_root_files_are_unlabelled():
    data, _ = vc.load_user_images(_zip({"shoes/a.png": GOOD["a.png"], "shoes/b.png": GOOD["c.bmp"]}))
    assert data.label_names == ("shoes",)
    data, _ = vc.load_user_images(_zip({"a.png": GOOD["a.png"], "b.png": GOOD["c.bmp"]}))
    assert data.label_names == ("unlabelled",)


def test_member_names_are_labels_only_never_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blob = _zip({"../../evil/a.png": GOOD["a.png"], "/abs/b.png": GOOD["c.bmp"], "C:\\x\\c.png": GOOD["a.png"]})
    data, skipped = vc.load_user_images(blob)
    assert len(data) == 3 and skipped == []
    assert set(data.label_names) == {"evil", "abs", "x"}
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere


def test_a_single_uploaded_zip_is_read_as_a_zip():
    data, _ = vc.load_user_images([("set.zip", _zip({"x/a.png": GOOD["a.png"], "y/b.png": GOOD["c.bmp"]}))])
    assert data.label_names == ("x", "y")


def test_the_format_is_judged_by_content_not_by_name():
    files = [
        ("really_a_png.gif", GOOD["a.png"]),
        ("tiff.png", _enc(_img(6), "TIFF")),
        ("notes.jpg", b"these are not pixels"),
        ("icon.png", _enc(_img(7, (32, 32)), "ICO")),
        ("ok.bmp", GOOD["c.bmp"]),
    ]
    data, skipped = vc.load_user_images(files)
    assert len(data) == 2
    assert _reasons(skipped) == {
        "tiff.png": "a TIFF image, which is not accepted: save it as PNG",
        "notes.jpg": "not a PNG, JPEG, BMP, GIF or WebP image",
        "icon.png": "not a PNG, JPEG, BMP, GIF or WebP image",
    }


def test_pixel_cap_is_checked_from_the_header_before_decoding(monkeypatch):
    # Headers claiming 8000x6000 and 100000x100000 with a 10-byte IDAT: the cap trips first,
    # so the message is about the size, not about the (bogus) data.
    files = [("big.png", _png_header_only(8000, 6000)), ("huge.png", _png_header_only(100_000, 100_000)),
             ("a.png", GOOD["a.png"]), ("b.png", GOOD["c.bmp"])]
    _, skipped = vc.load_user_images(files)
    reasons = _reasons(skipped)
    assert reasons["big.png"] == "8000x6000 is over the limit of 40,000,000 pixels"
    assert reasons["huge.png"] == "over the limit of 40,000,000 pixels"
    monkeypatch.setattr(ui, "MAX_PIXELS", 1000)
    with pytest.raises(vc.DatasetError, match="40x30 is over the limit of 1,000 pixels"):
        vc.load_user_images(files[2:])


def test_extreme_aspect_ratios_are_rejected():
    files = [("thin.png", _enc(Image.new("L", (210, 10)))), ("ok.png", _enc(Image.new("L", (200, 10)))),
             ("tall.png", _enc(Image.new("L", (2, 50)))), ("a.png", GOOD["a.png"])]
    data, skipped = vc.load_user_images(files)
    assert len(data) == 2  # 200x10 is exactly 20:1, still allowed
    assert _reasons(skipped) == {"thin.png": "210x10 has an aspect ratio over 20:1",
                                 "tall.png": "2x50 has an aspect ratio over 20:1"}


def test_truncated_and_corrupt_files_are_rejected():
    png, jpg = _enc(_img(8, (64, 64))), _enc(_img(9, (64, 64)), "JPEG")
    flipped = bytearray(png)
    flipped[len(png) // 2] ^= 0xFF
    files = [("cut.png", png[: len(png) // 2]), ("cut.jpg", jpg[: len(jpg) // 2]), ("flip.png", bytes(flipped)),
             ("empty.png", b""), ("a.png", GOOD["a.png"]), ("b.png", GOOD["c.bmp"])]
    data, skipped = vc.load_user_images(files)
    reasons = _reasons(skipped)
    assert len(data) == 2 and set(reasons) == {"cut.png", "cut.jpg", "flip.png", "empty.png"}
    assert reasons["cut.png"].startswith("a corrupt or truncated PNG image"), reasons["cut.png"]
    assert reasons["cut.jpg"].startswith("a corrupt or truncated JPEG image"), reasons["cut.jpg"]
    assert reasons["flip.png"].startswith("a corrupt or truncated PNG image"), reasons["flip.png"]
    assert reasons["empty.png"] == "the file is empty (0 bytes)"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_odd_modes_are_converted_consistently():
    def one(img, fmt="PNG", mode="L", **kw):
        return vc.image_to_tensor(_enc(img, fmt, **kw), (1 if mode == "L" else 3, 4, 4))

    sixteen = Image.fromarray(np.full((8, 8), 65535, np.uint16))
    assert sixteen.mode == "I;16" and torch.allclose(one(sixteen), torch.ones(1, 4, 4))
    half = Image.fromarray(np.full((8, 8), 32896, np.uint16))  # 128 * 257
    assert one(half).mul(255).round().unique().tolist() == [128.0]
    cyan = one(Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "JPEG", mode="RGB")
    assert cyan[0].max() < 0.1 and cyan[1].min() > 0.9 and cyan[2].min() > 0.9
    assert torch.equal(one(Image.new("1", (8, 8), 1)), torch.ones(1, 4, 4))
    # Transparency of every kind is composited on black.
    assert torch.equal(one(Image.new("LA", (8, 8), (255, 0))), torch.zeros(1, 4, 4))
    assert torch.equal(one(Image.new("RGBA", (8, 8), (255, 255, 255, 0)), mode="RGB"), torch.zeros(3, 4, 4))
    semi = one(Image.new("RGBA", (8, 8), (255, 255, 255, 128)), "WEBP", mode="RGB", lossless=True)
    assert semi.mul(255).round().unique().tolist() == [128.0]
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([255, 255, 255, 255, 0, 0] + [0] * 762)
    assert torch.equal(one(pal, "GIF", transparency=0), torch.zeros(1, 4, 4))
    assert torch.equal(one(pal, "PNG", mode="RGB"), torch.ones(3, 4, 4))  # no transparency: white


def test_mixed_uploads_keep_the_good_files_and_report_the_rest():
    files = [("a.png", GOOD["a.png"]), ("readme.txt", b"hello"), ("b.webp", GOOD["e.webp"]),
             ("inner.zip", _zip({"x.png": GOOD["a.png"]}))]
    data, skipped = vc.load_user_images(files, size=28)
    assert len(data) == 2
    assert _reasons(skipped) == {"readme.txt": "not a PNG, JPEG, BMP, GIF or WebP image",
                                 "inner.zip": "a zip archive: upload a zip on its own"}


def test_nothing_usable_raises_with_the_reasons_summarised():
    with pytest.raises(vc.DatasetError, match=r"no usable images: 2 file\(s\) skipped: a.txt: not a PNG, JPEG, BMP, "
                       r"GIF or WebP image; b.png: the file is empty \(0 bytes\)"):
        vc.load_user_images([("a.txt", b"text"), ("b.png", b"")])
    with pytest.raises(vc.DatasetError, match=r"only 1 usable image \(a.png\); 2 are needed"):
        vc.load_user_images([("a.png", GOOD["a.png"]), ("b.png", b"")])
    many = [(f"f{i}.txt", b"x") for i in range(8)]
    with pytest.raises(vc.DatasetError, match=r"8 file\(s\) skipped: .*; and 3 more"):
        vc.load_user_images(many)


def test_bad_options_are_rejected():
    with pytest.raises(vc.DatasetError, match="image size must be one of 28, 32, 64, got 30"):
        vc.load_user_images(list(GOOD.items()), size=30)
    with pytest.raises(vc.DatasetError, match="image mode must be 'L'"):
        vc.load_user_images(list(GOOD.items()), mode="CMYK")


# --- zip hostility ----------------------------------------------------------------------------


def _set_flag(blob: bytes, name: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit on one member, in both its local and central headers."""
    out = bytearray(blob)
    for sig, flag_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        pos = out.find(sig)
        while pos >= 0:
            n = struct.unpack_from("<H", out, pos + name_len_at)[0]
            if bytes(out[pos + name_at : pos + name_at + n]) == name:
                struct.pack_into("<H", out, pos + flag_at, struct.unpack_from("<H", out, pos + flag_at)[0] | bit)
            pos = out.find(sig, pos + 4)
    return bytes(out)


def test_zip_members_are_screened_and_reported():
    files = {
        "a.png": GOOD["a.png"],
        "b.png": GOOD["c.bmp"],
        "secret.png": GOOD["a.png"],
        "nested.zip": _zip({"x.png": GOOD["a.png"]}),
        "disguised.png": _zip({"x.png": GOOD["a.png"]}),
        "bomb.bmp": bytes(4 * 1024 * 1024),
        "__MACOSX/._a.png": b"resource fork",
        ".DS_Store": b"finder",
        "sub/.hidden.png": GOOD["a.png"],
        "empty_dir/": b"",
    }
    blob = _set_flag(_zip(files), b"secret.png", 0x1)
    data, skipped = vc.load_user_images(blob)
    assert len(data) == 2
    reasons = _reasons(skipped)
    assert set(reasons) == {"secret.png", "nested.zip", "disguised.png", "bomb.bmp"}  # hidden ones: silent
    assert reasons["secret.png"] == "encrypted; not read"
    assert reasons["nested.zip"] == reasons["disguised.png"] == (
        "an archive inside the zip; nested archives are not opened")
    assert reasons["bomb.bmp"].startswith("compression ratio") and "over the limit of 200:1" in reasons["bomb.bmp"]


def test_zip_caps_on_entries_declared_size_and_total(monkeypatch):
    blob = _zip({f"{i}.png": GOOD["a.png"] for i in range(6)})
    monkeypatch.setattr(ui, "MAX_ZIP_ENTRIES", 5)
    with pytest.raises(vc.DatasetError, match="the zip has 6 entries, over the limit of 5"):
        vc.load_user_images(blob)
    monkeypatch.setattr(ui, "MAX_ZIP_ENTRIES", 10_000)
    monkeypatch.setattr(ui, "MAX_IMAGE_BYTES", 100)
    with pytest.raises(vc.DatasetError, match=r"0.png: declares [\d,]+ bytes, over the per-file limit of 100"):
        vc.load_user_images(blob)
    monkeypatch.setattr(ui, "MAX_IMAGE_BYTES", 1 << 20)
    monkeypatch.setattr(ui, "MAX_TOTAL_BYTES", 3 * len(GOOD["a.png"]))
    data, skipped = vc.load_user_images(blob)
    assert len(data) == 3 and len(skipped) == 3
    assert all("exceed" in s.reason for s in skipped)


def test_a_member_larger_than_it_declares_is_not_read_past_its_size():
    blob = bytearray(_zip({"a.png": GOOD["a.png"], "b.png": GOOD["c.bmp"], "liar.png": GOOD["a.png"]},
                          zipfile.ZIP_STORED))
    pos = blob.rfind(b"PK\x01\x02")  # the last central entry: liar.png; shrink its declared size
    struct.pack_into("<I", blob, pos + 24, 100)
    data, skipped = vc.load_user_images(bytes(blob))
    assert len(data) == 2
    assert _reasons(skipped)["liar.png"].startswith("corrupt inside the zip")


def test_zips_with_nothing_to_use_say_so():
    with pytest.raises(vc.DatasetError, match=r"the zip holds no images \(only folders or hidden files\)"):
        vc.load_user_images(_zip({"dir/": b"", ".DS_Store": b"x", "__MACOSX/a": b"y"}))
    with pytest.raises(vc.DatasetError, match="not a valid zip archive"):
        vc.load_user_images(b"PK\x03\x04 but not really a zip")
    with pytest.raises(vc.DatasetError, match=r"no usable images: 1 file\(s\) skipped: notes.txt"):
        vc.load_user_images(_zip({"notes.txt": b"hello"}))


# --- folders and the command line -------------------------------------------------------------


def _folder(root):
    for label, names in {"circles": ["a.png", "b.png"], "squares": ["c.png"]}.items():
        (root / label).mkdir(parents=True)
        for i, name in enumerate(names):
            (root / label / name).write_bytes(_enc(_img(10 + i)))
    (root / "squares" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_bytes(GOOD["a.png"])
    return root


def test_a_folder_of_images_loads_with_labels(tmp_path):
    root = _folder(tmp_path / "imgs")
    data, skipped = vc.load_image_path(root, size=64, mode="RGB")
    assert data.images.shape == (3, 3, 64, 64) and data.label_names == ("circles", "squares")
    assert [s.name for s in skipped] == ["squares/broken.png"]
    assert data.params == {"source": "path", "path": str(root), "size": 64, "mode": "RGB"}
    with pytest.raises(vc.DatasetError, match="no such zip file or folder"):
        vc.load_image_path(tmp_path / "nope")
    (tmp_path / "a.png").write_bytes(GOOD["a.png"])
    with pytest.raises(vc.DatasetError, match="a.png: not a zip archive"):
        vc.load_image_path(tmp_path / "a.png")


def test_cli_trains_on_a_zip_of_images(tmp_path, capsys):
    zpath = tmp_path / "set.zip"
    zpath.write_bytes(_zip({f"{k}/{i}.png": _enc(_img(i + 5 * j)) for j, k in enumerate("ab") for i in range(6)}
                           | {"bad.png": b"nope"}))
    code = main(["--dataset", "images", "--data-dir", str(zpath), "--image-size", "28", "--color", "--arch", "conv",
                 "--epochs", "1", "--hidden", "16", "--out", str(tmp_path / "ck"), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "skipped bad.png: not a PNG, JPEG, BMP, GIF or WebP image" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["epochs"] == 1
    ck = vc.load_checkpoint(tmp_path / "ck")
    assert ck.dataset_name == "images" and ck.config.image_shape == (3, 28, 28)


def test_cli_images_errors_are_one_line(tmp_path, capsys):
    assert main(["--dataset", "images", "--out", str(tmp_path / "a")]) == 2
    (tmp_path / "junk.zip").write_bytes(_zip({"x.txt": b"hi"}))
    assert main(["--dataset", "images", "--data-dir", str(tmp_path / "junk.zip"), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "error: --dataset images needs --data-dir: a zip file or a folder of images"
    assert err[1].startswith("error: no usable images: 1 file(s) skipped: x.txt")


# --- single inputs for a trained model --------------------------------------------------------


def test_one_image_becomes_a_model_input():
    x = vc.image_to_tensor(GOOD["b.jpg"], (3, 64, 64))
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    assert vc.image_to_tensor(GOOD["e.webp"], (1, 8, 8)).shape == (1, 8, 8)
    wide = _enc(Image.new("L", (300, 100), 0).resize((300, 100)))
    assert vc.image_to_tensor(wide, (1, 28, 28)).shape == (1, 28, 28)  # center-cropped to square
    with pytest.raises(vc.DatasetError, match="photo.png: not a PNG, JPEG, BMP, GIF or WebP image"):
        vc.image_to_tensor(b"<svg/>", (1, 28, 28), name="photo.png")
    with pytest.raises(vc.DatasetError, match=r"image: 8000x6000 is over the limit"):
        vc.image_to_tensor(_png_header_only(8000, 6000), (1, 28, 28))
    with pytest.raises(vc.DatasetError, match="image_shape must be"):
        vc.image_to_tensor(GOOD["a.png"], (2, 28, 28))


def _stroke(fg, bg, alpha_bg=255):
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[...] = (*bg, alpha_bg)
    canvas[100:180, 130:150] = (*fg, 255)  # a vertical bar in the middle
    return canvas


@pytest.mark.parametrize(
    "canvas",
    [
        _stroke((255, 255, 255), (0, 0, 0)),  # white on black
        _stroke((0, 0, 0), (255, 255, 255)),  # black on white
        _stroke((255, 255, 255), (0, 0, 0), alpha_bg=0),  # white on transparent
        _stroke((0, 0, 0), (0, 0, 0), alpha_bg=0),  # black on transparent
    ],
)
def test_drawings_come_out_light_strokes_on_dark(canvas):
    x = vc.canvas_to_tensor(canvas, (1, 28, 28))
    assert x.shape == (1, 28, 28)
    assert x[0, 14, 14] > 0.9 and x[0, 2, 2] < 0.05 and x[0, 14, 3] < 0.05
    assert vc.canvas_to_tensor(canvas, (3, 32, 32)).shape == (3, 32, 32)


def test_drawing_inversion_can_be_forced_and_bad_arrays_are_refused():
    canvas = _stroke((255, 255, 255), (0, 0, 0))
    assert vc.canvas_to_tensor(canvas, (1, 28, 28), invert=True)[0, 2, 2] > 0.95
    with pytest.raises(vc.DatasetError, match="must be an"):
        vc.canvas_to_tensor(canvas.astype(np.float32), (1, 28, 28))
    with pytest.raises(vc.DatasetError, match="must be an"):
        vc.canvas_to_tensor(canvas[..., 0], (1, 28, 28))
    with pytest.raises(vc.DatasetError, match="aspect ratio over 20:1"):
        vc.canvas_to_tensor(np.zeros((5, 500, 4), np.uint8), (1, 28, 28))


def test_light_background_is_told_apart_from_dark():
    from vae_core.data.user_images import has_light_background

    paper = torch.ones(1, 8, 8)
    paper[0, 3:5, 3:5] = 0.0
    assert has_light_background(paper)
    assert not has_light_background(1.0 - paper)


def test_a_clean_digit_photographed_on_grey_paper_is_not_flagged_once_its_levels_are_normalised():
    from vae_core.data.user_images import has_light_background, normalize_levels

    model = vc.load_checkpoint(Path(__file__).resolve().parents[1] / "checkpoints" / "digits-10d").model
    digits = vc.load_dataset("digits").test_images
    test_errors = vc.reconstruction_error(model, digits)
    gen = torch.Generator().manual_seed(0)
    flagged = {"as uploaded": 0, "normalised": 0}
    for x in digits[:40]:  # each a dark digit on grey paper, with a little sensor noise
        photo = (0.78 - 0.45 * x + 0.03 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
        buffer = io.BytesIO()
        Image.fromarray((photo[0].numpy() * 255).astype(np.uint8)).save(buffer, "PNG")
        image = vc.image_to_tensor(buffer.getvalue(), (1, 8, 8))
        assert has_light_background(image)
        for name, seen in (("as uploaded", 1 - image), ("normalised", normalize_levels(1 - image))):
            error = vc.reconstruction_error(model, seen.unsqueeze(0))[0]
            flagged[name] += float((test_errors < error).float().mean()) >= 0.9  # worse than 90% of the test set
    assert flagged["as uploaded"] == 40 and flagged["normalised"] <= 4  # ~10% of real digits are that bad too


def test_normalising_levels_keeps_a_flat_image_and_maps_background_to_0_and_ink_to_1():
    from vae_core.data.user_images import normalize_levels

    flat = torch.full((1, 8, 8), 0.3)
    assert torch.equal(normalize_levels(flat), flat)
    image = torch.full((1, 8, 8), 0.3)
    image[0, 3:5, 2:6] = 0.8
    out = normalize_levels(image)
    assert out[0, 0, 0] == 0 and out[0, 3, 3] == 1
