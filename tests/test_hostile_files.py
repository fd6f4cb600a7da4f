"""Broken and hostile files, one test per kind of gap: each gets a message that names the real
problem, and none reaches the page as a traceback or as pixels outside [0, 1]."""

import gzip
import io
import json
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

import vae_core as vc
from vae_core.data.dsprites import DSPRITES_GRID, load_dsprites
from vae_core.data.idx import read_idx
from vae_core.data.user_images import image_to_tensor

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png(value=90, size=(20, 20)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0]), value, np.uint8), "L").save(buf, "PNG")
    return buf.getvalue()


def _mpo(value=120) -> bytes:
    """A two-picture MPO, as cameras and phones write (Pillow opens it as format 'MPO')."""
    first = Image.fromarray(np.full((24, 24, 3), value, np.uint8), "RGB")
    second = Image.fromarray(np.full((24, 24, 3), 255 - value, np.uint8), "RGB")
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])
    return buf.getvalue()


# --- messages that name the real problem ---------------------------------------------------------


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty (0 bytes)"),
    (PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR" + struct.pack(">II", 20, 20) + b"\x08\x00\x00\x00\x00BADC",
     "a corrupt PNG file: its header can't be read"),
    (PNG_SIGNATURE, "a corrupt PNG file: its header can't be read"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 8, "a corrupt JPEG file: its header can't be read"),
    (b"GIF89a" + b"\x00" * 4, "a corrupt GIF file: its header can't be read"),
    (gzip.compress(_png()), "a gzip-compressed file, not an image: decompress it first"),
    (b"%PDF-1.7\n", "a PDF document, not an image"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "a HEIC/AVIF photo, which is not accepted: export it as JPEG or PNG"),
])
def test_an_uploaded_image_is_refused_by_its_real_problem(data, message):
    with pytest.raises(vc.DatasetError, match=f"photo.png: {message.replace('(', r'.').replace(')', r'.')}"):
        image_to_tensor(data, (1, 28, 28), name="photo.png")


def test_a_double_gzipped_idx_file_says_so():
    idx = struct.pack(">BBBB", 0, 0, 8, 1) + struct.pack(">I", 3) + b"\x01\x02\x03"
    assert read_idx(gzip.compress(idx)).tolist() == [1, 2, 3]
    with pytest.raises(vc.DatasetError, match="labels.gz: gzip-compressed twice: decompress it once"):
        read_idx(gzip.compress(gzip.compress(idx)), name="labels.gz")


def test_a_gzipped_or_empty_npz_says_so(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, imgs=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(vc.DatasetError, match="gzip-compressed: decompress it .gunzip. to the .npz first"):
        load_dsprites(gzip.compress(buf.getvalue()))
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(vc.DatasetError, match=r"empty.npz: the file is empty \(0 bytes\)"):
        load_dsprites(tmp_path / "empty.npz")


def test_an_empty_checkpoint_upload_says_so():
    with pytest.raises(vc.CheckpointError, match=r"the weights file is empty \(0 bytes\)"):
        vc.model_from_bytes(b"", b"{}")
    model = vc.VAE(vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=8))
    from safetensors.torch import save

    with pytest.raises(vc.CheckpointError, match=r"the config file is empty \(0 bytes\)"):
        vc.model_from_bytes(save(dict(model.state_dict())), b"")


# --- absurd dimensions and integer overflows in headers --------------------------------------------


