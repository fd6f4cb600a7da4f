import io

import numpy as np
import torch
from PIL import Image

from vae_core.imaging import display_scale, gif_bytes, png_bytes, tile, to_pil, to_uint8, traversal_gif


def test_tile_places_images_row_major_with_padding():
    images = torch.stack([torch.full((1, 2, 2), v) for v in (0.0, 1.0, 0.5)])
    grid = tile(images, ncol=2, pad=1, pad_value=0.0)
    assert grid.shape == (2 * 3 + 1, 2 * 3 + 1, 1)
    assert grid[1, 1, 0] == 0 and grid[1, 4, 0] == 255 and grid[4, 1, 0] == 128
    assert grid[4, 4, 0] == 0  # the empty fourth cell


def test_to_uint8_clamps_and_moves_channels_last():
    x = torch.tensor([[[[-1.0, 0.5], [2.0, 1.0]]]]).repeat(1, 3, 1, 1)
    out = to_uint8(x)
    assert out.shape == (1, 2, 2, 3) and out.dtype == np.uint8
    assert out[0, :, :, 0].tolist() == [[0, 128], [255, 255]]


def test_small_images_are_enlarged_with_crisp_pixels():
    assert display_scale(8, 160) == 20 and display_scale(64, 160) == 2
    img = to_pil(np.array([[[0], [255]]], dtype=np.uint8), scale=3)
    assert img.size == (6, 3)
    assert np.array(img)[:, :3].max() == 0 and np.array(img)[:, 3:].min() == 255


def test_gif_loops_forward_and_back_and_png_round_trips():
    frames = [Image.new("L", (4, 4), v) for v in (0, 100, 200)]
    gif = Image.open(io.BytesIO(gif_bytes(frames)))
    assert gif.format == "GIF" and gif.n_frames == 4  # 0, 100, 200, 100
    assert gif.info.get("loop") == 0
    png = Image.open(io.BytesIO(png_bytes(frames[1])))
    assert png.format == "PNG" and np.array(png).max() == 100


def test_a_traversal_gif_shows_one_step_of_every_row_per_frame_forward_then_back():
    rows, steps = 3, 5
    images = torch.zeros(rows * steps, 1, 8, 8)
    for r in range(rows):
        for t in range(steps):
            images[r * steps + t, 0, :, t] = 1.0  # row r, step t: a bright column at x = t
    gif = Image.open(io.BytesIO(traversal_gif(images, rows, ["z0", "z1", "z2"], scale=1)))
    assert gif.n_frames == steps + (steps - 2)  # forward, then back without repeating the ends
    widths = []
    for frame in range(steps):
        gif.seek(frame)
        pixels = np.asarray(gif.convert("L"))
        first_image = pixels[1:9, 170 + 1 : 170 + 9]  # the label margin, then the top row's image
        widths.append(int(np.argmax(first_image.sum(0))))
    assert widths == list(range(steps))


def test_row_labels_never_draw_a_missing_glyph(monkeypatch):
    """Pillow's own font has no β: the label is then spelled out, and draws as 'beta' does."""
    from PIL import ImageFont

    from vae_core import imaging

    img = Image.new("L", (20, 40))
    drawn = imaging.label_rows(img, ["β-VAE β=4", "z1 · mean σ 0.20"])
    if imaging.label_font(12)[1]:  # a font with Greek: the letter is drawn, not the word
        assert drawn.tobytes() != imaging.label_rows(img, ["beta-VAE beta=4", "z1 · mean sigma 0.20"]).tobytes()
    monkeypatch.setattr(imaging, "label_font", lambda size: (ImageFont.load_default(size=size), False))
    assert imaging.label_rows(img, ["β-VAE β=4", "z1 · mean σ 0.20"]).tobytes() == imaging.label_rows(
        img, ["beta-VAE beta=4", "z1 · mean sigma 0.20"]).tobytes()


def test_a_long_row_label_shrinks_to_fit_its_margin():
    from vae_core import imaging

    img = Image.new("L", (40, 40), 255)  # white: any ink on it is a label running under the image
    out = imaging.label_rows(img, ["z2 · KL 2.52 · σ 0.20 · pos_x 0.36 and then some more words"], width=120)
    pixels = np.asarray(out.convert("L"))
    assert pixels[:, 120:].min() == 255  # nothing drawn over the image
    assert pixels[:, :120].min() < 128  # and the label is there
