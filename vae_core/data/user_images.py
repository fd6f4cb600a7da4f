"""The user's own images as a dataset, plus single images and drawings as model inputs.

Everything here is untrusted, so:
- Formats: PNG, JPEG, BMP, GIF and WebP only, judged by what Pillow decodes, never by the name.
- Size: the pixel count and aspect ratio are read from the header and checked before the pixels
  are decoded; the full decode runs inside try/except, and truncated files are rejected
  (Pillow's LOAD_TRUNCATED_IMAGES is never turned on).
- Pixels: every mode ends as 8-bit "L" (1 channel) or "RGB" (3 channels). 16-bit images are
  scaled down, 1-bit and palette images expanded, CMYK converted, and any transparency
  (alpha, or a palette's transparent colour) is composited on black, the background of
  MNIST-like data. Only the first frame of an animation is used.
- Geometry: each image is center-cropped to the target's aspect ratio (square for datasets),
  then resized with a Lanczos filter. Cropping keeps the scale of the subject; nothing is padded.
- Zips are read in memory with `zipfile`; member names are only ever split into labels, never
  used as paths. Entry count, declared size, compression ratio and the bytes actually read are
  all capped; encrypted members and zips inside the zip are reported and not opened; folders,
  `__MACOSX/` and dotfiles are passed over silently.

Labels come from folders: the folder levels shared by every image are dropped, and the next
folder names the label ("animals/cats/a.png" and "animals/dogs/b.png" give "cats" and "dogs").
Images directly in that root are labelled "unlabelled"; when all images sit in one folder, that
folder names the (single) label.

Policy for mixed good and bad files: the good ones are kept, and every file left out is listed
with its reason in the returned report. Only when no usable image remains (or fewer than two) is
a DatasetError raised, summarising the reasons.
"""

from __future__ import annotations

import io
import os
import struct
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .base import GZIP_MAGIC, Dataset, DatasetError, split_indices

IMAGE_SIZES = (28, 32, 64)
MODES = ("L", "RGB")
ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
_ZIP_MAGIC = b"PK\x03\x04"
# Formats Pillow names apart that are one of those: MPO is the multi-picture JPEG many cameras and
# phones write (Pillow's JPEG opener returns it; its first picture is an ordinary JPEG).
_FORMAT_FAMILY = {"MPO": "JPEG"}
_MAGIC = (("PNG", b"\x89PNG\r\n\x1a\n"), ("JPEG", b"\xff\xd8\xff"), ("GIF", b"GIF87a"), ("GIF", b"GIF89a"),
          ("BMP", b"BM"), ("zip", _ZIP_MAGIC), ("gzip", GZIP_MAGIC), ("PDF", b"%PDF"),
          ("TIFF", b"II*\x00"), ("TIFF", b"MM\x00*"))
_NOT_IMAGES = {
    "gzip": "a gzip-compressed file, not an image: decompress it first",
    "PDF": "a PDF document, not an image",
    "TIFF": "a TIFF image, which is not accepted: save it as PNG",
    "HEIC/AVIF": "a HEIC/AVIF photo, which is not accepted: export it as JPEG or PNG",
}
MAX_PIXELS = 40_000_000  # per image, from its header; Pillow itself only warns at ~89 M
MAX_ASPECT = 20.0
MAX_IMAGE_BYTES = 32 * 1024 * 1024  # one file, as stored
MAX_UPLOAD_BYTES = 512 * 1024 * 1024  # one zip, or all uploaded files together
MAX_TOTAL_BYTES = 512 * 1024 * 1024  # uncompressed bytes read out of one zip or folder
MAX_FILES = 5_000  # images in one dataset
MAX_ZIP_ENTRIES = 10_000  # entries of any kind in one zip
MAX_RATIO = 200  # uncompressed : compressed, for members over RATIO_FLOOR bytes
RATIO_FLOOR = 64 * 1024  # smaller members are harmless whatever their ratio
MAX_CANVAS_SIDE = 4096
UNLABELLED = "unlabelled"
_ZIP_SUFFIXES = (".zip", ".jar", ".apk", ".docx", ".xlsx", ".odt")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SkippedFile:
    name: str
    reason: str


class _Skip(Exception):
    """One file is unusable; its reason goes into the report."""


# --- decoding one image -------------------------------------------------------------------


