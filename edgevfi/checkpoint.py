"""Checkpoints as safetensors with the model config in the file's metadata: loading never runs code.

Pickle-based files (``torch.save``) are refused outright rather than loaded with
``weights_only``: a model file is something people download, and one format is easier to audit.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from edgevfi.models import build, config_from_dict
from edgevfi.models.base import TwoStageModel
from edgevfi.models.blocks import widen_cost_taps
from edgevfi.models.dpa import DifficultyAssessor, DPAConfig

CONFIG_KEY = "edgevfi_config"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file and the reason."""


def save_checkpoint(model: TwoStageModel, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` atomically (temp file in the same folder, then rename)."""
    return _write_safetensors(model, Path(path), CONFIG_KEY, extra)


def _write_safetensors(model: torch.nn.Module, path: Path, config_key: str, extra: dict[str, Any] | None) -> Path:
    """``model``'s tensors with its config (and ``extra``) in the metadata; temp file, then rename."""
    meta = {config_key: json.dumps(model.config.to_dict())}
    if extra:
        meta["edgevfi_extra"] = json.dumps(extra)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The config (and any extra info) stored in a checkpoint, without loading tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as fh:
        head = fh.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header's "{".
    if head[8:9] != b"{" and (head[:2] == b"PK" or head[:1] == b"\x80"):
        raise CheckpointError(
            f"{path}: looks like a pickle/torch.save file; only safetensors checkpoints are loaded "
            "(pickles can execute code)"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({e})") from None
    if CONFIG_KEY not in meta:
        raise CheckpointError(f"{path}: safetensors file has no EdgeVFI model config in its metadata")
    out: dict[str, Any] = {"config": json.loads(meta[CONFIG_KEY])}
    if "edgevfi_extra" in meta:
        out["extra"] = json.loads(meta["edgevfi_extra"])
    return out


def _model_and_tensors(
    path: Path, overrides: dict[str, Any] | None = None, map_location: str = "cpu"
) -> tuple[TwoStageModel, dict[str, torch.Tensor]]:
    """The model built from the checkpoint's config (with ``overrides``) and the file's tensors, unloaded."""
    meta = read_metadata(path)
    try:
        model = build(config_from_dict({**meta["config"], **(overrides or {})}))
    except (ValueError, TypeError) as e:
        with_overrides = f" with overrides {overrides}" if overrides else ""
        raise CheckpointError(f"{path}: bad model config{with_overrides} ({e})") from None
    with safe_open(str(path), framework="pt", device=map_location) as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    return model, tensors


def grow_checkpoint(path: str | Path, overrides: dict[str, Any]) -> tuple[TwoStageModel, list[str]]:
    """The checkpoint's model with config ``overrides`` applied, its tensors loaded where they fit.

    For growing a trained model (e.g. one more motion block): every tensor of the checkpoint must
    keep its name and shape in the grown model, or ``CheckpointError`` says which does not. The one
    reshape allowed is a warped cost volume's input conv over a wider radius (``motion_refine_radii``),
    whose trained taps keep their displacements (:func:`widen_cost_taps`). Returns the model and the
    names of the tensors it has that the checkpoint has not (left at their init).
    """
    path = Path(path)
    model, tensors = _model_and_tensors(path, overrides)
    expected = model.state_dict()
    for k, v in tensors.items():
        want = expected.get(k)
        if k.endswith(".cost_in.weight") and want is not None and want.shape[1] > v.shape[1]:
            with contextlib.suppress(ValueError):  # not a tap grid: reported as a misfit below
                tensors[k] = widen_cost_taps(v, (math.isqrt(want.shape[1]) - 1) // 2)
    misfit = sorted(k for k, v in tensors.items() if k not in expected or expected[k].shape != v.shape)
    if misfit:
        raise CheckpointError(f"{path}: {len(misfit)} tensors do not fit the grown model (e.g. {misfit[0]})")
    model.load_state_dict(tensors, strict=False)
    return model, sorted(set(expected) - set(tensors))


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> TwoStageModel:
    """Build the model described by the checkpoint's config and load its tensors (strictly)."""
    path = Path(path)
    model, tensors = _model_and_tensors(path, map_location=map_location)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    bad_shape = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or bad_shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if bad_shape:
            k = bad_shape[0]
            parts.append(
                f"{len(bad_shape)} with wrong shape (e.g. {k}: {tuple(tensors[k].shape)}"
                f" vs config {tuple(expected[k].shape)})"
            )
        raise CheckpointError(f"{path}: tensors do not match its config: " + "; ".join(parts))
    model.load_state_dict(tensors)
    return model.eval()


ASSESSOR_KEY = "edgevfi_assessor_config"


def save_assessor(model: DifficultyAssessor, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write a difficulty assessor atomically, its config (and calibration etc.) in the metadata."""
    return _write_safetensors(model, Path(path), ASSESSOR_KEY, extra)


def load_assessor(path: str | Path) -> tuple[DifficultyAssessor, dict[str, Any]]:
    """The assessor stored at ``path`` and its extra metadata (e.g. ``calibration``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such assessor file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    if ASSESSOR_KEY not in meta:
        raise CheckpointError(f"{path}: not a difficulty assessor (no {ASSESSOR_KEY} metadata)")
    try:
        model = DifficultyAssessor(DPAConfig(**json.loads(meta[ASSESSOR_KEY])))
        model.load_state_dict(tensors)
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: assessor tensors do not match its config ({str(e).splitlines()[0]})") from None
    return model.eval(), json.loads(meta.get("edgevfi_extra", "{}"))
