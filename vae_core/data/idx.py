"""MNIST and Fashion-MNIST from IDX files, read defensively, with an optional verified download.

IDX layout: two zero bytes, a data-type code, the number of dimensions, then one big-endian uint32
per dimension and the data. Everything about the header is checked, and the declared size is
compared with the data actually present, before the data buffer is allocated; gzip is inflated
in bounded steps, never past the declared size plus one byte (so a gzip bomb costs nothing).

Where the files live (`default_data_dir`): `$LATENT_EXPLORER_DATA/<name>` when that variable is
set, else `../shared/data/<name>` beside the repository when that folder exists, else
`~/.cache/latent-explorer/<name>`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tempfile
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from .base import GZIP_MAGIC, Dataset, DatasetError, default_data_dir

MAX_IDX_BYTES = 200 * 1024 * 1024  # declared data size; MNIST's largest file holds 47 MB
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024  # per compressed file; Fashion-MNIST's largest is 26 MB
_CHUNK = 1 << 20
_DTYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
                0x0D: "float32", 0x0E: "float64"}
_KIND = {1: "a labels file (1 dim)", 3: "an images file (3 dims)"}

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MIRRORS = {  # module-level so that tests (or a local mirror) can point elsewhere
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
MD5 = {  # of the .gz files, as published by the datasets' authors
    "mnist": {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
LABEL_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}


# --- reading one IDX file -----------------------------------------------------------------


def _read_upto(stream: BinaryIO, n: int, label: str) -> bytes:
    """Up to n bytes (fewer only at the end of the data); gzip errors become DatasetError."""
    parts, left = [], n
    try:
        while left > 0:
            part = stream.read(min(left, _CHUNK))
            if not part:
                break
            parts.append(part)
            left -= len(part)
    except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{label}: the gzip data is corrupt or truncated ({exc})") from None
    return b"".join(parts)


def read_idx(
    source: bytes | str | os.PathLike,
    *,
    name: str | None = None,
    expect_ndim: int | None = None,
    max_bytes: int = MAX_IDX_BYTES,
) -> np.ndarray:
    """An IDX file (raw or gzipped; bytes or a path) as a uint8 array of its declared shape.

    `name` labels the data in messages (default: the file name). `expect_ndim` is 1 for labels
    and 3 for images. Every problem raises DatasetError naming the file.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "IDX data"
        return _read_idx_stream(io.BytesIO(bytes(source)), label, expect_ndim, max_bytes)
    path = Path(source)
    label = name or path.name
    try:
        with path.open("rb") as f:
            return _read_idx_stream(f, label, expect_ndim, max_bytes)
    except OSError as exc:
        raise DatasetError(f"{label}: cannot read {path}: {exc.strerror or exc}") from None