def _to_8bit(img: Image.Image, mode: str) -> Image.Image:
    """Any decoded Pillow image -> 8-bit `mode` ("L" or "RGB"), transparency composited on black."""
    m = img.mode
    if m.startswith("I") or m == "F":  # 16-bit grayscale PNGs open as "I;16" or "I"
        a = np.asarray(img, dtype=np.float64)
        a = a if m == "F" else a / 257.0
        img = Image.fromarray(np.clip(a, 0, 255).round().astype(np.uint8), "L")
    elif m in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    if img.mode not in ("L", "RGB"):  # "1", "P", CMYK, YCbCr, the composited RGBA
        img = img.convert("RGB")
    return img.convert(mode)


def _fit(img: Image.Image, width: int, height: int) -> Image.Image:
    """Center-crop to width:height, then resize to exactly that (Lanczos)."""
    w, h = img.size
    if w * height > h * width:  # too wide: crop the sides
        cw = max(1, round(h * width / height))
        box = ((w - cw) / 2, 0, (w + cw) / 2, h)
    else:
        ch = max(1, round(w * height / width))
        box = (0, (h - ch) / 2, w, (h + ch) / 2)
    return img.resize((width, height), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def sniff_format(data: bytes) -> str | None:
    """What the first bytes say a file is ("PNG", "gzip", …), whatever its name; None if unknown."""
    head = bytes(data[:16])
    for name, magic in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
        return "HEIC/AVIF"
    return None


def _check_declared_size(data: bytes, sniffed: str | None) -> None:
    """When Pillow refuses a PNG outright, name absurd dimensions in its header if that is why."""
    if sniffed == "PNG" and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        if w * h > MAX_PIXELS:
            raise _Skip(f"{w}x{h} is over the limit of {MAX_PIXELS:,} pixels")


def _decode(data: bytes, mode: str, width: int, height: int) -> np.ndarray:
    """Image bytes -> (height, width, C) uint8, or _Skip with the reason."""
    if not data:
        raise _Skip("the file is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise _Skip(f"{len(data):,} bytes, over the per-file limit of {MAX_IMAGE_BYTES:,}")
    sniffed = sniff_format(data)
    if sniffed == "zip":
        raise _Skip("a zip archive, not an image (not opened)")
    if sniffed in _NOT_IMAGES:
        raise _Skip(_NOT_IMAGES[sniffed])
    try:
        img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)  # lazy: reads the header only
    except Image.DecompressionBombError:
        raise _Skip(f"over the limit of {MAX_PIXELS:,} pixels") from None
    except UnidentifiedImageError:
        _check_declared_size(data, sniffed)
        if sniffed in ALLOWED_FORMATS:  # it says it is one: then it is a broken one
            raise _Skip(f"a corrupt {sniffed} file: its header can't be read") from None
        raise _Skip("not a PNG, JPEG, BMP, GIF or WebP image") from None
    except Exception as exc:  # Pillow raises many types on malformed headers
        _check_declared_size(data, sniffed)
        kind = f"a corrupt {sniffed} file" if sniffed in ALLOWED_FORMATS else "an unreadable image"
        raise _Skip(f"{kind}: its header can't be read ({str(exc)[:120]})") from None
    with img:
        if _FORMAT_FAMILY.get(img.format, img.format) not in ALLOWED_FORMATS:
            raise _Skip(f"format {img.format} is not allowed (PNG, JPEG, BMP, GIF or WebP)")
        w, h = img.size
        if w < 1 or h < 1:
            raise _Skip(f"{w}x{h} has no pixels")
        if w * h > MAX_PIXELS:
            raise _Skip(f"{w}x{h} is over the limit of {MAX_PIXELS:,} pixels")
        if max(w, h) > MAX_ASPECT * min(w, h):
            raise _Skip(f"{w}x{h} has an aspect ratio over {MAX_ASPECT:g}:1")
        try:
            img.load()  # the full decode: truncated or corrupt data fails here
            upright = ImageOps.exif_transpose(img)
            out = _fit(_to_8bit(upright, mode), width, height)
        except Exception as exc:
            raise _Skip(f"a corrupt or truncated {_FORMAT_FAMILY.get(img.format, img.format)} image "
                        f"({str(exc)[:120]})") from None
    arr = np.array(out, dtype=np.uint8)  # a writable copy, so torch can share it
    return arr[..., None] if arr.ndim == 2 else arr


def _check_options(size: int, mode: str) -> None:
    if size not in IMAGE_SIZES:
        raise DatasetError(f"image size must be one of {', '.join(map(str, IMAGE_SIZES))}, got {size!r}")
    if mode not in MODES:
        raise DatasetError(f"image mode must be 'L' (grayscale) or 'RGB' (colour), got {mode!r}")


def _check_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(image_shape)
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape[1:]) < 1:
        raise DatasetError(f"image_shape must be (C, H, W) with C 1 or 3, got {image_shape!r}")
    return int(shape[0]), int(shape[1]), int(shape[2])


