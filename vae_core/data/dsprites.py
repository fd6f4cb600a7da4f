"""dSprites (Matthey et al., 2017) from the official .npz, read without ever unpickling anything.

The archive also holds a pickled `metadata` entry: it is never opened. For each array we need,
the .npy header (shape, dtype, order) is parsed and checked first; then only the rows of a seeded
subsample are kept while the member is inflated in bounded chunks. So the 3 GB `imgs` array is
never materialised, and a hostile header cannot make us allocate more than the subsample.
Pixels are 0/1 in the official file; arrays holding 0..255 are scaled to [0, 1].
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from .base import GZIP_MAGIC, Dataset, DatasetError, default_data_dir, split_indices
from .sprites import SPRITE_FACTOR_NAMES, SPRITE_SHAPES

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_URL = "https://github.com/deepmind/dsprites-dataset"
DSPRITES_GRID = (1, 3, 6, 40, 32, 32)  # colour, shape, scale, orientation, pos_x, pos_y
MAX_N = 100_000  # images kept: 100k x 64 x 64 float32 = 1.6 GB
MAX_DECLARED_BYTES = 4 * 1024**3  # the official imgs array is 3.0 GB
_CHUNK = 8 << 20
# key -> (trailing shape, numpy kinds allowed, what the official file holds)
_ARRAYS = {
    "imgs": ((64, 64), "ub", "uint8"),  # one byte per pixel only: wider integers are refused
    "latents_values": ((6,), "f", "float64"),
    "latents_classes": ((6,), "iu", "int64"),
}


def _resolve(path: str | os.PathLike | None) -> Path:
    p = Path(path).expanduser() if path is not None else default_data_dir("dsprites")
    if p.is_dir() or (path is None and not p.exists()):
        p = p / DSPRITES_FILE
    if not p.is_file():
        raise DatasetError(
            f"dSprites file not found: {p}. Download {DSPRITES_FILE} from {DSPRITES_URL} "
            f"and place it in {p.parent} (or pass the file's path)"
        )
    return p


def _header(zf: zipfile.ZipFile, key: str, label: str):
    """(info, shape, dtype, header length) of one .npy member, after checking them."""
    if f"{key}.npy" not in zf.namelist():
        raise DatasetError(f"{label}: the array {key!r} is not stored as {key}.npy")
    info = zf.getinfo(f"{key}.npy")
    if info.flag_bits & 0x1:
        raise DatasetError(f"{label}: the array {key!r} is encrypted")
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            header_len = f.tell()
    except (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        raise DatasetError(f"{label}: the array {key!r} has an unreadable header ({exc})") from None
    tail, kinds, official = _ARRAYS[key]
    if dtype.hasobject:
        raise DatasetError(f"{label}: the array {key!r} holds Python objects, which are never loaded")
    if (dtype.kind not in kinds or dtype.subdtype is not None or dtype.names
            or (key == "imgs" and dtype.itemsize != 1)):
        raise DatasetError(f"{label}: the array {key!r} has dtype {dtype}, expected {official}")
    if len(shape) != 1 + len(tail) or tuple(shape[1:]) != tail:
        want = "(N, " + ", ".join(map(str, tail)) + ")"
        raise DatasetError(f"{label}: the array {key!r} has shape {tuple(shape)}, expected {want}")
    if fortran:
        raise DatasetError(f"{label}: the array {key!r} is stored in Fortran order; C order is needed")
    data_bytes = math.prod(int(d) for d in shape) * dtype.itemsize  # Python integers: no overflow
    if data_bytes > MAX_DECLARED_BYTES:
        raise DatasetError(
            f"{label}: the array {key!r} declares {data_bytes:,} bytes, over the limit of {MAX_DECLARED_BYTES:,}"
        )
    if info.file_size != header_len + data_bytes:
        raise DatasetError(
            f"{label}: the array {key!r} declares shape {tuple(shape)} ({data_bytes:,} bytes) "
            f"but its member holds {info.file_size - header_len:,} bytes"
        )
    return info, tuple(int(s) for s in shape), dtype, header_len


def _read_rows(zf, info, header_len, shape, dtype, rows, key, label) -> np.ndarray:
    """The given sorted rows of one array, read by streaming through the member once."""
    row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
    out = np.empty((len(rows), row_bytes), dtype=np.uint8)
    per_chunk = max(1, _CHUNK // row_bytes)
    done = 0
    try:
        with zf.open(info) as f:
            f.read(header_len)
            for start in range(0, int(rows[-1]) + 1, per_chunk):
                count = min(per_chunk, shape[0] - start)
                want, parts = count * row_bytes, []
                while want > 0 and (part := f.read(min(want, _CHUNK))):
                    parts.append(part)
                    want -= len(part)
                if want:
                    raise DatasetError(f"{label}: the array {key!r} is truncated")
                block = np.frombuffer(b"".join(parts), dtype=np.uint8).reshape(count, row_bytes)
                end = int(np.searchsorted(rows, start + count))
                out[done:end] = block[rows[done:end] - start]
                done = end
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        raise DatasetError(f"{label}: the array {key!r} is corrupt ({exc})") from None
    return out.view(dtype).reshape(len(rows), *shape[1:]).astype(dtype.newbyteorder("="))


def load_dsprites(path: str | os.PathLike | bytes | None = None, n: int = 20_000, seed: int = 0) -> Dataset:
    """A seeded subsample of n dSprites images (N, 1, 64, 64) in [0, 1], with their factors.

    `path` is the .npz file, its folder (default: the `dsprites` data folder, see
    idx.default_data_dir), or the file's bytes (an upload). The constant colour factor is dropped;
    labels are the shape.
    """
    if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= MAX_N:
        raise DatasetError(f"dsprites: n must be an integer in 2..{MAX_N:,}, got {n!r}")
    if isinstance(path, (bytes, bytearray)):  # an upload, read in memory
        file, label = io.BytesIO(path), "the uploaded file"
    else:
        file = _resolve(path)
        label = file.name
    size = len(path) if isinstance(path, (bytes, bytearray)) else (file.stat().st_size if file.is_file() else None)
    if size == 0:
        raise DatasetError(f"{label}: the file is empty (0 bytes)")
    if not zipfile.is_zipfile(file):
        head = path[:2] if isinstance(path, (bytes, bytearray)) else file.open("rb").read(2)
        if bytes(head) == GZIP_MAGIC:
            raise DatasetError(f"{label}: gzip-compressed: decompress it (gunzip) to the .npz first")
        raise DatasetError(f"{label}: not an .npz archive")
    try:
        npz = np.load(file, allow_pickle=False)  # only used for its member list; no array is read
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{label}: cannot open the archive ({exc})") from None
    with npz:
        missing = [k for k in _ARRAYS if k not in npz.files]
        if missing:
            raise DatasetError(f"{label}: missing array(s) {', '.join(missing)}")
        zf = npz.zip
        heads = {k: _header(zf, k, label) for k in _ARRAYS}
        counts = {k: h[1][0] for k, h in heads.items()}
        if len(set(counts.values())) != 1:
            got = ", ".join(f"{k} {c:,}" for k, c in counts.items())
            raise DatasetError(f"{label}: the arrays hold different numbers of rows ({got})")
        total = counts["imgs"]
        if total < 2:
            raise DatasetError(f"{label}: holds {total} images; at least 2 are needed")
        keep = min(n, total)
        rows = np.sort(np.random.default_rng(seed).choice(total, size=keep, replace=False))
        arrays = {}
        for key, (info, shape, dtype, header_len) in heads.items():
            arrays[key] = _read_rows(zf, info, header_len, shape, dtype, rows, key, label)

    classes = arrays["latents_classes"].astype(np.int64)
    if ((classes < 0) | (classes >= np.array(DSPRITES_GRID))).any():
        raise DatasetError(f"{label}: latents_classes out of range; the dSprites grid is {DSPRITES_GRID}")
    values = arrays["latents_values"].astype(np.float32)
    if not np.isfinite(values).all():
        raise DatasetError(f"{label}: latents_values holds non-finite numbers")
    imgs = arrays["imgs"]
    scale = 255.0 if imgs.max() > 1 else 1.0
    images = torch.from_numpy(imgs).unsqueeze(1).float().div_(scale)
    train, test = split_indices(keep)
    params: dict = {"n": n, "seed": seed}
    if path is not None and not isinstance(path, (bytes, bytearray)):
        params = {"path": str(path), **params}
    return Dataset(
        name="dsprites",
        images=images,
        labels=torch.from_numpy(classes[:, 1].copy()),
        label_names=SPRITE_SHAPES,
        train_index=train,
        test_index=test,
        factors=torch.from_numpy(values[:, 1:].copy()),
        factor_classes=torch.from_numpy(classes[:, 1:].copy()),
        factor_names=SPRITE_FACTOR_NAMES,
        params=params,
    )
