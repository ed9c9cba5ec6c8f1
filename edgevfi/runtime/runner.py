"""The one tiled Runner: any frame size through fixed-size graphs of any backend.

Per frame pair: both frames are resized to the motion canvas and the motion graph runs once (twice
when the backend names a larger canvas for that pair's motion: the motion-adaptive canvas); a
portrait frame on a landscape static canvas runs it on the transposed frames (:func:`crosses_canvas`).
With ``motion_tta`` 2 or 4, each motion pass also runs on the mirrored frames (left-right; and up-down
and both) and the flows, mirrored back, are averaged: a test-time ensemble for offline quality.
Per output time t: each window of the :class:`TilePlan` gets its source crops displaced by the
window's mean motion (so the halo never has to grow with motion), the motion upsampled onto those
crops, and the integer shifts; the synthesis graph returns the window, which is blended into the
frame. Peak memory is the frames plus one batch of windows, whatever the frame size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from edgevfi.ops.tiles import flip_motion, region_mean_displacement, resize_to, transpose_motion, window_source
from edgevfi.runtime.backend import Backend
from edgevfi.runtime.routing import PairScores, Route, Router
from edgevfi.runtime.tiles import DEFAULT_TILE, TilePlan


@dataclass
class PairMotion:
    """Motion of one frame pair: both frames, their canvas motion tensors, the canvas size.

    With routing, ``route`` says which windows the accurate model makes and ``accurate`` holds that
    model's motion of the pair; ``m0``/``m1`` are ``None`` when no window needs the fast model.
    """

    img0: Tensor
    img1: Tensor
    m0: Tensor | None
    m1: Tensor | None
    canvas_hw: tuple[int, int]
    route: Route | None = None
    accurate: PairMotion | None = None
    scores: PairScores | None = None


class Runner:
    """Tiled interpolation through a :class:`Backend`.

    ``tile``/``overlap`` default to the static tile of the backend (bundles) or ``DEFAULT_TILE``/32 (eager).
    With a :class:`~edgevfi.runtime.routing.Router`, ``backend`` is the fast model and the router's
    ``accurate`` backend makes the windows (or pairs) the assessor picks; both must share the tiling.
    A portrait frame on a backend with a landscape static canvas (or the reverse) gets its motion
    from the transposed frames unless ``transpose_crossing`` is False.
    ``motion_tta`` (1, 2 or 4) runs every motion pass on that many mirrorings of the pair (none;
    left-right; up-down; both) and averages the flows: 2 or 4 times the motion cost. It averages
    single flows, so it needs a motion stage without hypotheses (``apr-*``).
    """

    MOTION_TTA = (1, 2, 4)

    def __init__(
        self,
        backend: Backend,
        tile: int | None = None,
        overlap: int = 32,
        router: Router | None = None,
        transpose_crossing: bool = True,
        motion_tta: int = 1,
    ) -> None:
        if motion_tta not in self.MOTION_TTA:
            raise ValueError(f"motion_tta must be one of {self.MOTION_TTA}, got {motion_tta}")
        self.motion_tta = motion_tta
        self.backend = backend
        #: run the motion of a frame whose orientation crosses a static canvas's on the transposed
        #: frames (:func:`crosses_canvas`); False squeezes it onto the canvas as it is (for comparison)
        self.transpose_crossing = transpose_crossing
        self.router = router
        if backend.tile is not None and tile not in (None, backend.tile):
            raise ValueError(f"backend {backend.name} was exported for {backend.tile}px tiles, not {tile}")
        if router is not None:
            acc = router.accurate
            if (acc.tile, acc.halo, acc.align) != (backend.tile, backend.halo, backend.align):
                raise ValueError(
                    "fast and accurate backends must share tile, halo and alignment, got "
                    f"{(backend.tile, backend.halo, backend.align)} and {(acc.tile, acc.halo, acc.align)}"
                )
        self.tile = backend.tile or tile or DEFAULT_TILE
        # Eager backends accept any window size: a frame smaller than the default tile then gets one
        # window just big enough (aligned), instead of paying for a mostly-padding default window.
        self.shrink_small_frames = backend.tile is None and tile is None
        self.overlap = overlap

    def plan(self, frame_hw: tuple[int, int]) -> TilePlan:
        b = self.backend
        tile = self.tile
        if self.shrink_small_frames:
            smallest = 2 * b.halo + self.overlap + b.align
            needed = -(-(max(frame_hw) + 2 * b.halo) // b.align) * b.align
            tile = min(tile, max(needed, smallest))
        return TilePlan(frame_hw, tile=tile, halo=b.halo, overlap=self.overlap, align=b.align)

    def prepare(self, img0: Tensor, img1: Tensor, route: Route | None = None) -> PairMotion:
        """Check the pair, route it (with a router) and run each needed motion stage once.

        ``route`` overrides the router's decision (always-fast, always-accurate, other policies).
        """
        if img0.dim() == 3:
            img0, img1 = img0[None], img1[None]
        if img0.shape != img1.shape or img0.dim() != 4 or img0.shape[:2] != (1, 3):
            raise ValueError(
                f"expected two (1, 3, H, W) frames of equal size, got {tuple(img0.shape)} and {tuple(img1.shape)}"
            )
        img0, img1 = img0.float(), img1.float()
        if self.router is None:
            if route is not None:
                raise ValueError("a route needs a Runner with a router (fast and accurate backends)")
            return _pair_motion(self.backend, img0, img1, self.transpose_crossing, self.motion_tta)
        frame_hw = (img0.shape[-2], img0.shape[-1])
        plan = self.plan(frame_hw)
        scores = None
        if route is None:
            canvas = self.backend.canvas_hw or self.backend.default_canvas(frame_hw)
            scores = self.router.scores(img0, img1, canvas, plan)
            route = self.router.decide(scores, plan)
        if len(route.accurate) < route.windows:
            pair = _pair_motion(self.backend, img0, img1, self.transpose_crossing, self.motion_tta)
        else:
            pair = PairMotion(img0, img1, None, None, self.backend.canvas_hw or (0, 0))
        pair.route, pair.scores = route, scores
        if route.accurate:
            pair.accurate = _pair_motion(self.router.accurate, img0, img1, self.transpose_crossing, self.motion_tta)
        return pair

    def synthesize(self, pair: PairMotion, t: float) -> Tensor:
        """The frame at time ``t`` in (0, 1), (1, 3, H, W)."""
        plan = self.plan((pair.img0.shape[-2], pair.img0.shape[-1]))
        return blend_windows(plan, self.window_tiles(pair, t, plan))

    def window_tiles(
        self, pair: PairMotion, t: float, plan: TilePlan | None = None
    ) -> Iterator[tuple[int, int, tuple[int, int, int, int], Tensor]]:
        """Each window's synthesized tile ``(iy, ix, region, (3, tile, tile))``, batched per backend.

        A routed pair's windows come from the model its route names; :func:`blend_windows` turns any
        set of them into the frame exactly as :meth:`synthesize` does.
        """
        plan = plan or self.plan((pair.img0.shape[-2], pair.img0.shape[-1]))
        route = pair.route
        batches: dict[bool, list] = {False: [], True: []}

        def flush(accurate: bool) -> Iterator[tuple[int, int, tuple[int, int, int, int], Tensor]]:
            batch = batches[accurate]
            b = self.router.accurate if accurate else self.backend
            inputs = [torch.cat(parts, 0) for parts in zip(*(item[3] for item in batch), strict=True)]
            tiles = b.synthesize(*inputs, torch.full((len(batch),), float(t)))
            for (iy, ix, region, _), tile in zip(batch, tiles, strict=True):
                yield iy, ix, region, tile
            batch.clear()

        for iy, ix, region in plan.indexed_windows():
            accurate = route is not None and (iy, ix) in route.accurate
            if accurate:
                b, motion = self.router.accurate, pair.accurate
            else:
                b, motion = self.backend, pair
            batches[accurate].append((iy, ix, region, _window_inputs(b, motion, region, t)))
            if len(batches[accurate]) == b.max_batch:
                yield from flush(accurate)
        for accurate in (False, True):
            if batches[accurate]:
                yield from flush(accurate)

    def interpolate(self, img0: Tensor, img1: Tensor, ts: Sequence[float] = (0.5,)) -> Iterator[Tensor]:
        """Frames at each of ``ts``, yielded one at a time (motion computed once)."""
        pair = self.prepare(img0, img1)
        for t in ts:
            yield self.synthesize(pair, t)


def crosses_canvas(frame_hw: tuple[int, int], canvas_hw: tuple[int, int] | None) -> bool:
    """Whether a frame is portrait on a landscape static canvas, or landscape on a portrait one.

    Such a pair's motion runs on the transposed frames: a 1080×1920 portrait frame squeezed onto a
    288×512 landscape canvas keeps 0.15 of its rows and 0.47 of its columns (an aspect distortion of
    3×, which the motion stage never saw in training); transposed, it keeps 0.27 of both, as a
    1920×1080 landscape frame does, and fine canvases fit it as they fit landscape frames.
    """
    if canvas_hw is None:
        return False
    (H, W), (ch, cw) = frame_hw, canvas_hw
    return H != W and ch != cw and (H > W) != (ch > cw)


def _pair_motion(b: Backend, img0: Tensor, img1: Tensor, transpose_crossing: bool = True, tta: int = 1) -> PairMotion:
    frame_hw = (img0.shape[-2], img0.shape[-1])
    if transpose_crossing and crosses_canvas(frame_hw, b.canvas_hw):
        pair = _pair_motion(b, img0.transpose(-2, -1), img1.transpose(-2, -1), False, tta)
        m0, m1 = (transpose_motion(m, b.displacement_channels) for m in (pair.m0, pair.m1))
        return PairMotion(img0, img1, m0, m1, (pair.canvas_hw[1], pair.canvas_hw[0]))
    canvas = b.canvas_hw or b.default_canvas(frame_hw)
    m0, m1 = _motion(b, resize_to(img0, canvas), resize_to(img1, canvas), tta)
    fine = b.refine_canvas(frame_hw, canvas, m0, m1)
    if fine != canvas:
        canvas = fine
        m0, m1 = _motion(b, resize_to(img0, canvas), resize_to(img1, canvas), tta)
    return PairMotion(img0, img1, m0, m1, canvas)


def _motion(b: Backend, a: Tensor, c: Tensor, tta: int) -> tuple[Tensor, Tensor]:
    """The backend's motion for one canvas pair, averaged over ``tta`` mirrorings (1: as it is)."""
    if tta == 1:
        return b.motion(a, c)
    sums: list[Tensor] = []
    for h, v in ((False, False), (True, False), (False, True), (True, True))[:tta]:
        dims = [d for d, on in ((-1, h), (-2, v)) if on]
        ms = b.motion(a.flip(dims), c.flip(dims)) if dims else b.motion(a, c)
        if ms[0].shape[1] != b.displacement_channels:
            raise ValueError(
                f"motion_tta averages single flows; {b.name}'s motion has {ms[0].shape[1]} channels "
                f"({b.displacement_channels} of displacement): use an apr-* model"
            )
        ms = [flip_motion(m, b.displacement_channels, h, v) for m in ms]
        sums = ms if not sums else [s + m for s, m in zip(sums, ms, strict=True)]
    return sums[0] / tta, sums[1] / tta