# --- names and labels ---------------------------------------------------------------------


def _clean(text: str, limit: int) -> str:
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parts(name: str) -> list[str]:
    """A member name split into folder/file parts; '', '.', '..' and drive letters dropped."""
    parts = name.replace("\\", "/").split("/")
    return [p for p in parts if p not in ("", ".", "..") and not p.endswith(":")]


def _hidden(parts: list[str]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _labels(names: Sequence[str]) -> list[str]:
    folders = [tuple(_parts(n)[:-1]) for n in names]
    common = list(folders[0])
    for f in folders[1:]:
        while common and tuple(common) != f[: len(common)]:
            common.pop()
    depth = len(common)
    if all(len(f) == depth for f in folders):  # all in one folder: it names the label
        raw = [common[-1] if common else UNLABELLED] * len(folders)
    else:
        raw = [f[depth] if len(f) > depth else UNLABELLED for f in folders]
    return [_clean(r, 64) or UNLABELLED for r in raw]


# --- reading zips and folders -------------------------------------------------------------


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, read in bounded steps; never more than its declared size."""
    parts, total = [], 0
    with zf.open(info) as f:  # reading to the end also checks the CRC
        while part := f.read(min(_CHUNK, info.file_size + 1 - total)):
            total += len(part)
            if total > info.file_size:
                raise zipfile.BadZipFile("more data than its declared size")
            parts.append(part)
    return b"".join(parts)


def _zip_entries(data: bytes, skipped: list[SkippedFile]) -> list[tuple[str, bytes]]:
    if len(data) > MAX_UPLOAD_BYTES:
        raise DatasetError(f"the zip is {len(data):,} bytes, over the limit of {MAX_UPLOAD_BYTES:,}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"not a valid zip archive ({exc})") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise DatasetError(f"the zip has {len(infos):,} entries, over the limit of {MAX_ZIP_ENTRIES:,}")
    entries, total = [], 0
    with zf:
        for info in infos:
            parts = _parts(info.filename)
            if info.is_dir() or not parts or _hidden(parts):
                continue
            name = _clean("/".join(parts), 200)
            reason = None
            if info.flag_bits & 0x1:
                reason = "encrypted; not read"
            elif parts[-1].lower().endswith(_ZIP_SUFFIXES):
                reason = "an archive inside the zip; nested archives are not opened"
            elif info.file_size > MAX_IMAGE_BYTES:
                reason = f"declares {info.file_size:,} bytes, over the per-file limit of {MAX_IMAGE_BYTES:,}"
            elif info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                ratio = info.file_size / max(info.compress_size, 1)
                reason = f"compression ratio {ratio:,.0f}:1 is over the limit of {MAX_RATIO}:1"
            elif total + info.file_size > MAX_TOTAL_BYTES:
                reason = f"not read: the zip's images exceed {MAX_TOTAL_BYTES:,} bytes in all"
            elif len(entries) >= MAX_FILES:
                reason = f"not read: more than {MAX_FILES:,} images"
            if reason is None:
                try:
                    content = _read_member(zf, info)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
                    reason = f"corrupt inside the zip ({exc})"
                else:
                    total += len(content)
                    if content[:4] == _ZIP_MAGIC:
                        reason = "an archive inside the zip; nested archives are not opened"
                    else:
                        entries.append((name, content))
            if reason is not None:
                skipped.append(SkippedFile(name, reason))
    if not entries and not skipped:
        raise DatasetError("the zip holds no images (only folders or hidden files)")
    return entries


def _folder_entries(root: Path, skipped: list[SkippedFile]) -> list[tuple[str, bytes]]:
    entries, total = [], 0
    for dirpath, dirnames, filenames in os.walk(root):  # symlinked folders are not followed
        dirnames[:] = sorted(d for d in dirnames if not _hidden([d]))
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            name = _clean(path.relative_to(root).as_posix(), 200)
            if _hidden([fname]):
                continue
            try:
                size = path.lstat().st_size
                if path.is_symlink():
                    reason = "a symbolic link; not followed"
                elif size > MAX_IMAGE_BYTES:
                    reason = f"{size:,} bytes, over the per-file limit of {MAX_IMAGE_BYTES:,}"
                elif total + size > MAX_TOTAL_BYTES:
                    reason = f"not read: the folder's images exceed {MAX_TOTAL_BYTES:,} bytes in all"
                elif len(entries) >= MAX_FILES:
                    reason = f"not read: more than {MAX_FILES:,} images"
                else:
                    with path.open("rb") as f:
                        content = f.read(MAX_IMAGE_BYTES + 1)
                    total += len(content)
                    entries.append((name, content))
                    continue
            except OSError as exc:
                reason = f"cannot read it ({exc.strerror or exc})"
            skipped.append(SkippedFile(name, reason))
    return entries


# --- datasets -----------------------------------------------------------------------------


def _summary(skipped: Sequence[SkippedFile], shown: int = 5) -> str:
    lines = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:shown])
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"{len(skipped)} file(s) skipped: {lines}{more}" if skipped else "no files"


def _build(
    entries: Sequence[tuple[str, bytes]], size: int, mode: str, skipped: list[SkippedFile],
    params: dict,
) -> tuple[Dataset, list[SkippedFile]]:
    names, arrays = [], []
    for name, data in entries:
        try:
            arrays.append(_decode(data, mode, size, size))
            names.append(name)
        except _Skip as exc:
            skipped.append(SkippedFile(name, str(exc)))
    if len(arrays) < 2:
        found = "no usable images" if not arrays else f"only 1 usable image ({names[0]}); 2 are needed"
        raise DatasetError(f"{found}: {_summary(skipped)}")
    labels = _labels(names)
    label_names = tuple(sorted(set(labels)))
    index = {lab: i for i, lab in enumerate(label_names)}
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
    train, test = split_indices(len(arrays))
    data = Dataset(
        name="images",
        images=images,
        labels=torch.tensor([index[lab] for lab in labels], dtype=torch.int64),
        label_names=label_names,
        train_index=train,
        test_index=test,
        params=params,
    )
    return data, skipped


def load_user_images(
    source: bytes | Sequence[tuple[str, bytes]], *, size: int = 32, mode: str = "L"
) -> tuple[Dataset, list[SkippedFile]]:
    """Uploaded images as a Dataset (N, C, size, size), plus the files skipped and why.

    `source` is one zip's bytes or a list of (filename, bytes); a list holding a single zip is
    read as that zip. `mode` is "L" (grayscale) or "RGB" (colour).
    """
    _check_options(size, mode)
    skipped: list[SkippedFile] = []
    if isinstance(source, (bytes, bytearray, memoryview)):
        entries = _zip_entries(bytes(source), skipped)
    else:
        files = list(source)
        if len(files) == 1 and bytes(files[0][1][:4]) == _ZIP_MAGIC:
            entries = _zip_entries(bytes(files[0][1]), skipped)
        else:
            if len(files) > MAX_FILES:
                raise DatasetError(f"{len(files):,} files, over the limit of {MAX_FILES:,}")
            total = sum(len(data) for _, data in files)
            if total > MAX_UPLOAD_BYTES:
                raise DatasetError(f"the files hold {total:,} bytes, over the limit of {MAX_UPLOAD_BYTES:,}")
            entries = []
            for name, data in files:
                name = _clean(str(name), 200) or "(unnamed)"
                if bytes(data[:4]) == _ZIP_MAGIC:
                    skipped.append(SkippedFile(name, "a zip archive: upload a zip on its own"))
                else:
                    entries.append((name, bytes(data)))
    return _build(entries, size, mode, skipped, {"source": "upload"})


def load_image_path(
    path: str | os.PathLike, *, size: int = 32, mode: str = "L"
) -> tuple[Dataset, list[SkippedFile]]:
    """A zip file or a folder of images (subfolders name the labels) as a Dataset, plus skips."""
    _check_options(size, mode)
    root = Path(path).expanduser()
    skipped: list[SkippedFile] = []
    params = {"source": "path", "path": str(path), "size": size, "mode": mode}
    if root.is_dir():
        entries = _folder_entries(root, skipped)
        if not entries and not skipped:
            raise DatasetError(f"the folder {root} holds no images")
        return _build(entries, size, mode, skipped, params)
    if not root.is_file():
        raise DatasetError(f"no such zip file or folder: {root}")
    if not zipfile.is_zipfile(root):
        raise DatasetError(f"{root.name}: not a zip archive (pass a zip file or a folder of images)")
    if root.stat().st_size > MAX_UPLOAD_BYTES:
        raise DatasetError(f"{root.name}: over the limit of {MAX_UPLOAD_BYTES:,} bytes")
    try:
        data = root.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {root}: {exc.strerror or exc}") from None
    return _build(_zip_entries(data, skipped), size, mode, skipped, params)


# --- single inputs for a trained model ----------------------------------------------------


def image_to_tensor(data: bytes, image_shape: Sequence[int], *, name: str = "image") -> torch.Tensor:
    """One uploaded image -> (C, H, W) float in [0, 1] for a model's image_shape, same checks."""
    c, h, w = _check_shape(image_shape)
    try:
        arr = _decode(bytes(data), "L" if c == 1 else "RGB", w, h)
    except _Skip as exc:
        raise DatasetError(f"{_clean(name, 200)}: {exc}") from None
    return torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0).contiguous()


