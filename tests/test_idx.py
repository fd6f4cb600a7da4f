import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.data.idx import IDX_FILES, default_data_dir, load_mnist_like, read_idx
from vae_core.train import main

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _idx(shape, data=None, code=0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    if data is None:
        data = (np.arange(int(np.prod(shape))) % 251).astype(np.uint8).tobytes()
    return header + data


def _real(name):
    folder = SHARED_DATA / name
    if not all((folder / f"{b}.gz").is_file() for b in IDX_FILES):
        pytest.skip(f"the real {name} files are not in {folder}")
    return folder


def _write_set(folder, n_train=12, n_test=3, gz=True, **override):
    """A small, valid MNIST-like set of four files; `override` replaces a file's bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    contents = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        contents[f"{split}-images-idx3-ubyte"] = _idx((n, 28, 28), rng.integers(0, 256, n * 784, np.uint8).tobytes())
        contents[f"{split}-labels-idx1-ubyte"] = _idx((n,), (np.arange(n) % 10).astype(np.uint8).tobytes())
    contents.update(override)
    for base, data in contents.items():
        (folder / (f"{base}.gz" if gz else base)).write_bytes(gzip.compress(data) if gz else data)
    return folder


# --- read_idx: valid input --------------------------------------------------------------------


def test_reads_raw_and_gzipped_bytes_and_paths(tmp_path):
    raw = _idx((4, 3, 2))
    expected = (np.arange(24) % 251).astype(np.uint8).reshape(4, 3, 2)
    assert np.array_equal(read_idx(raw), expected)
    assert np.array_equal(read_idx(gzip.compress(raw), expect_ndim=3), expected)
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    assert np.array_equal(read_idx(path), expected)
    labels = read_idx(_idx((5,), bytes([1, 2, 3, 4, 5])), expect_ndim=1)
    assert labels.dtype == np.uint8 and labels.tolist() == [1, 2, 3, 4, 5]


def test_multi_member_gzip_is_read_whole():
    raw = _idx((4, 3, 2))
    assert read_idx(gzip.compress(raw[:10]) + gzip.compress(raw[10:])).shape == (4, 3, 2)


# --- read_idx: every rejection, with its message ----------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "x.idx: the file is empty"),
        (gzip.compress(b""), r"the file is empty \(after gzip decompression\)"),
        (b"\x00\x00\x08", "truncated: only 3 bytes, shorter than an IDX header"),
        (b"\x12\x34\x08\x03" + b"\x00" * 20, "not an IDX file"),
        (_idx((2, 2, 2), code=0x0D), r"data type code 0x0D \(float32\) is not supported"),
        (_idx((2, 2, 2), code=0x42), r"data type code 0x42 \(unknown\) is not supported"),
        (_idx((6,)), r"expected an images file \(3 dims\), got a labels file \(1 dim\)"),
        (_idx((2, 3)), r"expected an images file \(3 dims\), got a file with 2 dims"),
        (_idx((2, 3, 4))[:10], "truncated: the header ends before its 3 dimension sizes"),
        (_idx((2, 3, 4))[:-4], "truncated: the header declares 2x3x4 = 24 bytes of data, but the file holds only 20"),
        (_idx((2, 3, 4)) + b"\x00", r"holds more data than its header declares \(2x3x4 = 24 bytes\)"),
        (_idx((0, 28, 28), b""), r"declares an empty array \(0x28x28\)"),
        (_idx((70_000, 1000, 1000), b""), "declares 70000x1000x1000 = 70,000,000,000 bytes of data, over the limit"),
        (b"\x1f\x8b" + b"not really gzip" * 4, "the gzip data is corrupt or truncated"),
        (gzip.compress(_idx((20, 28, 28)))[:-100], "the gzip data is corrupt or truncated"),
    ],
)
def test_hostile_images_files_are_rejected_with_a_message(data, message):
    with pytest.raises(vc.DatasetError, match=message):
        read_idx(data, name="x.idx", expect_ndim=3)


def test_an_images_file_where_labels_belong_is_named():
    with pytest.raises(vc.DatasetError, match=r"expected a labels file \(1 dim\), got an images file \(3 dims\)"):
        read_idx(_idx((2, 3, 4)), name="labels.gz", expect_ndim=1)


def test_truncated_and_over_long_gzip_data_are_rejected():
    good = _idx((10, 28, 28))
    with pytest.raises(vc.DatasetError, match="7,840 bytes of data, but the file holds only 7,000"):
        read_idx(gzip.compress(good[: 16 + 7000]), expect_ndim=3)
    with pytest.raises(vc.DatasetError, match="more data than its header declares"):
        read_idx(gzip.compress(good + b"\x00" * 5), expect_ndim=3)


def test_gzip_bomb_stops_at_the_declared_size():
    # 7,856 real bytes, then 64 MB of zeros that inflate from ~64 KB: only 1 byte of them is inflated.
    bomb = gzip.compress(_idx((10, 28, 28)) + bytes(64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 200_000
    with pytest.raises(vc.DatasetError, match="more data than its header declares"):
        read_idx(bomb, expect_ndim=3)


def test_declared_size_is_checked_against_the_cap_before_allocating():
    # A 16-byte header declaring 60000x28x28 is refused by a small cap without reading further.
    with pytest.raises(vc.DatasetError, match="over the limit of 1,000"):
        read_idx(_idx((60_000, 28, 28), b""), expect_ndim=3, max_bytes=1000)


def test_a_missing_path_is_a_dataset_error(tmp_path):
    with pytest.raises(vc.DatasetError, match="nope.gz: cannot read"):
        read_idx(tmp_path / "nope.gz")


# --- load_mnist_like on small files built here -------------------------------------------------


def test_small_set_gives_the_official_split_and_shapes(tmp_path):
    folder = _write_set(tmp_path / "m")
    data = load_mnist_like("mnist", folder, download=False)
    assert data.images.shape == (15, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    assert data.labels.dtype == torch.int64
    assert data.train_index.tolist() == list(range(12)) and data.test_index.tolist() == [12, 13, 14]
    assert data.label_names == tuple("0123456789")
    assert data.params == {"data_dir": str(folder)}
    json.dumps(data.params)


def test_un_gzipped_files_are_accepted(tmp_path):
    folder = _write_set(tmp_path / "raw", gz=False)
    data = load_mnist_like("fashion-mnist", folder, download=False)
    assert len(data) == 15 and data.label_names[0] == "T-shirt/top" and data.label_names[-1] == "Ankle boot"


def test_missing_files_name_the_files_and_the_folder(tmp_path):
    folder = _write_set(tmp_path / "m")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(vc.DatasetError, match=r"missing t10k-labels-idx1-ubyte.gz in the folder .*m; place the files"):
        load_mnist_like("mnist", folder, download=False)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"train-labels-idx1-ubyte": _idx((11,), bytes(11))},
         "train-images-idx3-ubyte.gz holds 12 images but train-labels-idx1-ubyte.gz holds 11 labels"),
        ({"t10k-images-idx3-ubyte": _idx((3, 28, 28))[:-50]}, "t10k-images-idx3-ubyte.gz: truncated"),
        ({"train-images-idx3-ubyte": _idx((12,), bytes(12))},
         r"train-images-idx3-ubyte.gz: expected an images file \(3 dims\), got a labels file \(1 dim\)"),
        ({"train-images-idx3-ubyte": _idx((12, 32, 32))}, "expected 28x28 images, got 32x32"),
        ({"t10k-labels-idx1-ubyte": _idx((3,), bytes([1, 2, 12]))}, "labels must be 0..9, found 12"),
    ],
)
def test_broken_sets_are_rejected_naming_the_file(tmp_path, override, message):
    folder = _write_set(tmp_path / "m", **override)
    with pytest.raises(vc.DatasetError, match=message):
        load_mnist_like("mnist", folder, download=False)


def test_subsample_is_seeded_and_split_in_the_official_proportion(tmp_path):
    folder = _write_set(tmp_path / "m", n_train=60, n_test=10)
    a = load_mnist_like("mnist", folder, download=False, n=14, seed=3)
    b = load_mnist_like("mnist", folder, download=False, n=14, seed=3)
    assert len(a) == 14 and len(a.train_index) == 12 and len(a.test_index) == 2
    assert torch.equal(a.images, b.images)
    assert a.params == {"data_dir": str(folder), "n": 14, "seed": 3}
    with pytest.raises(vc.DatasetError, match=r"dataset size must be an integer in 2..70"):
        load_mnist_like("mnist", folder, download=False, n=71)


def test_registry_loads_mnist_like_with_json_params(tmp_path):
    folder = _write_set(tmp_path / "m")
    data = vc.load_dataset("fashion-mnist", data_dir=str(folder), download=False)
    assert data.name == "fashion-mnist"
    assert vc.load_dataset(**{"name": "mnist", **json.loads(json.dumps(data.params))}).images.shape[0] == 15
    assert {"mnist", "fashion-mnist", "dsprites"} <= set(vc.DATASETS)
    assert vc.load_dataset("digits").images.shape == (1797, 1, 8, 8)


def test_default_data_dir_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path))
    assert default_data_dir("mnist") == tmp_path / "mnist"
    monkeypatch.delenv("LATENT_EXPLORER_DATA")
    assert default_data_dir("mnist").name == "mnist"


# --- the real files ---------------------------------------------------------------------------


def test_real_mnist_loads_with_the_official_split():
    folder = _real("mnist")
    data = load_mnist_like("mnist", folder, download=False)
    assert data.images.shape == (70_000, 1, 28, 28)
    assert len(data.train_index) == 60_000 and data.test_index[0] == 60_000
    assert data.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.labels[60_000:60_005].tolist() == [7, 2, 1, 0, 4]
    assert data.images.max() == 1.0 and data.images.min() == 0.0


def test_real_fashion_mnist_loads_with_its_class_names():
    folder = _real("fashion-mnist")
    data = load_mnist_like("fashion-mnist", folder, download=False, n=700)
    assert len(data.train_index) == 600 and len(data.test_index) == 100
    assert data.label_names[9] == "Ankle boot"
    assert np.bincount(data.labels.numpy(), minlength=10).min() > 30


def test_a_tiny_fit_on_real_mnist_lowers_the_loss():
    data = load_mnist_like("mnist", _real("mnist"), download=False, n=420)
    torch.manual_seed(0)
    model = vc.VAE(vc.ModelConfig(image_shape=data.image_shape, latent_dim=2, hidden=64))
    before = vc.evaluate_model(model, data.test_images)["test_loss"]
    vc.fit(model, data.train_images, vc.TrainConfig(epochs=2, batch_size=60, lr=3e-3))
    assert vc.evaluate_model(model, data.test_images)["test_loss"] < before


# --- the command line -------------------------------------------------------------------------


def test_cli_trains_on_an_mnist_slice(tmp_path, capsys):
    folder = _real("mnist")
    out = tmp_path / "ck"
    code = main(["--dataset", "mnist", "--data-dir", str(folder), "--dataset-size", "2000", "--epochs", "1",
                 "--hidden", "64", "--out", str(out), "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("train_samples_per_s", "test_loss", "test_recon", "test_kl", "test_kl_per_dim", "epochs",
                "seconds", "device", "error", "checkpoint"):
        assert key in summary
    assert summary["epochs"] == 1 and summary["error"] is None
    ck = vc.load_checkpoint(out)
    assert ck.dataset_name == "mnist"
    assert ck.dataset_params == {"data_dir": str(folder), "n": 2000, "seed": 0}
    assert ck.config.image_shape == (1, 28, 28)


def test_cli_reports_a_truncated_idx_file_in_one_line(tmp_path):
    folder = _write_set(tmp_path / "m", **{"train-images-idx3-ubyte": _idx((12, 28, 28))[:-7]})
    proc = subprocess.run(
        [sys.executable, "-m", "vae_core.train", "--dataset", "mnist", "--data-dir", str(folder),
         "--epochs", "1", "--out", str(tmp_path / "ck")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: train-images-idx3-ubyte.gz: truncated"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ck").exists()


def test_cli_rejects_options_that_do_not_apply(tmp_path, capsys):
    assert main(["--dataset", "digits", "--dataset-size", "10", "--out", str(tmp_path / "a")]) == 2
    assert main(["--dataset", "sprites", "--data-dir", str(tmp_path), "--out", str(tmp_path / "b")]) == 2
    assert main(["--dataset", "mnist", "--color", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: --dataset-size does not apply to digits",
        "error: --data-dir does not apply to sprites",
        "error: --image-size and --color apply to --dataset images only",
    ]
