"""Inference-only changes to the motion stage's output, side by side in ONE run (eager, same weights).

The shipped models average the last pyramid block's two flow directions into one consensus
(``motion_consensus``, :func:`edgevfi.ops.flow_consensus`). This scores that choice against no
consensus and against the alternatives it was chosen over, each on ``--data`` through the eager tiled
Runner with the motion-adaptive canvas (both motion passes get the variant):

    python scripts/traindev_triplets.py --out cache/traindev       # choose on training footage …
    python benchmarks/flow_post.py --data cache/traindev [--variants none,consensus,...] [--json out/flow_post.json]
    python benchmarks/flow_post.py --data cache/holdout --variants none,consensus   # … then measure

Variants: ``none`` (the pyramid's flow as it comes), ``consensus`` (shipped), ``consensus-x2`` (applied
twice), ``consensus-weighted-S`` (each direction moved towards the other's estimate by
0.5·exp(−d²/S²), d the two estimates' distance in canvas px), ``consensus-every-block`` (after every
pyramid block, so the finer blocks start from it), ``last-block-again`` / ``quarter-block-again`` (the
1/2- or 1/4-canvas block applied a second time to its own output, weights tied), ``guided-R`` (an
image-guided filter of radius R cells on the flow, eps 0.01), ``median`` (3×3 median of the flow).

Two more use the motion-adaptive canvas's first pass, which the shipped Runner computes and then drops
when it reruns the motion on a finer canvas: ``two-pass-blend-W`` (the fine pass's flow moved by a
constant share W towards the coarse pass's, resampled to the fine grid) and ``two-pass-select-R``
(per pixel, whichever of the two has the lower photometric + forward-backward error, both box-filtered
over (2R+1)² cells), and ``two-pass-reach-S`` (the coarse pass's flow, resampled, wherever it moves more
than S × the pyramid's reach in fine-canvas px and the fine flow falls more than 4 px short of it, the
region dilated and feathered by 2 cells: the fine pass cannot find motion beyond its reach, as a small
fast object whose motion the pair's 99th percentile, which picks the canvas, does not see). Pairs that
get no second pass are unchanged by them.

``canvas-q-Q`` keeps the shipped consensus and changes the rule that picks the second canvas instead: the
``Q`` quantile of the pair's displacement magnitudes (shipped: 0.99) must fit the reach there, so a small
fast region (under 1 % of the pixels) that 0.99 does not see can keep the canvas smaller. ``rewarp-S``
runs the whole pyramid again on each frame and the other one warped onto it by the shipped flow, and
composes S × that residual with the flow (2× the motion cost). ``varref-grid`` / ``varref-canvas`` follow
the consensus with OpenCV's variational refinement (``cv2.VariationalRefinement``, the last step of DIS
flow: brightness and gradient constancy with a smoothness term, defaults) of each direction, on the
flow's grid (frames area-downsampled to it) or on the canvas (flow upsampled, refined, area-downsampled
back): a classical sub-pixel polish for the slow, finely textured regions where our flow is 0.5–1 px off.
``lk-canvas`` does the same with two guarded Lucas–Kanade steps on the canvas (:func:`lucas_kanade_refine`:
RGB gradients, 7×7 windows, each step at most 0.5 px, kept where it lowers the windowed photometric error), and
``lk-gated-T`` keeps its update only in proportion to the windows' texture (the structure tensor's smaller
eigenvalue λ, weight λ / (λ + T): Shi and Tomasi's test of where such a step can be trusted).

    python scripts/traindev_triplets.py --min-motion 24 --clips 64 --out cache/fastmotion   # fast objects
    python benchmarks/flow_post.py --data cache/fastmotion --variants consensus,two-pass-reach-0.5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgevfi import models
from edgevfi.evaluate import evaluate
from edgevfi.ops import backward_warp, flow_consensus, resize, resize_flow
from edgevfi.runtime import EagerBackend, Runner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from warm_start import FirstPassBackend, shipped_flow_model

VARIANTS = (
    "none",
    "consensus",
    "consensus-x2",
    "consensus-weighted-1",
    "consensus-weighted-3",
    "consensus-weighted-6",
    "consensus-every-block",
    "last-block-again",
    "quarter-block-again",
    "guided-2",
    "guided-4",
    "median",
    "two-pass-blend-0.15",
    "two-pass-blend-0.3",
    "two-pass-select-4",
    "two-pass-reach-0.5",
    "two-pass-reach-0.75",
    "canvas-q-0.995",
    "canvas-q-0.999",
    "canvas-q-1.0",
    "rewarp-1.0",
    "rewarp-0.5",
    "varref-grid",
    "varref-canvas",
    "lk-canvas",
    "lk-gated-0.001",
    "lk-gated-0.01",
)


def box(x: Tensor, r: int) -> Tensor:
    """Mean over a (2r+1)² window, edges replicated."""
    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), 2 * r + 1, 1)


def guided_filter(p: Tensor, guide: Tensor, r: int, eps: float) -> Tensor:
    """He et al.'s guided filter of ``p`` (any channels) with a one-channel ``guide``."""
    mean_i, mean_p = box(guide, r), box(p, r)
    a = (box(guide * p, r) - mean_i * mean_p) / (box(guide * guide, r) - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    return box(a, r) * guide + box(b, r)


def median3(x: Tensor) -> Tensor:
    u = F.pad(x, (1, 1, 1, 1), mode="replicate").unfold(2, 3, 1).unfold(3, 3, 1)
    return u.reshape(*u.shape[:4], 9).median(-1).values


def weighted_consensus(f01: Tensor, f10: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    """:func:`flow_consensus` moved only where the two estimates agree within ~``sigma`` px."""
    out = []
    for a, b in ((f01, f10), (f10, f01)):
        other = -backward_warp(b, a)
        w = 0.5 * torch.exp(-((a - other) ** 2).sum(1, keepdim=True) / sigma**2)
        out.append(a + w * (other - a))
    return out[0], out[1]


class ConsensusAfterBlock(nn.Module):
    """A pyramid block whose updated flow is replaced by its two directions' consensus.

    The block's input holds the current flow ÷ scale at channels 9–10 (both images and the warped
    one before it), so the wrapper recovers the flow in the block's grid pixels from it.
    """

    def __init__(self, block: nn.Module, scale: int) -> None:
        super().__init__()
        self.block, self.scale = block, scale

    def forward(self, x: Tensor, cost: Tensor | None = None) -> tuple[Tensor, Tensor]:
        delta, hidden = self.block(x) if cost is None else self.block(x, cost)
        flow = x[:, 9:11] * self.scale
        new = flow + delta
        B = new.shape[0] // 2
        return torch.cat(flow_consensus(new[:B], new[B:]), 0) - flow, hidden


class PostMotion(EagerBackend):
    """Eager backend applying a post-step to each motion pass's flow (in the last block's grid pixels)."""

    def __init__(self, model: models.TwoStageModel, post) -> None:
        super().__init__(model)
        self.post = post

    @torch.inference_mode()
    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        m0, m1 = super().motion(img0, img1)
        if self.post is None:
            return m0, m1
        s = float(self.model.flow.scales[-1])  # canvas px per grid px of the flow
        a, b = self.post(m0 / s, m1 / s, img0, img1)
        return a * s, b * s


class QuantileCanvas(EagerBackend):
    """The model as it is, with the motion-adaptive canvas picked at another displacement quantile."""

    def __init__(self, model: models.TwoStageModel, quantile: float) -> None:
        super().__init__(model)
        self.quantile = quantile

    def refine_canvas(
        self, frame_hw: tuple[int, int], canvas_hw: tuple[int, int], m0: Tensor, m1: Tensor
    ) -> tuple[int, int]:
        return self.model.refine_canvas(frame_hw, canvas_hw, m0, m1, quantile=self.quantile)


class RewarpMotion(EagerBackend):
    """The shipped flow, then the whole pyramid again on each frame and the other one warped onto it.

    The second pass sees only what the first got wrong, so its global cost volume (±reach around zero)
    can correct errors over whole regions that the finer blocks' small windows cannot; its residual
    ``r`` (scaled by ``share``) is composed with the first flow: ``F'(p) = r(p) + F(p + r(p))``.
    """

    def __init__(self, model: models.TwoStageModel, share: float) -> None:
        super().__init__(model)
        self.share = share

    @torch.inference_mode()
    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        m0, m1 = super().motion(img0, img1)
        s = float(self.model.flow.scales[-1])
        size = tuple(img0.shape[-2:])
        # The flow is in canvas px already, so it is resized onto the canvas without rescaling.
        w1, w0 = backward_warp(img1, resize(m0, size)), backward_warp(img0, resize(m1, size))
        B = img0.shape[0]
        r, _ = super().motion(torch.cat([img0, img1]), torch.cat([w1, w0]))
        out = []
        for m, rg in ((m0, r[:B]), (m1, r[B:])):
            rg = self.share * rg / s
            out.append((rg + backward_warp(m / s, rg)) * s)
        return out[0], out[1]


def pair_error(img: Tensor, other: Tensor, flow: Tensor, back: Tensor, scale: float, r: int) -> Tensor:
    """Box-filtered photometric + forward-backward error of ``flow`` (canvas px, on a grid ``scale`` px apart)."""
    photo = (img - backward_warp(other, flow / scale)).abs().mean(1, keepdim=True)
    fb = (flow + backward_warp(back, flow / scale)).abs().sum(1, keepdim=True) / scale
    return box(photo + fb, r)


class TwoPassMotion(FirstPassBackend):
    """Eager backend that fuses the fine motion pass with the coarse pass the Runner ran before it.

    ``fuse(m0, m1, c0, c1, img0, img1)`` gets the fine pass's two flows, the coarse pass's resampled onto
    the fine grid (fine canvas px) and the fine canvas's frames, and returns the two flows to use.
    """

    def __init__(self, model: models.TwoStageModel, fuse) -> None:
        super().__init__(model)
        self.fuse = fuse

    @torch.inference_mode()
    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        first = self.take_first_pass()
        m0, m1 = super().motion(img0, img1)
        if first is None:
            return m0, m1
        grid = tuple(m0.shape[-2:])
        # The grids are the canvases halved, so resampling to the fine grid also rescales to fine canvas px.
        c0, c1 = resize_flow(first[0], grid), resize_flow(first[1], grid)
        return self.fuse(m0, m1, c0, c1, img0, img1)


def blend_passes(share: float):
    """The fine flow moved by a constant ``share`` towards the coarse one."""

    def fuse(m0: Tensor, m1: Tensor, c0: Tensor, c1: Tensor, *_) -> tuple[Tensor, Tensor]:
        return m0 + share * (c0 - m0), m1 + share * (c1 - m1)

    return fuse


def select_passes(r: int):
    """Per pixel the flow with the lower box-filtered photometric + forward-backward error."""

    def fuse(m0: Tensor, m1: Tensor, c0: Tensor, c1: Tensor, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        grid = m0.shape[-2:]
        scale = img0.shape[-2] / grid[0]
        a, b = (F.interpolate(x, size=grid, mode="area") for x in (img0, img1))
        out = []
        for fine, coarse, fine_back, coarse_back, x, y in ((m0, c0, m1, c1, a, b), (m1, c1, m0, c0, b, a)):
            coarse_wins = pair_error(x, y, coarse, coarse_back, scale, r) < pair_error(x, y, fine, fine_back, scale, r)
            out.append(torch.where(coarse_wins, coarse, fine))
        return out[0], out[1]

    return fuse


def reach_passes(limit: float):
    """Each direction through :func:`beyond_reach_fallback` with ``limit`` fine-canvas px."""

    def fuse(m0: Tensor, m1: Tensor, c0: Tensor, c1: Tensor, *_) -> tuple[Tensor, Tensor]:
        return beyond_reach_fallback(m0, c0, limit), beyond_reach_fallback(m1, c1, limit)

    return fuse


def beyond_reach_fallback(fine: Tensor, coarse: Tensor, limit: float, margin: float = 4.0, r: int = 2) -> Tensor:
    """``fine`` where it can be trusted, ``coarse`` (resampled to fine canvas px) around pixels whose coarse
    motion exceeds ``limit`` fine-canvas px and the fine flow falls short of it by more than ``margin``."""
    cm, fm = coarse.norm(dim=1, keepdim=True), fine.norm(dim=1, keepdim=True)
    short = ((cm > limit) & (cm - fm > margin)).to(fine.dtype)
    mask = F.max_pool2d(short, 2 * r + 1, 1, r)
    mask = box(mask, r)
    return fine + mask * (coarse - fine)


def variational_refine(flow: Tensor, img: Tensor, other: Tensor, alpha: float = 20.0) -> Tensor:
    """OpenCV's variational refinement (DIS's last step) of ``flow`` (px of the images' grid), per sample."""
    import cv2
    import numpy as np

    out = []
    for f, a, b in zip(flow, img, other, strict=True):
        ga = (a.mean(0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        gb = (b.mean(0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        vr = cv2.VariationalRefinement_create()
        vr.setAlpha(alpha)
        fl = np.ascontiguousarray(f.permute(1, 2, 0).numpy().astype(np.float32))
        vr.calc(ga, gb, fl)
        out.append(torch.from_numpy(fl).permute(2, 0, 1))
    return torch.stack(out).to(flow)


def refine_on_canvas(refine, a: Tensor, b: Tensor, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
    """``refine(flow, img, other)`` of both directions on the canvas: each flow (px of its grid) upsampled
    to the canvas images' size, refined there, and area-downsampled back."""
    grid, size = a.shape[-2:], img0.shape[-2:]
    k = size[0] / grid[0]
    ra = refine(resize(a, size) * k, img0, img1)
    rb = refine(resize(b, size) * k, img1, img0)
    return F.interpolate(ra, size=grid, mode="area") / k, F.interpolate(rb, size=grid, mode="area") / k


def varref(at_canvas: bool):
    """The consensus, then :func:`variational_refine` of each direction on the flow's grid or the canvas."""

    def post(a: Tensor, b: Tensor, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        a, b = flow_consensus(a, b)
        grid = a.shape[-2:]
        if at_canvas:
            return refine_on_canvas(variational_refine, a, b, img0, img1)
        g0, g1 = (F.interpolate(x, size=grid, mode="area") for x in (img0, img1))
        return variational_refine(a, g0, g1), variational_refine(b, g1, g0)

    return post


def image_gradients(img: Tensor) -> tuple[Tensor, Tensor]:
    """Central differences along x and y, edges replicated."""
    gx = F.pad(img[..., :, 2:] - img[..., :, :-2], (1, 1, 0, 0), mode="replicate") * 0.5
    gy = F.pad(img[..., 2:, :] - img[..., :-2, :], (0, 0, 1, 1), mode="replicate") * 0.5
    return gx, gy


def lucas_kanade_refine(
    flow: Tensor, img0: Tensor, img1: Tensor, steps: int = 2, r: int = 3, tau: float = 0.0
) -> Tensor:
    """``flow`` (img0's grid, px, ``img0(p) ≈ img1(p + flow)``) after ``steps`` windowed Lucas–Kanade steps.

    Each step solves the (2r+1)²-window least squares of the linearised brightness constancy (RGB,
    gradients of the mean of img0 and the warped img1, Tikhonov 1e-3), at most 0.5 px per component.
    The result is kept only where it lowers the window's photometric error; with ``tau`` > 0 it is
    also weighted by λ / (λ + tau), λ the structure tensor's smaller eigenvalue (texture).
    """
    if steps < 1:
        raise ValueError(f"lucas_kanade_refine needs steps >= 1, got {steps}")
    lam, start = 1e-3, flow
    for _ in range(steps):
        warped = backward_warp(img1, flow)
        gx, gy = image_gradients(0.5 * (warped + img0))
        dt = warped - img0
        a11, a12, a22 = (box((u * v).sum(1, keepdim=True), r) for u, v in ((gx, gx), (gx, gy), (gy, gy)))
        b1, b2 = (box((g * dt).sum(1, keepdim=True), r) for g in (gx, gy))
        a11, a22 = a11 + lam, a22 + lam
        det = a11 * a22 - a12 * a12
        step = torch.cat([a12 * b2 - a22 * b1, a12 * b1 - a11 * b2], 1) / det
        flow = flow + step.clamp(-0.5, 0.5)
    if tau > 0:
        smaller = 0.5 * (a11 + a22 - ((a11 - a22) ** 2 + 4 * a12 * a12).sqrt()) - lam
        flow = start + (smaller / (smaller + tau)).clamp(0, 1) * (flow - start)
    before = box(((backward_warp(img1, start) - img0) ** 2).sum(1, keepdim=True), r)
    after = box(((backward_warp(img1, flow) - img0) ** 2).sum(1, keepdim=True), r)
    return torch.where(after < before, flow, start)


def lucas_kanade(tau: float):
    """The consensus, then :func:`lucas_kanade_refine` of each direction on the canvas."""

    def post(a: Tensor, b: Tensor, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        refine = partial(lucas_kanade_refine, tau=tau)
        return refine_on_canvas(refine, *flow_consensus(a, b), img0, img1)

    return post


def variant(model: models.TwoStageModel, name: str) -> EagerBackend:
    """The backend for variant ``name`` (``model`` has no consensus of its own; it may be changed)."""
    flow = model.flow
    if name == "none":
        return PostMotion(model, None)
    if name == "consensus":
        return PostMotion(model, lambda a, b, *_: flow_consensus(a, b))
    if name == "consensus-x2":
        return PostMotion(model, lambda a, b, *_: flow_consensus(*flow_consensus(a, b)))
    if name.startswith("consensus-weighted-"):
        # S is in canvas px; the post-step sees grid px (the last block's scale per px).
        sigma = float(name.rsplit("-", 1)[1]) / flow.scales[-1]
        return PostMotion(model, lambda a, b, *_: weighted_consensus(a, b, sigma))
    if name == "consensus-every-block":
        for k, scale in enumerate(flow.scales):
            flow.blocks[k] = ConsensusAfterBlock(flow.blocks[k], scale)
        return PostMotion(model, None)
    if name in ("last-block-again", "quarter-block-again"):
        k = len(flow.blocks) - 1 if name == "last-block-again" else len(flow.blocks) - 2
        flow.repeats[str(k)] = flow.blocks[k]  # FlowPyramid runs a repeat after block k on its output
        return PostMotion(model, None)
    if name.startswith("guided-"):
        r = int(name.rsplit("-", 1)[1])

        def guided(a: Tensor, b: Tensor, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
            g0 = F.interpolate(img0.mean(1, keepdim=True), size=a.shape[-2:], mode="area")
            g1 = F.interpolate(img1.mean(1, keepdim=True), size=b.shape[-2:], mode="area")
            return guided_filter(a, g0, r, 0.01), guided_filter(b, g1, r, 0.01)

        return PostMotion(model, guided)
    if name == "median":
        return PostMotion(model, lambda a, b, *_: (median3(a), median3(b)))
    if name.startswith("two-pass-"):
        model.flow.consensus = True  # the shipped setting, which the model here is built without
        kind, arg = name.removeprefix("two-pass-").rsplit("-", 1)
        if kind == "blend":
            return TwoPassMotion(model, blend_passes(float(arg)))
        if kind == "select":
            return TwoPassMotion(model, select_passes(int(arg)))
        if kind == "reach":
            return TwoPassMotion(model, reach_passes(float(arg) * model.motion_reach))
    if name.startswith("rewarp-"):
        model.flow.consensus = True  # the shipped setting, in both passes
        return RewarpMotion(model, float(name.removeprefix("rewarp-")))
    if name.startswith("canvas-q-"):
        model.flow.consensus = True  # the shipped setting
        return QuantileCanvas(model, float(name.removeprefix("canvas-q-")))
    if name.startswith("varref-"):
        return PostMotion(model, varref(name == "varref-canvas"))
    if name == "lk-canvas":
        return PostMotion(model, lucas_kanade(0.0))
    if name.startswith("lk-gated-"):
        return PostMotion(model, lucas_kanade(float(name.removeprefix("lk-gated-"))))
    raise ValueError(f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=models.default_model_name())
    p.add_argument("--data", default="cache/traindev")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"benchmarks/flow_post.py: unknown variant {unknown[0]!r} (known: {', '.join(VARIANTS)})")
    shipped_flow_model(args.model, args.data, "benchmarks/flow_post.py")
    print("| variant | PSNR (dB) | vs none | SSIM | s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows, base = [], None
    for name in names:
        # A fresh model each time (some variants change its pyramid), without a consensus of its own.
        model = models.create(args.model, pretrained=True, motion_consensus=False)
        t0 = time.perf_counter()
        res = evaluate(Runner(variant(model, name)), args.data, args.model)
        seconds = time.perf_counter() - t0
        base = res["mean_psnr"] if name == "none" else base
        delta = f"{res['mean_psnr'] - base:+.3f}" if base is not None and name != "none" else "–"
        print(f"| {name} | {res['mean_psnr']:.3f} | {delta} | {res['mean_ssim']:.4f} | {seconds:.0f} |", flush=True)
        rows.append(
            {
                "variant": name,
                "mean_psnr": res["mean_psnr"],
                "mean_ssim": res["mean_ssim"],
                "n": res["n"],
                "per_triplet": res["per_triplet"],
            }
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"model": args.model, "data": args.data, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
