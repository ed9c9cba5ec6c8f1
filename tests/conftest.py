"""Shared fixtures: tiny models (fast on 2 cores) and smooth random frames with real motion."""

from __future__ import annotations

import os

# Under pytest-xdist (two workers on 2 cores, pyproject.toml) each worker computes on one thread: two
# workers at two threads each oversubscribe the cores (17.8 min for the suite against 16.1 at one thread).
# Set before torch starts its thread pool; tests that pass their own thread count still get it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from edgevfi import models

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# No warped cost volumes or matching blocks by default (they cost test time), and one fixed motion
# canvas (so the full-frame forward and the Runner see the same motion); the tests that need them ask.
_TINY_SHARED = {
    "motion_widths": (8, 8, 8),
    "motion_depth": 1,
    "motion_refine_radii": (),
    "motion_match_blocks": 0,
    "motion_refine_match_blocks": 0,
    "motion_repeat_widths": (),
    # Off by default: both directions of a random tiny pyramid share the head's bias, so averaging one
    # with the other's negation would cancel the very motion the tiling tests need; its tests ask.
    "motion_consensus": False,
    "fine_canvas_side": 0,
    "fine_canvas_upscale": 1.0,
    "width": 8,
    "inner": 8,
}
TINY = {
    # The shipped apr-s's splat re-alignment off too (as the other edge models): its tests ask.
    "apr": {**_TINY_SHARED, "router_width": 8, "align_radius": 0},
    "svmv": {**_TINY_SHARED, "blocks": 1},
}


def tiny_model(name: str, **overrides) -> models.TwoStageModel:
    family = models.REGISTRY[name][0]
    torch.manual_seed(0)
    model = models.create(name, **{**TINY.get(family, {}), **overrides})
    # Random init gives near-zero flow; make the motion head produce real displacements so
    # tiling is tested with motion that crosses tile borders.
    if family in TINY:
        head = model.flow.blocks[-1].flow
        torch.nn.init.normal_(head.weight, std=0.05)
        torch.nn.init.normal_(head.bias, std=3.0)
    return model.eval()


FROZEN_APR_S = Path(__file__).parent / "fixtures" / "apr-s-frozen.safetensors"


def frozen_apr_s() -> models.TwoStageModel:
    """Trained apr-s weights frozen for tests (run 7, float16 copy of edgevfi/weights/apr-s at ff8a566).

    INT8 tests need trained weights (random ones have no structure for 8 bits to keep), but their
    bounds must not move each time a better default ships, so they use this copy, never the shipped file.
    """
    from edgevfi.checkpoint import load_checkpoint

    return load_checkpoint(FROZEN_APR_S)  # float32 parameters, eval mode: load_checkpoint casts and sets both


def moving_pair(h: int, w: int, dx: int = 5, dy: int = -3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two crops of one smooth random texture, offset by (dx, dy): a real, known motion."""
    g = torch.Generator().manual_seed(seed)
    pad = 2 * max(abs(dx), abs(dy)) + 2
    base = torch.rand(1, 3, (h + 2 * pad) // 6 + 2, (w + 2 * pad) // 6 + 2, generator=g)
    tex = F.interpolate(base, size=(h + 2 * pad, w + 2 * pad), mode="bicubic", align_corners=False).clamp(0, 1)
    a = tex[..., pad : pad + h, pad : pad + w]
    b = tex[..., pad + dy : pad + dy + h, pad + dx : pad + dx + w]
    return a.contiguous(), b.contiguous()


@pytest.fixture
def pair():
    return moving_pair(48, 64)
