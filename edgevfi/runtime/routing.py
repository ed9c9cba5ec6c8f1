"""Difficulty-aware routing (VFI-DPA): which frame pairs — or which tiles — the accurate model gets.

The assessor (:class:`~edgevfi.models.dpa.DifficultyAssessor`, or its exported ``assess`` graph)
runs once per frame pair on both frames resized to its small canvas and returns per-patch maps.
From them:

* **per pair**: the predicted PSNR gain of the accurate model (:func:`~edgevfi.models.dpa.pair_gain_db`);
  the pair goes to the accurate model when it reaches a threshold. A budget ``b`` ("at most 30 % of
  pairs") becomes the threshold that the assessor's calibration (its gain quantiles on training
  labels) puts at the ``1 − b`` quantile, so a stream needs no look-ahead.
* **per tile** (our extension of the paper): a per-patch map is resized onto the frame and summed
  under each window's blend weight, and the ``round(b · tiles)`` windows with the largest sums go to
  the accurate model. The default map (``tile_score="error"``) is the paper's difficulty itself: the
  fast model's predicted squared error (``10 ** difficulty``). On our training labels the fast
  model's true error ranks patches by the error the accurate model removes far better than the
  removed error can be predicted directly (30 % of the patches chosen by true fast error hold 98 %
  of the net removed error); ``tile_score="benefit"`` uses the benefit head instead. Every window
  is blended with its neighbours as usual, whichever model made it, so there are no seams.

:class:`Router` is plugged into the one :class:`~edgevfi.runtime.runner.Runner`; backends are the
same two-graph backends as always, plus an :class:`AssessBackend` for the ``assess`` graph.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from edgevfi.models.dpa import DifficultyAssessor, assess_canvas, pair_gain_db
from edgevfi.ops.tiles import resize_to
from edgevfi.runtime.backend import Backend
from edgevfi.runtime.tiles import TilePlan

GRANULARITIES = ("tile", "pair")
TILE_SCORES = ("error", "benefit")


@runtime_checkable
class AssessBackend(Protocol):
    """Runs the ``assess`` graph: two frames at ``canvas_hw`` (``None``: any size) → three maps."""

    name: str
    canvas_hw: tuple[int, int] | None

    def assess(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor, Tensor]: ...


class EagerAssessBackend:
    """The assessor in PyTorch; its canvas follows the motion canvas (``canvas_scale`` of it)."""

    def __init__(self, model: DifficultyAssessor, canvas_hw: tuple[int, int] | None = None) -> None:
        self.model = model.eval()
        self.name = "torch"
        self.canvas_hw = canvas_hw
        self.scale = model.config.canvas_scale

    @torch.inference_mode()
    def assess(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.model(img0, img1)


@dataclass(frozen=True)
class PairScores:
    """What the assessor said about one frame pair, mapped onto its tile plan."""

    gain_db: float
    #: predicted squared error of the fast model per window (summed under the blend weight), plan order
    tile_error: tuple[float, ...]
    #: predicted squared error removed per window (×1000, summed under the blend weight), plan order
    tile_benefit: tuple[float, ...]

    def tile_scores(self, kind: str) -> tuple[float, ...]:
        return self.tile_error if kind == "error" else self.tile_benefit


@dataclass(frozen=True)
class Route:
    """Which windows (``(iy, ix)``) of a frame pair go to the accurate model."""

    accurate: frozenset[tuple[int, int]]
    windows: int

    @property
    def fraction(self) -> float:
        return len(self.accurate) / max(1, self.windows)

    @staticmethod
    def all(plan: TilePlan) -> Route:
        return Route(frozenset((iy, ix) for iy, ix, _ in plan.indexed_windows()), len(plan.windows()))

    @staticmethod
    def none(plan: TilePlan) -> Route:
        return Route(frozenset(), len(plan.windows()))


def window_sums(pixel_map: Tensor, plan: TilePlan) -> list[float]:
    """Sum of a (H, W) per-pixel map under each window's blend weight, in plan order."""
    H, W = pixel_map.shape
    sums = []
    for iy, ix, (y0, x0, h, w) in plan.indexed_windows():
        wt = plan.blend_weight(iy, ix)
        fy0, fx0, fy1, fx1 = max(0, y0), max(0, x0), min(H, y0 + h), min(W, x0 + w)
        if fy1 <= fy0 or fx1 <= fx0:
            sums.append(0.0)
            continue
        sub = wt[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        sums.append(float((pixel_map[fy0:fy1, fx0:fx1] * sub).sum()))
    return sums


def top_windows(scores: list[float] | tuple[float, ...], plan: TilePlan, budget: float) -> Route:
    """The ``round(budget · windows)`` windows with the highest scores (ties: plan order)."""
    if not 0.0 <= budget <= 1.0:
        raise ValueError(f"budget must be in [0, 1], got {budget}")
    idx = plan.indexed_windows()
    k = math.floor(budget * len(idx) + 0.5)
    order = sorted(range(len(idx)), key=lambda i: (-scores[i], i))[:k]
    return Route(frozenset((idx[i][0], idx[i][1]) for i in order), len(idx))


class Router:
    """Decides a :class:`Route` per frame pair from the assessor's maps.

    ``granularity`` ``"tile"``: the top ``round(budget · windows)`` windows per frame.
    ``"pair"``: the whole pair when its predicted gain reaches ``threshold`` (given, or from the
    ``calibration`` quantiles for ``budget``).
    """

    def __init__(
        self,
        assess: AssessBackend,
        accurate: Backend,
        budget: float = 0.3,
        granularity: str = "tile",
        threshold: float | None = None,
        calibration: dict[str, float] | None = None,
        tile_score: str = "error",
    ) -> None:
        if granularity not in GRANULARITIES:
            raise ValueError(f"unknown routing granularity {granularity!r} (tile or pair)")
        if tile_score not in TILE_SCORES:
            raise ValueError(f"unknown tile score {tile_score!r} (error or benefit)")
        self.tile_score = tile_score
        if not 0.0 <= budget <= 1.0:
            raise ValueError(f"budget must be in [0, 1], got {budget}")
        self.assess = assess
        self.accurate = accurate
        self.budget = budget
        self.granularity = granularity
        if granularity == "pair" and threshold is None:
            threshold = threshold_for_budget(calibration or {}, budget)
        self.threshold = threshold

    def scores(self, img0: Tensor, img1: Tensor, motion_canvas: tuple[int, int], plan: TilePlan) -> PairScores:
        """Run the assessor on a pair and map its output onto ``plan``."""
        a = self.assess
        canvas = a.canvas_hw or assess_canvas(motion_canvas, getattr(a, "scale", 0.5))
        difficulty, benefit, _ = a.assess(resize_to(img0, canvas), resize_to(img1, canvas))
        gain = float(pair_gain_db(difficulty, benefit)[0])
        H, W = plan.frame_hw
        # Per-pixel maps on the frame (bilinear keeps the mean), then summed under each window.
        maps = torch.cat([10.0 ** difficulty.float(), benefit.float()], 1)
        per_pixel = F.interpolate(maps, size=(H, W), mode="bilinear", align_corners=False)[0]
        return PairScores(gain, tuple(window_sums(per_pixel[0], plan)), tuple(window_sums(per_pixel[1], plan)))

    def decide(self, scores: PairScores, plan: TilePlan) -> Route:
        if self.granularity == "pair":
            return Route.all(plan) if scores.gain_db >= float(self.threshold) else Route.none(plan)
        return top_windows(scores.tile_scores(self.tile_score), plan, self.budget)


def threshold_for_budget(calibration: dict[str, float], budget: float) -> float:
    """The predicted-gain threshold sending about ``budget`` of pairs to the accurate model.

    ``calibration`` maps quantile levels (``"0.05"`` … ``"0.95"``) to predicted gains measured on the
    assessor's training labels; levels in between are interpolated linearly.
    """
    if budget <= 0:
        return math.inf
    if budget >= 1:
        return -math.inf
    if not calibration:
        raise ValueError("per-pair routing with a budget needs the assessor's calibration (or a --threshold)")
    pts = sorted((float(k), float(v)) for k, v in calibration.items())
    q = 1.0 - budget
    if q <= pts[0][0]:
        return pts[0][1]
    if q >= pts[-1][0]:
        return pts[-1][1]
    for (q0, v0), (q1, v1) in itertools.pairwise(pts):
        if q0 <= q <= q1:
            return v0 + (v1 - v0) * (q - q0) / max(q1 - q0, 1e-12)
    return pts[-1][1]
