"""Triplet folders in the Vimeo90K layout: ``<any>/<depth>/{im1,im2,im3}.png``, ``im2`` the true middle.

Used for validation (``../shared/data/val``) and for any extra triplet data. Images are loaded with
Pillow into float32 (3, H, W) tensors in [0, 1]; every failure raises :class:`DataError` naming the
offending path, because a silent skip or a wrong colour scale would show up only as a bad PSNR much later.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

__all__ = ["FRAME_NAMES", "DataError", "TripletFolder", "find_triplets", "load_image"]

#: The three frame names of a Vimeo90K-style triplet, in time order.
FRAME_NAMES: tuple[str, str, str] = ("im1.png", "im2.png", "im3.png")

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class DataError(ValueError):
    """Bad or missing training/evaluation data; the message names the offending path."""


def find_triplets(root: str | os.PathLike[str]) -> list[Path]:
    """Every folder under ``root`` (at any depth, ``root`` included) holding ``im1/im2/im3.png``.

    Returns the folders sorted by path, so the order (and any ``limit`` taken by the caller) is the
    same on every machine.

    Raises
    ------
    DataError
        ``root`` is missing or not a folder; no triplet is found; or a folder holds some but not all
        three frames (e.g. ``im1`` and ``im3`` without the middle ``im2``), which would otherwise be
        skipped silently and shrink the evaluation set.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: triplet root does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: triplet root is not a folder")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()  # deterministic walk order
        present = [n for n in FRAME_NAMES if n in filenames]
        if len(present) == len(FRAME_NAMES):
            found.append(Path(dirpath))
        elif present:
            missing = ", ".join(n for n in FRAME_NAMES if n not in filenames)
            raise DataError(f"{dirpath}: incomplete triplet, missing {missing}")
    if not found:
        raise DataError(f"{root}: no triplet folders (im1.png, im2.png, im3.png) found")
    return sorted(found)


def _png_bit_depth_and_colour(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR chunk, or None for non-PNG files."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or not head.startswith(_PNG_MAGIC):
        return None
    return head[24], head[25]


def _load_png16_colour(path: Path) -> np.ndarray:
    """16-bit colour PNGs (RGB / grey+alpha / RGBA) as float64 RGBA in [0, 1].

    Pillow reads 16-bit-per-channel colour PNGs as 8-bit RGB (keeping only the high byte), so these
    go through FFmpeg's PNG decoder (PyAV), which keeps all 16 bits.
    """
    import av  # lazy: only this rare case needs it

    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            arr = frame.to_ndarray(format="rgba64le")
    except (av.error.FFmpegError, StopIteration) as e:
        raise DataError(f"{path}: cannot decode 16-bit PNG ({e})") from e
    return arr.astype(np.float64) / 65535.0


def load_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """Load an image as a float32 (3, H, W) tensor in [0, 1].

    * grayscale, palette, CMYK, … are converted to RGB;
    * an alpha channel is dropped only if it is fully opaque; real transparency raises, because what
      colour lies "behind" it is undefined and any choice would change the ground truth;
    * 16-bit images are scaled by 1/65535 (not 1/255), keeping their full precision.

    Raises
    ------
    DataError
        The file is missing, unreadable or not an image, or it has transparency.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file does not exist")
    try:
        png = _png_bit_depth_and_colour(path)
        # Colour types 2 (RGB), 4 (grey+alpha), 6 (RGBA) at 16 bits: see _load_png16_colour.
        if png is not None and png[0] == 16 and png[1] in (2, 4, 6):
            arr = _load_png16_colour(path)
        else:
            with Image.open(path) as im:
                im.load()  # decode now, inside the try, so truncated files raise here
                arr = _pil_to_rgba_float(im, path)
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({type(e).__name__}: {e})") from e
    alpha = arr[..., 3]
    if not np.all(alpha >= 1.0):
        raise DataError(f"{path}: image has transparency (alpha < 1 in {int((alpha < 1.0).sum())} pixels)")
    rgb = np.ascontiguousarray(arr[..., :3].transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(rgb)


def _pil_to_rgba_float(im: Image.Image, path: Path) -> np.ndarray:
    """A Pillow image as float64 (H, W, 4) RGBA in [0, 1]."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale (Pillow opens it as I;16, older versions as I): scale by the 16-bit range.
        g = np.asarray(im).astype(np.float64)
        if g.min() < 0 or g.max() > 65535:
            raise DataError(f"{path}: integer image outside the 16-bit range")
        g = g / 65535.0
        return np.stack([g, g, g, np.ones_like(g)], -1)
    if mode == "F":
        raise DataError(f"{path}: floating-point images are not supported (unknown value range)")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    rgba = im.convert("RGBA") if has_alpha else im.convert("RGB")
    arr = np.asarray(rgba).astype(np.float64) / 255.0
    if not has_alpha:
        arr = np.concatenate([arr, np.ones_like(arr[..., :1])], -1)
    return arr


class TripletFolder(Dataset):
    """Vimeo90K-layout triplets: item ``i`` is ``dict(img0=im1, img1=im3, gt=im2, t=0.5, path=folder)``.

    Parameters
    ----------
    root
        A folder searched with :func:`find_triplets`, or an explicit sequence of triplet folders.
    limit
        Keep only the first ``limit`` triplets (sorted order), for quick validation.
    """

    def __init__(self, root: str | os.PathLike[str] | Sequence[Path], limit: int | None = None) -> None:
        if isinstance(root, (str, os.PathLike)):
            self.folders = find_triplets(root)
        else:
            self.folders = [Path(p) for p in root]
        if limit is not None:
            self.folders = self.folders[:limit]

    def __len__(self) -> int:
        return len(self.folders)

    def __getitem__(self, index: int) -> dict[str, Any]:
        folder = self.folders[index]
        img0, gt, img1 = (load_image(folder / n) for n in FRAME_NAMES)
        sizes = {n: tuple(x.shape[-2:]) for n, x in zip(FRAME_NAMES, (img0, gt, img1), strict=True)}
        if len(set(sizes.values())) != 1:
            desc = ", ".join(f"{n} {h}x{w}" for n, (h, w) in sizes.items())
            raise DataError(f"{folder}: frames differ in size ({desc})")
        return {"img0": img0, "img1": img1, "gt": gt, "t": torch.tensor(0.5), "path": str(folder)}
