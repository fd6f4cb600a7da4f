import gzip
import urllib.error
from pathlib import Path

import pytest

import vae_core as vc
from vae_core.data import idx
from vae_core.data.idx import IDX_FILES, download_mnist_like, fetch_url

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _real(name):
    folder = SHARED_DATA / name
    if not all((folder / f"{b}.gz").is_file() for b in IDX_FILES):
        pytest.skip(f"the real {name} files are not in {folder}")
    return folder


def _offline(url, out):
    raise urllib.error.URLError("network is unreachable")


def test_download_fetches_verifies_and_never_fetches_again(tmp_path, monkeypatch):
    source = _real("mnist")
    target = tmp_path / "data" / "mnist"
    monkeypatch.setitem(idx.MIRRORS, "mnist", source.as_uri() + "/")
    data = idx.load_mnist_like("mnist", target)  # absent -> downloaded from the file:// mirror
    assert len(data) == 70_000 and data.params == {"data_dir": str(target)}
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{b}.gz" for b in IDX_FILES)
    for b in IDX_FILES:
        assert (target / f"{b}.gz").read_bytes() == (source / f"{b}.gz").read_bytes()
    # Present now: neither the loader nor the downloader goes to the network again.
    monkeypatch.setattr(idx, "fetch_url", _offline)
    assert download_mnist_like("mnist", target, fetch=_offline) == []
    assert len(idx.load_mnist_like("mnist", target, n=100)) == 100


def test_only_the_missing_files_are_fetched(tmp_path):
    source = _real("fashion-mnist")
    target = tmp_path / "fashion"
    target.mkdir()
    for b in IDX_FILES[1:]:  # an un-gzipped copy counts as present too
        (target / b).write_bytes(gzip.decompress((source / f"{b}.gz").read_bytes()))
    urls = []

    def fetch(url, out):
        urls.append(url)
        fetch_url(url, out)

    written = download_mnist_like("fashion-mnist", target, base_url=source.as_uri(), fetch=fetch)
    assert urls == [source.as_uri() + "/train-images-idx3-ubyte.gz"]
    assert written == [target / "train-images-idx3-ubyte.gz"]
    assert len(idx.load_mnist_like("fashion-mnist", target, download=False)) == 70_000


def test_an_md5_mismatch_is_refused_and_leaves_nothing_behind(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for b in IDX_FILES:
        (mirror / f"{b}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    target = tmp_path / "mnist"
    with pytest.raises(vc.DatasetError, match=r"could not download mnist file train-images-idx3-ubyte.gz .*md5 \w+ "
                       r"does not match the expected f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        download_mnist_like("mnist", target, base_url=mirror.as_uri() + "/")
    assert list(target.iterdir()) == []  # no half-written or unverified file


def test_offline_gives_a_clear_message_naming_the_files_and_the_folder(tmp_path):
    target = tmp_path / "mnist"
    message = (r"could not download mnist file train-images-idx3-ubyte.gz .*network is unreachable.*"
               r"Place the files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
               r"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz in the folder .*mnist")
    with pytest.raises(vc.DatasetError, match=message):
        download_mnist_like("mnist", target, fetch=_offline)
    with pytest.raises(vc.DatasetError, match="could not download mnist file"):
        download_mnist_like("mnist", target, base_url=(tmp_path / "no-such-mirror").as_uri())
    assert list(target.iterdir()) == []


def test_the_loader_downloads_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(idx, "fetch_url", _offline)
    with pytest.raises(vc.DatasetError, match="missing train-images-idx3-ubyte.gz, .* in the folder"):
        idx.load_mnist_like("mnist", tmp_path / "m", download=False)
    with pytest.raises(vc.DatasetError, match="could not download mnist"):
        idx.load_mnist_like("mnist", tmp_path / "m")


def test_an_oversized_download_is_cut_off(tmp_path):
    big = tmp_path / "big.gz"
    big.write_bytes(bytes(5000))
    with open(tmp_path / "out", "wb") as out, pytest.raises(OSError, match="more than 1,000 bytes"):
        fetch_url(big.as_uri(), out, max_bytes=1000)
