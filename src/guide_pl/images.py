"""Pillow helpers: tensors in [-1, 1] ↔ PIL images, safe image loading, atomic PNG grids."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from .atomic import atomic_path
from .errors import BadFileError, MissingFileError

Cell = torch.Tensor | Image.Image | None


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """Image [3, H, W] or [1, 3, H, W] in [-1, 1] → RGB PIL image (values clamped, rounded to 8 bits)."""
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image [3, H, W] or [1, 3, H, W], got {tuple(image.shape)}")
    pixels = to_uint8_pixels(image.cpu())
    return Image.fromarray(pixels.permute(1, 2, 0).numpy(), mode="RGB")


def to_uint8_pixels(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (any shape) → uint8 pixel values 0–255, clamped and rounded, on the same device."""
    return ((images.detach().float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def as_saved_pixels(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as they would be saved: clamped and rounded to 8-bit levels, still in [-1, 1] (any shape)."""
    return to_uint8_pixels(images).to(images.dtype) / 127.5 - 1


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image → float tensor [3, H, W] in [-1, 1] (converted to RGB first)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1) / 127.5 - 1


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file as upright RGB (EXIF orientation applied); a missing, corrupt or
    truncated file raises naming the path."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()  # decode now: truncated data only fails here, not at open()
            return ImageOps.exif_transpose(image).convert("RGB")  # upright, as the EXIF orientation tag says
    except UnidentifiedImageError as err:
        raise BadFileError(f"not a readable image file (unknown or corrupt format): {path}") from err
    except (OSError, SyntaxError, ValueError) as err:
        # Pillow reports truncated/damaged data as OSError (some decoders as SyntaxError/ValueError).
        raise BadFileError(f"corrupt or truncated image file {path}: {err}") from err


def load_image_tensor(path: str | os.PathLike, size: int | None = None) -> torch.Tensor:
    """Image file → tensor [3, H, W] in [-1, 1], optionally resized to size × size (Lanczos)."""
    image = load_image(path)
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return pil_to_tensor(image)


def _cell_image(cell: Cell, size: tuple[int, int]) -> Image.Image | None:
    if cell is None:
        return None
    image = tensor_to_pil(cell) if isinstance(cell, torch.Tensor) else cell.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def save_grid(
    rows: Sequence[Sequence[Cell]],
    path: str | os.PathLike,
    cell_size: int | tuple[int, int] = 256,
    labels: Sequence[str] | None = None,
    padding: int = 2,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Path:
    """Write a PNG grid of images (tensors in [-1, 1], PIL images, or None for an empty cell), atomically.

    `labels` are column titles drawn above the grid with PIL's default font. Returns the written path.
    """
    if not rows or not any(len(row) for row in rows):
        raise ValueError("save_grid needs at least one non-empty row")
    width, height = (cell_size, cell_size) if isinstance(cell_size, int) else tuple(cell_size)
    num_cols = max(len(row) for row in rows)
    if labels is not None and len(labels) > num_cols:
        raise ValueError(f"{len(labels)} labels for a grid of {num_cols} columns")

    font = ImageFont.load_default()
    label_height = 0
    if labels:
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        label_height = max(probe.textbbox((0, 0), text, font=font)[3] for text in labels) + 2 * padding + 2

    grid = Image.new(
        "RGB",
        (num_cols * (width + padding) + padding, label_height + len(rows) * (height + padding) + padding),
        background,
    )
    draw = ImageDraw.Draw(grid)
    for col, text in enumerate(labels or []):
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        x = padding + col * (width + padding) + max(0, (width - (right - left)) // 2)
        draw.text((x, padding), text, fill=(0, 0, 0), font=font)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            image = _cell_image(cell, (width, height))
            if image is not None:
                grid.paste(image, (padding + c * (width + padding), label_height + padding + r * (height + padding)))

    path = Path(path)
    # Written beside the target, then renamed: readers never see a half-written PNG.
    with atomic_path(path) as tmp:
        grid.save(tmp, format="PNG")
    return path
