import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.data.dsprites import DSPRITES_FILE, DSPRITES_GRID, load_dsprites


def _arrays(n=200, seed=0):
    rng = np.random.default_rng(seed)
    classes = np.stack([rng.integers(0, g, n) for g in DSPRITES_GRID], axis=1).astype(np.int64)
    values = classes.astype(np.float64) * 0.5 + 1.0
    imgs = rng.integers(0, 2, (n, 64, 64)).astype(np.uint8)
    return {"imgs": imgs, "latents_values": values, "latents_classes": classes}


def _npz(path, compressed=False, metadata=True, **arrays):
    """An .npz like the official one; `arrays` replace (or, set to None, remove) members."""
    members = {**_arrays(), **arrays}
    members = {k: v for k, v in members.items() if v is not None}
    if metadata:  # the official file also holds a pickled dict: it must never be read
        members["metadata"] = np.array([{"title": "dSprites"}], dtype=object)
    (np.savez_compressed if compressed else np.savez)(path, **members)
    return path


def _npy_member(shape, descr="|u1", data=b"", fortran=False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buf.getvalue() + data


def _zip_npz(path, **members):
    with zipfile.ZipFile(path, "w") as zf:
        for key, raw in members.items():
            zf.writestr(f"{key}.npy", raw)
    return path


def test_loads_a_seeded_subsample_with_its_factors(tmp_path, monkeypatch):
    def no_unpickling(*args, **kwargs):
        raise AssertionError("pickle must never be used")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    path = _npz(tmp_path / DSPRITES_FILE)
    src = _arrays()
    data = load_dsprites(path, n=50, seed=7)
    rows = np.sort(np.random.default_rng(7).choice(200, size=50, replace=False))
    assert data.name == "dsprites" and data.images.shape == (50, 1, 64, 64)
    assert data.images.dtype == torch.float32 and set(data.images.unique().tolist()) == {0.0, 1.0}
    assert np.array_equal(data.images[:, 0].numpy(), src["imgs"][rows])
    assert data.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert np.array_equal(data.factor_classes.numpy(), src["latents_classes"][rows, 1:])
    assert np.allclose(data.factors.numpy(), src["latents_values"][rows, 1:])
    assert np.array_equal(data.labels.numpy(), src["latents_classes"][rows, 1])
    assert data.label_names == ("square", "ellipse", "heart")
    assert len(data.train_index) + len(data.test_index) == 50
    assert data.params == {"path": str(path), "n": 50, "seed": 7}
    again = load_dsprites(path, n=50, seed=7)
    assert torch.equal(again.images, data.images) and torch.equal(again.test_index, data.test_index)


def test_compressed_archives_folders_and_the_registry_work(tmp_path):
    _npz(tmp_path / DSPRITES_FILE, compressed=True)
    data = vc.load_dataset("dsprites", path=str(tmp_path), n=500)  # a folder; n over N keeps all
    assert len(data) == 200
    json.dumps(data.params)


def test_pixels_stored_as_0_to_255_are_scaled(tmp_path):
    imgs = (_arrays()["imgs"] * 255).astype(np.uint8)
    data = load_dsprites(_npz(tmp_path / "d.npz", imgs=imgs), n=20)
    assert data.images.max() == 1.0


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"latents_classes": None}, r"missing array\(s\) latents_classes"),
        ({"imgs": None, "latents_values": None}, r"missing array\(s\) imgs, latents_values"),
        ({"imgs": np.empty((200, 64, 64), dtype=object)}, "'imgs' holds Python objects, which are never loaded"),
        ({"imgs": np.zeros((200, 64, 64), np.float32)}, "'imgs' has dtype float32, expected uint8"),
        ({"imgs": np.zeros((200, 32, 32), np.uint8)}, r"'imgs' has shape \(200, 32, 32\), expected \(N, 64, 64\)"),
        ({"latents_values": np.zeros((200, 5))}, r"'latents_values' has shape \(200, 5\), expected \(N, 6\)"),
        ({"latents_classes": np.zeros((200, 6), np.float64)}, "'latents_classes' has dtype float64, expected int64"),
        ({"latents_values": np.zeros((199, 6))}, r"different numbers of rows \(imgs 200, latents_values 199"),
        ({"imgs": np.asfortranarray(np.zeros((200, 64, 64), np.uint8))}, "stored in Fortran order"),
        ({"latents_classes": np.full((200, 6), 3, np.int64)}, "latents_classes out of range"),
        ({"latents_values": np.full((200, 6), np.nan)}, "non-finite"),
    ],
)
def test_bad_arrays_are_refused_before_use(tmp_path, arrays, message):
    path = _npz(tmp_path / "d.npz", **arrays)
    with pytest.raises(vc.DatasetError, match=message):
        load_dsprites(path, n=20)