def _read_idx_stream(raw: BinaryIO, label: str, expect_ndim: int | None, max_bytes: int) -> np.ndarray:
    start = raw.read(2)
    if not start:
        raise DatasetError(f"{label}: the file is empty")
    raw.seek(0)
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if start == GZIP_MAGIC else raw

    head = _read_upto(stream, 4, label)
    if not head:
        raise DatasetError(f"{label}: the file is empty (after gzip decompression)")
    if len(head) < 4:
        raise DatasetError(f"{label}: truncated: only {len(head)} bytes, shorter than an IDX header")
    if head[:2] == GZIP_MAGIC and stream is not raw:
        raise DatasetError(f"{label}: gzip-compressed twice: decompress it once (gunzip), then use that file")
    if head[:2] != b"\x00\x00":
        raise DatasetError(
            f"{label}: not an IDX file (magic number 0x{head.hex()} does not start with 0x0000)"
        )
    code, ndim = head[2], head[3]
    if code != 0x08:
        kind = _DTYPE_NAMES.get(code, "unknown")
        raise DatasetError(
            f"{label}: data type code 0x{code:02X} ({kind}) is not supported; "
            "only unsigned bytes (0x08) are"
        )
    if expect_ndim is not None and ndim != expect_ndim:
        got = _KIND.get(ndim, f"a file with {ndim} dims")
        raise DatasetError(f"{label}: expected {_KIND.get(expect_ndim, f'{expect_ndim} dims')}, got {got}")
    if not 1 <= ndim <= 4:
        raise DatasetError(f"{label}: {ndim} dimensions is not a valid IDX shape here (1 to 4)")

    dim_bytes = _read_upto(stream, 4 * ndim, label)
    if len(dim_bytes) < 4 * ndim:
        raise DatasetError(f"{label}: truncated: the header ends before its {ndim} dimension sizes")
    shape = tuple(int(d) for d in np.frombuffer(dim_bytes, dtype=">u4"))
    size = 1
    for d in shape:
        size *= d
    shape_txt = "x".join(map(str, shape))
    if size == 0:
        raise DatasetError(f"{label}: declares an empty array ({shape_txt})")
    if size > max_bytes:
        raise DatasetError(
            f"{label}: declares {shape_txt} = {size:,} bytes of data, over the limit of {max_bytes:,}"
        )

    # The header is sane: now (and only now) allocate, then fill in bounded steps.
    data = np.empty(size, dtype=np.uint8)
    view, filled = memoryview(data), 0
    while filled < size:
        part = _read_upto(stream, min(_CHUNK, size - filled), label)
        if not part:
            break
        view[filled : filled + len(part)] = part
        filled += len(part)
    if filled < size:
        raise DatasetError(
            f"{label}: truncated: the header declares {shape_txt} = {size:,} bytes of data, "
            f"but the file holds only {filled:,}"
        )
    if _read_upto(stream, 1, label):
        raise DatasetError(
            f"{label}: the file holds more data than its header declares ({shape_txt} = {size:,} bytes)"
        )
    return data.reshape(shape)


# --- where the files are, and fetching them -------------------------------------------------


def _find(data_dir: Path, base: str) -> Path | None:
    for candidate in (data_dir / f"{base}.gz", data_dir / base):
        if candidate.is_file():
            return candidate
    return None


