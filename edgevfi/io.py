"""Output files are written to a temp file beside the target and renamed only on success."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image


class OutputError(ValueError):
    """An output path that cannot be written (missing folder, existing file without overwrite)."""


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (weights and bundles can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_output_path(path: str | Path, overwrite: bool = False) -> Path:
    """Validate an output path before any work is done, so a long job never fails at the end."""
    path = Path(path)
    if not path.parent.exists():
        raise OutputError(f"{path}: output folder {path.parent} does not exist")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, expected a file path")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists (pass --overwrite to replace it)")
    return path


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temp path in ``path``'s folder; rename it to ``path`` only if the block succeeds.

    On any exception (including KeyboardInterrupt) the temp file is removed and the target is
    left exactly as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    # mkstemp makes the file private (0600); give the result the usual permissions for a new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) float in [0, 1] → (H, W, 3) uint8, rounded (what gets scored)."""
    if img.dim() == 4:
        img = img[0]
    return (img.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def save_image(img: torch.Tensor, path: str | Path) -> Path:
    """Write an 8-bit RGB PNG/JPEG atomically."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise OutputError(f"{path}: unknown image extension {path.suffix!r} (use .png or .jpg)")
    with atomic_output(path) as tmp:
        Image.fromarray(to_uint8(img)).save(tmp, format=fmt)
    return path
