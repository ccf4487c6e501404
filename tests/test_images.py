"""Pillow helpers: round trips, clear errors for bad files, atomic grids with labels."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from guide_pl.images import load_image, load_image_tensor, pil_to_tensor, save_grid, tensor_to_pil


def _random_image(seed: int, size: int = 16) -> torch.Tensor:
    return torch.rand(3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_tensor_pil_round_trip_within_quantisation():
    image = _random_image(0)
    back = pil_to_tensor(tensor_to_pil(image[None]))
    assert back.shape == image.shape
    assert (back - image).abs().max().item() <= 1 / 127.5 / 2 + 1e-6  # half an 8-bit step


def test_known_pixel_values():
    image = torch.tensor([-1.0, 0.0, 1.0]).view(3, 1, 1)
    assert tensor_to_pil(image).getpixel((0, 0)) == (0, 128, 255)  # (0 + 1) · 127.5 = 127.5 → 128
    assert pil_to_tensor(Image.new("RGB", (1, 1), (0, 255, 51))).flatten().tolist() == pytest.approx([-1, 1, -0.6])


def test_tensor_to_pil_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        tensor_to_pil(torch.zeros(2, 3, 4, 4))


def test_png_file_round_trip_is_exact(tmp_path):
    image = _random_image(1)
    path = tmp_path / "x.png"
    tensor_to_pil(image).save(path)
    expected = pil_to_tensor(tensor_to_pil(image))
    assert torch.equal(load_image_tensor(path), expected)
    assert load_image_tensor(path, size=8).shape == (3, 8, 8)


def test_missing_corrupt_and_truncated_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        load_image(tmp_path / "nope.jpg")
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ValueError, match="garbage.jpg"):
        load_image(garbage)
    # A real JPEG cut in half: open() succeeds, decoding must fail and name the file.
    full = tmp_path / "full.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(full, quality=95)
    data = full.read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.jpg"):
        load_image(truncated)
    assert load_image(full).size == (64, 64)


def test_save_grid_layout_labels_and_atomic_write(tmp_path):
    red = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 8, 8)
    blue_pil = Image.new("RGB", (4, 4), (0, 0, 255))
    path = tmp_path / "sub" / "grid.png"
    out = save_grid([[red, None], [blue_pil, red]], path, cell_size=16, padding=2)
    assert out == path
    grid = Image.open(path)
    assert grid.size == (2 * 18 + 2, 2 * 18 + 2)
    assert grid.getpixel((2 + 8, 2 + 8)) == (255, 0, 0)  # row 0, col 0
    assert grid.getpixel((20 + 8, 2 + 8)) == (255, 255, 255)  # empty cell keeps the background
    assert grid.getpixel((2 + 8, 20 + 8)) == (0, 0, 255)  # PIL cell, resized
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]  # no temp file left behind

    labelled = save_grid([[red, red]], tmp_path / "labelled.png", cell_size=32, labels=["before", "after"])
    with Image.open(labelled) as image:
        assert image.size[1] > 32 + 4  # a label strip on top
        strip = np.asarray(image.convert("L"))[: image.size[1] - 36]
        assert strip.min() < 128  # some dark text was drawn


def test_save_grid_failure_leaves_no_file(tmp_path):
    path = tmp_path / "bad.png"
    with pytest.raises(ValueError):
        save_grid([[torch.zeros(4, 8, 8)]], path, cell_size=8)
    assert not path.exists() and os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="labels"):
        save_grid([[None]], path, labels=["a", "b"])
