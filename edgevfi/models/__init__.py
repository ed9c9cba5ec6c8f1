"""Model registry: ``edgevfi.models.create("apr-s")``.

Each named entry is a family constructor plus config overrides, as in timm/torchvision. Shipped,
trained weights live in ``edgevfi/weights/<name>.safetensors`` (config inside the file's
metadata); ``create(name, pretrained=True)`` loads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgevfi.models.apr import APRVFI, APRConfig
from edgevfi.models.base import ModelConfig, TwoStageModel
from edgevfi.models.blend import Blend, BlendConfig
from edgevfi.models.svmv import SVMV, SVMVConfig

__all__ = [
    "APRVFI",
    "SVMV",
    "APRConfig",
    "Blend",
    "BlendConfig",
    "ModelConfig",
    "SVMVConfig",
    "TwoStageModel",
    "build",
    "config_from_dict",
    "create",
    "default_model_name",
    "list_models",
    "shipped_weights",
    "with_config",
]

FAMILIES: dict[str, tuple[type[ModelConfig], Callable[[Any], TwoStageModel]]] = {
    "apr": (APRConfig, APRVFI),
    "svmv": (SVMVConfig, SVMV),
    "blend": (BlendConfig, Blend),
}

# The shipped edge models share one motion stage (``ship_checkpoint.py --motion-from``), so they share
# its shape too: warped cost volumes in the finer motion blocks (run 14 of docs/training-log.md; the
# last one's reach widened from 2 to 4 cells in run 23) and residual blocks on the features of the
# global (run 20) and the warped (run 22) cost volumes.
# The last block's two directions averaged into one consensus (thirty-fifth session, no parameters:
# +0.06 dB held-out, +0.18 dB val for apr-s; docs/quality.md "Flow consensus").
EDGE_MOTION: dict[str, Any] = {
    "motion_refine_radii": (4, 4),
    "motion_match_blocks": 2,
    "motion_refine_match_blocks": 1,
    "motion_consensus": True,
}
# ... and its inference canvas: a second motion pass on up to a 1280-px canvas (the whole frame up to
# 720p) for pairs whose motion fits the pyramid's reach there (+0.5 dB on val, +0.3 dB on held-out
# clips for apr-s; docs/quality.md "Motion-adaptive canvas"), up to twice a smaller frame's size (+0.27 dB on
# val, +0.07 dB held-out, thirty-fourth session); a bundle's static fine canvases obey the same factor.
EDGE_CANVAS: dict[str, Any] = {"fine_canvas_side": 1280, "fine_canvas_upscale": 2.0}
# apr-s's synthesis re-aligns its two splatted images before fusing them (run 44, forty-fourth session:
# +0.087 dB val, +0.012 held-out, +0.041 on training triplets; docs/quality.md "Splat re-alignment");
# the other edge models were not trained with it.
APR_S_SYNTHESIS: dict[str, Any] = {"align_radius": 2}

# name -> (family, overrides, one-line description)
REGISTRY: dict[str, tuple[str, dict[str, Any], str]] = {
    "blend": ("blend", {}, "time-weighted average of the two frames (floor baseline)"),
    "apr-s": (
        "apr",
        {**EDGE_MOTION, **EDGE_CANVAS, **APR_S_SYNTHESIS},
        "APR-VFI, edge default: cost-volume flow + average splatting + splat re-alignment + routed refine blocks",
    ),
    "apr-m": (
        "apr",
        {
            "motion_widths": (160, 128, 96),
            "motion_depth": 4,
            "context": 12,
            "width": 40,
            "inner": 64,
        },
        "APR-VFI, accurate: wider flow and synthesis",
    ),
    "apr-s-p60": (
        "apr",
        {**EDGE_MOTION, **EDGE_CANVAS, "width": 24, "inner": 24},
        "apr-s structurally pruned to 0.60× the MACs (edgevfi prune, Taylor importance) and fine-tuned",
    ),
    "svmv-s": (
        "svmv",
        {**EDGE_MOTION, **EDGE_CANVAS},
        "SVMV, edge: 4-hypothesis motion volume + normalised splatting",
    ),
    "svmv-m": (
        "svmv",
        {"motion_widths": (160, 128, 96), "motion_depth": 4, "width": 40, "inner": 64, "blocks": 3},
        "SVMV, accurate: wider flow and refiner",
    ),
}

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def default_model_name() -> str:
    """The shipped default: the edge APR-VFI model."""
    return "apr-s"


def list_models() -> list[str]:
    return list(REGISTRY)


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Rebuild a config from its JSON form; unknown families or fields raise ``ValueError``."""
    family = d.get("family")
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")
    cls = FAMILIES[family][0]
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(names)
    if unknown:
        raise ValueError(f"unknown config fields for {family}: {', '.join(sorted(unknown))}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return cls(**kwargs)


def build(config: ModelConfig) -> TwoStageModel:
    return FAMILIES[config.family][1](config)


def with_config(model: TwoStageModel, **changes: Any) -> TwoStageModel:
    """The same weights under a config with ``changes`` (e.g. an inference setting), in eval mode."""
    rebuilt = build(dataclasses.replace(model.config, **changes))
    rebuilt.load_state_dict(model.state_dict())
    return rebuilt.eval()


def create(name: str, pretrained: bool = False, **overrides: Any) -> TwoStageModel:
    """Build a registered model; ``pretrained`` loads its shipped weights (error if none)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(REGISTRY)})")
    if pretrained and name != "blend":
        from edgevfi.checkpoint import load_checkpoint

        path = shipped_weights(name)
        if path is None:
            raise FileNotFoundError(f"no shipped weights for {name!r} in {WEIGHTS_DIR}")
        model = load_checkpoint(path)
        if overrides:
            model = with_config(model, **overrides)
        return model
    family, base, _ = REGISTRY[name]
    cfg_cls = FAMILIES[family][0]
    return build(cfg_cls(**{**base, **overrides}))


def shipped_weights(name: str) -> Path | None:
    path = WEIGHTS_DIR / f"{name}.safetensors"
    return path if path.is_file() else None