def _npz_member(shape, descr="|u1", data=b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


@pytest.mark.parametrize("shape", [(2**62, 64, 64), (2**31, 64, 64), (2**64 - 1, 64, 64)])
def test_an_npz_header_with_an_overflowing_size_is_refused_by_message(tmp_path, shape):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("imgs.npy", _npz_member(shape))
        zf.writestr("latents_values.npy", _npz_member((2, 6), "<f8", b"\x00" * 96))
        zf.writestr("latents_classes.npy", _npz_member((2, 6), "<i8", b"\x00" * 96))
    with pytest.raises(vc.DatasetError, match="declares .* bytes, over the limit"):
        load_dsprites(path, n=2)


@pytest.mark.parametrize("shape", [(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (1, 0, 28)])
def test_an_idx_header_with_absurd_dimensions_is_refused_by_message(shape):
    header = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">3I", *shape)
    with pytest.raises(vc.DatasetError, match="over the limit|declares an empty array"):
        read_idx(header + b"\x00" * 64, expect_ndim=3)


def test_a_png_header_with_absurd_dimensions_is_refused_by_message():
    ihdr = struct.pack(">IIBBBBB", 2**31 - 1, 2**31 - 1, 8, 0, 0, 0, 0)
    import zlib

    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    with pytest.raises(vc.DatasetError, match="pixels"):
        image_to_tensor(PNG_SIGNATURE + chunk, (1, 28, 28), name="big.png")


# --- arrays of integer types wider than 8 bits ----------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.int16, np.int32, np.int64])
def test_wide_integer_pixels_are_refused_not_scaled_outside_0_1(tmp_path, dtype):
    rng = np.random.default_rng(0)
    classes = np.stack([rng.integers(0, g, 10) for g in DSPRITES_GRID], axis=1).astype(np.int64)
    imgs = np.full((10, 64, 64), 40_000 if np.dtype(dtype).itemsize > 1 else 1).astype(dtype)
    np.savez(tmp_path / "wide.npz", imgs=imgs, latents_values=classes.astype(np.float64), latents_classes=classes)
    with pytest.raises(vc.DatasetError, match=f"the array 'imgs' has dtype {np.dtype(dtype)}, expected uint8"):
        load_dsprites(tmp_path / "wide.npz", n=10)


def test_16_bit_images_are_scaled_into_0_1():
    buf = io.BytesIO()
    Image.fromarray(np.full((20, 20), 65535, np.uint16)).save(buf, "PNG")
    x = image_to_tensor(buf.getvalue(), (1, 28, 28))
    assert float(x.min()) >= 0.99 and float(x.max()) <= 1.0


# --- camera JPEG variants ----------------------------------------------------------------------------


def test_a_camera_mpo_jpeg_is_accepted_as_its_first_picture():
    data = _mpo(120)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "MPO"  # what Pillow calls it
    x = image_to_tensor(data, (1, 28, 28), name="IMG_0001.JPG")
    assert abs(float(x.mean()) - 120 / 255) < 0.02  # the first picture, not the second
    dataset, skipped = vc.load_user_images([("a.jpg", data), ("b.jpg", _mpo(30))], size=28)
    assert len(dataset) == 2 and skipped == []


# --- checkpoint metadata that asks for a huge dataset ----------------------------------------------


def test_a_checkpoint_cannot_make_pages_build_a_dataset_of_its_choosing(tmp_path):
    """Every model of a dataset is viewed with the one shared copy at the registry's default size,
    whatever size and seed its checkpoint names."""
    from streamlit.testing.v1 import AppTest

    from ui import caches
    from ui.session import LoadedModel

    model = vc.VAE(vc.ModelConfig(image_shape=(1, 64, 64), latent_dim=2, hidden=8))
    meta = vc.make_metadata(model.config, dataset="sprites", dataset_params={"n": 100_000, "seed": 12345})
    vc.save_checkpoint(tmp_path / "greedy", model, meta)
    checkpoint = vc.load_checkpoint(tmp_path / "greedy")
    assert checkpoint.dataset_params == {"n": 100_000, "seed": 12345}
    loaded = LoadedModel(key="greedy@1", choice="greedy", label="greedy", checkpoint=checkpoint,
                         path=tmp_path / "greedy")
    calls = []

    def fake_load(name, params):
        calls.append((name, params))
        return vc.load_dataset("sprites", n=200)

    at = AppTest.from_function(lambda: None)  # a script context for the cache decorators
    at.run()
    original = caches.load_registered_dataset
    caches.load_registered_dataset = fake_load
    try:
        data = caches.dataset_for(loaded)
    finally:
        caches.load_registered_dataset = original
    assert calls == [("sprites", {})]
    assert data is not None and json.dumps(calls[0][1]) == "{}"
