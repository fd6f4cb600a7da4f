"""Turn image tensors into pixels for display and download (PNG, animated GIF)."""

from __future__ import annotations

import functools
import io

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) or (C, H, W) in [0, 1] -> (B, H, W, C) / (H, W, C) uint8."""
    x = images.detach().to("cpu", torch.float32).clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def tile(images: torch.Tensor, ncol: int, pad: int = 1, pad_value: float = 0.25) -> np.ndarray:
    """Arrange (B, C, H, W) row-major in a grid with `ncol` columns: (H', W', C) uint8."""
    b, c, h, w = images.shape
    nrow = -(-b // ncol)
    canvas = torch.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), pad_value)
    for i in range(b):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[:, top : top + h, left : left + w] = images[i].detach().cpu().clamp(0, 1)
    return to_uint8(canvas)


def to_pil(pixels: np.ndarray, scale: int = 1) -> Image.Image:
    """(H, W, 1|3) uint8 -> PIL image, enlarged by `scale` with nearest-neighbour (keeps pixels crisp)."""
    img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return img


def display_scale(height: int, target: int = 160) -> int:
    """An integer enlargement so that small images (8x8) show at a readable size."""
    return max(1, round(target / height))


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: list[Image.Image], duration_ms: int = 120, bounce: bool = True) -> bytes:
    """An endlessly looping animated GIF; `bounce` plays forward then back."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    seq = frames + frames[-2:0:-1] if bounce and len(frames) > 2 else frames
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


_GREEK_NAMES = {"α": "alpha", "β": "beta", "γ": "gamma", "μ": "mu", "σ": "sigma", "ε": "epsilon", "λ": "lambda"}


@functools.lru_cache(maxsize=32)
def label_font(size: int):
    """(font, whether it draws Greek): DejaVu Sans where the system has it, else Pillow's own font,
    which has no Greek letters. Cached: a traversal GIF labels every frame."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size), True
    except OSError:
        return ImageFont.load_default(size=size), False


def spell_greek(text: str) -> str:
    return "".join(_GREEK_NAMES.get(ch, ch) for ch in text)


def label_rows(img: Image.Image, labels: list[str], width: int = 200) -> Image.Image:
    """The image with a white margin on its left holding one label per row (rows of equal height);
    Greek letters are spelled out when the font can't draw them."""
    from PIL import ImageDraw

    out = Image.new("RGB", (img.width + width, img.height), "white")
    draw, row = ImageDraw.Draw(out), img.height / max(len(labels), 1)
    size = max(10, min(22, int(row * 0.3)))
    font, greek = label_font(size)
    texts = [text if greek else spell_greek(text) for text in labels]
    while size > 8 and max((draw.textlength(t, font=font) for t in texts), default=0) > width - 8:
        size -= 1  # the longest label must fit the margin, not run under the image
        font, _ = label_font(size)
    for i, text in enumerate(texts):
        draw.text((4, int(i * row + row / 2)), text, fill="black", font=font, anchor="lm")
    out.paste(img.convert("RGB"), (width, 0))  # last: a label too long even at 8 px ends under the image
    return out


def traversal_gif(images: torch.Tensor, rows: int, labels: list[str] | None = None, scale: int = 1,
                  duration_ms: int = 120) -> bytes:
    """An animated traversal, as disentanglement_lib writes offline: `images` is a traversal grid
    (rows × steps, row-major); frame t shows step t of every row, stacked top to bottom, and the
    animation plays forward then back."""
    steps = images.shape[0] // rows
    grid = images.reshape(rows, steps, *images.shape[1:])
    frames = []
    for t in range(steps):
        frame = to_pil(tile(grid[:, t], ncol=1), scale)
        frames.append(label_rows(frame, labels, width=170) if labels else frame)
    return gif_bytes(frames, duration_ms=duration_ms)