def canvas_to_tensor(
    rgba: np.ndarray, image_shape: Sequence[int], *, invert: bool | None = None
) -> torch.Tensor:
    """A drawing (H, W, 4) uint8 RGBA (or RGB) -> (C, H, W) float in [0, 1] for a model.

    Either convention works: white strokes on black, or black strokes on white, with an opaque
    or transparent background. Transparent pixels show the background that contrasts with the
    ink (white under dark ink, black under light ink). Then, with `invert=None`, the picture is
    inverted when its border is mostly light, so strokes always come out light on dark, like
    MNIST; pass True/False to force it. Finally center-crop and Lanczos resize, as for uploads.
    """
    c, h, w = _check_shape(image_shape)
    a = np.asarray(rgba)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise DatasetError(f"a drawing must be an (H, W, 4) uint8 array, got {a.shape} {a.dtype}")
    ch, cw = a.shape[:2]
    if not (1 <= ch <= MAX_CANVAS_SIDE and 1 <= cw <= MAX_CANVAS_SIDE):
        raise DatasetError(f"a drawing must be 1..{MAX_CANVAS_SIDE} pixels a side, got {cw}x{ch}")
    if max(ch, cw) > MAX_ASPECT * min(ch, cw):
        raise DatasetError(f"a drawing of {cw}x{ch} has an aspect ratio over {MAX_ASPECT:g}:1")
    rgb = a[..., :3].astype(np.float32) / 255.0
    if a.shape[2] == 4:
        alpha = a[..., 3:].astype(np.float32) / 255.0
        lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        ink = alpha[..., 0] > 0.5
        dark_ink = ink.any() and float(lum[ink].mean()) < 0.5
        rgb = rgb * alpha + (1.0 - alpha) * (1.0 if dark_ink else 0.0)
    if invert is None:
        border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
        invert = float(border.mean()) > 0.5
    if invert:
        rgb = 1.0 - rgb
    img = Image.fromarray((rgb * 255.0).round().astype(np.uint8), "RGB").convert("L" if c == 1 else "RGB")
    arr = np.asarray(_fit(img, w, h), dtype=np.uint8)
    arr = arr[..., None] if arr.ndim == 2 else arr
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0).contiguous()