def test_a_header_declaring_a_huge_array_allocates_nothing(tmp_path):
    small = _arrays(n=2)
    raw = {
        "imgs": _npy_member((10_000_000, 64, 64)),
        "latents_values": _npy_member((10_000_000, 6), "<f8"),
        "latents_classes": _npy_member((10_000_000, 6), "<i8"),
    }
    with pytest.raises(vc.DatasetError, match="'imgs' declares 40,960,000,000 bytes, over the limit"):
        load_dsprites(_zip_npz(tmp_path / "huge.npz", **raw), n=2)
    raw["imgs"] = _npy_member((300, 64, 64), data=small["imgs"].tobytes())
    with pytest.raises(vc.DatasetError, match=r"'imgs' declares shape \(300, 64, 64\) .* but its member holds 8,192"):
        load_dsprites(_zip_npz(tmp_path / "short.npz", **raw), n=2)


def test_an_object_array_is_refused_from_its_header_alone(tmp_path):
    raw = {"imgs": _npy_member((2, 64, 64), "|O", b"\x80\x04not a real pickle"),
           "latents_values": _npy_member((2, 6), "<f8", bytes(96)),
           "latents_classes": _npy_member((2, 6), "<i8", bytes(96))}
    with pytest.raises(vc.DatasetError, match="'imgs' holds Python objects"):
        load_dsprites(_zip_npz(tmp_path / "obj.npz", **raw), n=2)


def test_missing_and_foreign_files_get_a_clear_message(tmp_path):
    with pytest.raises(vc.DatasetError, match=f"dSprites file not found: .*{DSPRITES_FILE}.*place it in"):
        load_dsprites(tmp_path, n=10)
    with pytest.raises(vc.DatasetError, match="dSprites file not found"):
        load_dsprites(tmp_path / "nope.npz", n=10)
    (tmp_path / "x.npz").write_bytes(b"\x93NUMPY not a zip")
    with pytest.raises(vc.DatasetError, match=r"x.npz: not an .npz archive"):
        load_dsprites(tmp_path / "x.npz", n=10)
    with pytest.raises(vc.DatasetError, match=r"n must be an integer in 2..100,000, got 0"):
        load_dsprites(tmp_path / "x.npz", n=0)


def test_cli_trains_on_dsprites_from_an_npz(tmp_path, capsys):
    from vae_core.train import main

    path = _npz(tmp_path / DSPRITES_FILE)
    code = main(["--dataset", "dsprites", "--data-dir", str(tmp_path), "--dataset-size", "60", "--epochs", "1",
                 "--hidden", "32", "--out", str(tmp_path / "ck"), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    ck = vc.load_checkpoint(tmp_path / "ck")
    assert ck.dataset_params == {"path": str(tmp_path), "n": 60, "seed": 0}
    assert path.exists()


def test_an_array_stored_under_another_member_name_is_named(tmp_path):
    path = tmp_path / "odd.npz"
    buf = io.BytesIO()
    np.save(buf, _arrays()["latents_values"])
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("imgs", b"not an npy member")  # no .npy suffix: np.load lists it as 'imgs'
        for key in ("latents_values", "latents_classes"):
            b = io.BytesIO()
            np.save(b, _arrays()[key])
            zf.writestr(f"{key}.npy", b.getvalue())
    with pytest.raises(vc.DatasetError, match=r"'imgs' is not stored as imgs.npy|missing array"):
        load_dsprites(path, n=10)


def test_an_upload_in_memory_loads_like_the_file(tmp_path):
    path = _npz(tmp_path / DSPRITES_FILE)
    from_file = load_dsprites(path, n=50, seed=3)
    from_bytes = load_dsprites(path.read_bytes(), n=50, seed=3)
    assert torch.equal(from_file.images, from_bytes.images)
    assert torch.equal(from_file.factor_classes, from_bytes.factor_classes)
    assert "path" not in from_bytes.params
    with pytest.raises(vc.DatasetError, match="the uploaded file: not an .npz archive"):
        load_dsprites(b"not a zip at all", n=10)