def fetch_url(url: str, out: BinaryIO, max_bytes: int = MAX_DOWNLOAD_BYTES) -> None:
    """Copy a URL's body into `out`, refusing more than max_bytes. Raises OSError on failure."""
    with urllib.request.urlopen(url, timeout=60) as response:  # URLError is an OSError
        total = 0
        while chunk := response.read(_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise OSError(f"more than {max_bytes:,} bytes")
            out.write(chunk)


def download_mnist_like(
    name: str,
    data_dir: str | os.PathLike,
    *,
    base_url: str | None = None,
    fetch: Callable[[str, BinaryIO], None] | None = None,
) -> list[Path]:
    """Fetch the missing .gz files into data_dir, each md5-verified before it takes its final name.

    Files already present (gzipped or not) are never fetched again. Returns the files written.
    """
    if name not in MD5:
        raise DatasetError(f"no download source for {name!r}")
    data_dir = Path(data_dir)
    base_url = base_url or MIRRORS[name]
    fetch = fetch or fetch_url
    written = []
    for base in IDX_FILES:
        if _find(data_dir, base) is not None:
            continue
        final = data_dir / f"{base}.gz"
        url = base_url.rstrip("/") + "/" + final.name
        tmp = None
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{final.name}.", suffix=".part")
            md5 = hashlib.md5()
            with os.fdopen(fd, "wb") as f:
                fetch(url, f)
            with open(tmp, "rb") as f:
                while chunk := f.read(_CHUNK):
                    md5.update(chunk)
            if md5.hexdigest() != MD5[name][base]:
                raise OSError(f"md5 {md5.hexdigest()} does not match the expected {MD5[name][base]}")
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
            tmp = None
            written.append(final)
        except (OSError, ValueError) as exc:  # URLError is an OSError; a bad URL a ValueError
            raise DatasetError(
                f"could not download {name} file {final.name} from {url} ({exc}). "
                f"Place the files {_file_list()} in the folder {data_dir}"
            ) from None
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
    return written


def _file_list() -> str:
    return ", ".join(f"{b}.gz" for b in IDX_FILES)


# --- the datasets ----------------------------------------------------------------------------


def load_mnist_like(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    n: int | None = None,
    seed: int = 0,
) -> Dataset:
    """MNIST or Fashion-MNIST: images (N, 1, 28, 28) in [0, 1], the official 60k/10k split.

    `n` keeps a seeded subsample of n images in all, split between train and test in the
    official 6:1 proportion (each part drawn from its own official split). `params` records
    data_dir only when one was given (the default folder is found again on reload).
    """
    if name not in LABEL_NAMES:
        raise DatasetError(f"unknown IDX dataset {name!r}; choose mnist or fashion-mnist")
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir(name)
    paths = {base: _find(folder, base) for base in IDX_FILES}
    if None in paths.values() and download:
        download_mnist_like(name, folder)
        paths = {base: _find(folder, base) for base in IDX_FILES}
    missing = [f"{b}.gz" for b, p in paths.items() if p is None]
    if missing:
        raise DatasetError(
            f"{name}: missing {', '.join(missing)} in the folder {folder}; place the files "
            f"{_file_list()} there (or the same names without .gz)"
        )

    splits = []
    for split in ("train", "t10k"):
        images = read_idx(paths[f"{split}-images-idx3-ubyte"], expect_ndim=3)
        labels = read_idx(paths[f"{split}-labels-idx1-ubyte"], expect_ndim=1)
        img_name, lab_name = paths[f"{split}-images-idx3-ubyte"].name, paths[f"{split}-labels-idx1-ubyte"].name
        if images.shape[1:] != (28, 28):
            raise DatasetError(f"{img_name}: expected 28x28 images, got {images.shape[1]}x{images.shape[2]}")
        if len(images) != len(labels):
            raise DatasetError(
                f"{img_name} holds {len(images):,} images but {lab_name} holds {len(labels):,} labels"
            )
        if labels.max() >= len(LABEL_NAMES[name]):
            raise DatasetError(f"{lab_name}: labels must be 0..9, found {int(labels.max())}")
        splits.append((images, labels))
    (train_x, train_y), (test_x, test_y) = splits

    if n is not None:
        train_keep, test_keep = _subsample_sizes(n, len(train_x), len(test_x))
        rng = np.random.default_rng(seed)
        tr = np.sort(rng.choice(len(train_x), size=train_keep, replace=False))
        te = np.sort(rng.choice(len(test_x), size=test_keep, replace=False))
        train_x, train_y, test_x, test_y = train_x[tr], train_y[tr], test_x[te], test_y[te]

    images = torch.from_numpy(np.concatenate([train_x, test_x])).unsqueeze(1).float().div_(255.0)
    labels = torch.from_numpy(np.concatenate([train_y, test_y]).astype(np.int64))
    n_train, n_total = len(train_x), len(images)
    params: dict = {} if data_dir is None else {"data_dir": str(data_dir)}
    if n is not None:
        params.update(n=n, seed=seed)
    return Dataset(
        name=name,
        images=images,
        labels=labels,
        label_names=LABEL_NAMES[name],
        train_index=torch.arange(n_train),
        test_index=torch.arange(n_train, n_total),
        params=params,
    )


def _subsample_sizes(n: int, n_train: int, n_test: int) -> tuple[int, int]:
    total = n_train + n_test
    if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= total:
        raise DatasetError(f"dataset size must be an integer in 2..{total:,}, got {n!r}")
    test = min(n_test, max(1, round(n * n_test / total)))
    train = min(n_train, n - test)
    return train, n - train


def load_mnist(data_dir: str | os.PathLike | None = None, download: bool = True,
               n: int | None = None, seed: int = 0) -> Dataset:
    return load_mnist_like("mnist", data_dir, download, n, seed)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, download: bool = True,
                       n: int | None = None, seed: int = 0) -> Dataset:
    return load_mnist_like("fashion-mnist", data_dir, download, n, seed)