def blend_windows(plan: TilePlan, tiles: Iterable[tuple[int, int, tuple[int, int, int, int], Tensor]]) -> Tensor:
    """The frame made of ``tiles`` (as yielded by :meth:`Runner.window_tiles`), cross-faded as usual."""
    H, W = plan.frame_hw
    out = torch.zeros(1, 3, H, W)
    weight = torch.zeros(1, 1, H, W)
    for iy, ix, region, tile in tiles:
        _accumulate(out, weight, tile, plan.blend_weight(iy, ix), region)
    return out / weight.clamp_min(1e-8)


def _window_inputs(b: Backend, pair: PairMotion, region: tuple[int, int, int, int], t: float) -> list[Tensor]:
    frame_hw = (pair.img0.shape[-2], pair.img0.shape[-1])
    srcs, mots, shifts = [], [], []
    for img, m, frac in ((pair.img0, pair.m0, t), (pair.img1, pair.m1, 1.0 - t)):
        shift = torch.round(frac * region_mean_displacement(m, pair.canvas_hw, frame_hw, region))
        src, mot = window_source(
            img, m, pair.canvas_hw, region, (int(shift[0, 0]), int(shift[0, 1])), b.displacement_channels
        )
        srcs.append(src)
        mots.append(mot)
        shifts.append(shift.float())
    return [srcs[0], srcs[1], mots[0], mots[1], shifts[0], shifts[1]]


def _accumulate(out: Tensor, weight: Tensor, tile: Tensor, w: Tensor, region: tuple[int, int, int, int]) -> None:
    """Add ``tile * w`` into ``out`` where the window overlaps the frame."""
    y0, x0, h, wd = region
    H, W = out.shape[-2:]
    ty0, tx0 = max(0, -y0), max(0, -x0)
    fy0, fx0 = max(0, y0), max(0, x0)
    fy1, fx1 = min(H, y0 + h), min(W, x0 + wd)
    if fy1 <= fy0 or fx1 <= fx0:
        return
    ty1, tx1 = ty0 + (fy1 - fy0), tx0 + (fx1 - fx0)
    wt = w[ty0:ty1, tx0:tx1]
    out[0, :, fy0:fy1, fx0:fx1] += tile[:, ty0:ty1, tx0:tx1] * wt
    weight[0, 0, fy0:fy1, fx0:fx1] += wt