def normalize_levels(image: torch.Tensor, ink_percentile: float = 99.0) -> torch.Tensor:
    """Stretch a light-on-dark (C, H, W) image in [0, 1] so that its background is 0 and its ink 1, as in
    the datasets. A photo of a digit on grey paper, once inverted, has a grey, noisy background and grey
    ink: the background level is the median of the border, its noise the border's spread (MAD), and
    everything within two noise widths of the background becomes 0. A flat image is kept as it is."""
    border = _border(image)
    bg = float(border.median())
    noise = 1.4826 * float((border - bg).abs().median())
    floor = bg + 2 * noise
    ink = float(torch.quantile(image.flatten(), ink_percentile / 100))
    if ink - floor < 0.05:
        return image
    return ((image - floor) / (ink - floor)).clamp_(0.0, 1.0)


def _border(image: torch.Tensor) -> torch.Tensor:
    """The outermost pixels of a (C, H, W) image, flattened: where a picture's background shows."""
    return torch.cat([image[..., 0, :], image[..., -1, :], image[..., :, 0], image[..., :, -1]], dim=-1).flatten()


def has_light_background(image: torch.Tensor) -> bool:
    """True when the border of a (C, H, W) image in [0, 1] is mostly light (dark ink on paper)."""
    return bool(_border(image).mean() > 0.5)
