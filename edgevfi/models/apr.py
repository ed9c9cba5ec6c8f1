"""APR-VFI: flow, average-splat forward warping, alignment-aware patch routing (seed 004).

Motion stage: :class:`~edgevfi.models.blocks.FlowPyramid` gives ``F_{0→1}`` and ``F_{1→0}``.
Synthesis stage (per tile, full resolution):

* a context net *without downsampling* (as in the paper, so any integer source shift commutes
  with it) extracts features of each source crop;
* image, context and displacement are forward-warped to time t by average splatting
  (``F_{0→t} = t·F_{0→1}``, ``F_{1→t} = (1−t)·F_{1→0}``); the splatted weight marks holes;
* optionally (``align_radius``, the shipped ``apr-s``) the two splatted images are moved onto each
  other by their relative misalignment, measured from their ±1-px correlation (:class:`SplatAligner`):
  a flow error e leaves them t·e and (1−t)·e either side of the true position;
* a head at 1/2 resolution feeds 5 refine blocks; the first always runs, the other four are gated
  per patch by the APR router (straight-through Gumbel in training, hard decisions at test);
* the blocks' outputs are added and channel-normalised ("add & norm"), then decoded to a
  blending mask and a residual: ``I_t = M·Ĩ0 + (1−M)·Ĩ1 + ΔI``.

Departures from the paper, and why: only splatting and the final blend run at full resolution;
the splatted maps are pixel-unshuffled to 1/4 resolution where the refine blocks work (with 1/8
inside each block) — the paper's full-resolution features cost ~5× RIFE's MACs, far beyond a
phone's budget at 4K. The context net is optional (``context=0`` in the edge config: the
unshuffled warped images carry the same information at a fraction of the cost). Routing patches
are 32 px (tiles are small; 64-px patches leave too few per tile to route). Splatting uses either
the scatter reference or the gather/scatter-free window ops (``warp_impl``), the latter for
backends that cannot scatter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgevfi.models.base import ModelConfig, SplattingConfig, TwoStageModel, residual_displacement
from edgevfi.models.blocks import (
    FlowPyramid,
    MotionConfig,
    QuarterDecoder,
    QuarterEncoder,
    RefineBlock,
    SplatAligner,
    channel_norm,
    conv,
    eager_tap_sums,
    local_correlation,
    per_block,
)
from edgevfi.ops.warp import forward_splat_variant, separable_window_warp


@dataclass(frozen=True)
class APRConfig(ModelConfig, MotionConfig, SplattingConfig):
    family: str = "apr"
    context: int = 0
    width: int = 32
    inner: int | tuple[int, ...] = 48  # one width for every refine block, or one per block (pruned)
    blocks: int = 5
    keep_ratios: tuple[float, ...] = (0.1, 0.4, 0.6, 0.9)
    patch: int = 32
    router_width: int = 16
    # "all": every refine block on every patch (curriculum stages 1–2 and the default export);
    # "router": APR gating, each dynamic block run on every patch and gated (training, and the
    # static graph for backends without gather/scatter); "topk": static top-k per block (fixed
    # k = keep ratio × patches: gather k patches, run the block on them, put them back) — equal to
    # "router" whenever the router picks at most k patches, with a real saving.
    route_mode: str = "all"
    warp_impl: str = "scatter"  # or "window" / "separable" (edgevfi.ops.warp.SPLAT_IMPLS)
    window_radius: int = 4
    separable_radius: int = 12
    # Splat re-alignment (run 44; 0 = off): the two splatted images' relative misalignment δ, read from
    # their ±1-px correlation at full resolution and bounded to ±align_radius px, is taken out before
    # fusion (image 0 moved by t·δ, image 1 by −(1−t)·δ: where the flow consensus holds, a flow error e
    # puts them at +t·e and −(1−t)·e from the true position). Why: the region-wide 0.5–1 px flow errors
    # on finely textured pairs (fortieth session) blur what the synthesis fuses, and neither more motion
    # training nor finer matching evidence in the motion stage (run 43) removed them.
    align_radius: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.align_radius < 0:
            raise ValueError(f"align_radius must be >= 0 (0: off), got {self.align_radius}")


def to_patches(x: Tensor, cells: int) -> tuple[Tensor, tuple[int, int, int]]:
    """(B, C, H, W) → (B·n_h·n_w, C, cells, cells) patches in row-major order, and the grid to undo it."""
    B, C, H, W = x.shape
    nh, nw = H // cells, W // cells
    p = x.reshape(B, C, nh, cells, nw, cells).permute(0, 2, 4, 1, 3, 5)
    return p.reshape(B * nh * nw, C, cells, cells), (B, nh, nw)


def from_patches(p: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """Inverse of :func:`to_patches`."""
    B, nh, nw = grid
    C, cells = p.shape[1], p.shape[-1]
    return p.reshape(B, nh, nw, C, cells, cells).permute(0, 3, 1, 4, 2, 5).reshape(B, C, nh * cells, nw * cells)


class PatchRouter(nn.Module):
    """Predicts, per patch, the probability of running each dynamic refine block.

    Input: alignment cues at 1/4 resolution — the warped-image difference and the target-aligned
    displacements — as in the paper. Avg- and max-pooled per patch, then a linear layer.
    """

    def __init__(self, cin: int, width: int, blocks: int, cells: int) -> None:
        super().__init__()
        self.cells = cells
        self.feat = nn.Sequential(conv(cin, width), conv(width, width))
        self.linear = nn.Conv2d(2 * width, blocks, 1)

    def forward(self, x: Tensor) -> Tensor:
        f = self.feat(x)
        pooled = torch.cat([F.avg_pool2d(f, self.cells), F.max_pool2d(f, self.cells)], 1)
        return self.linear(pooled)  # (B, d, n_h, n_w) logits


def straight_through_gumbel(logits: Tensor, tau: float = 1.0) -> Tensor:
    """Binary straight-through Gumbel-softmax: hard 0/1 forward, soft gradient backward."""
    u = torch.rand_like(logits).clamp_(1e-6, 1 - 1e-6)
    noise = torch.log(u) - torch.log1p(-u)  # logistic = difference of two Gumbels
    soft = torch.sigmoid((logits + noise) / tau)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + soft - soft.detach()


class APRVFI(TwoStageModel):
    """APR-VFI made two-stage and tileable; see the module docstring."""

    hypotheses = 1

    def __init__(self, config: APRConfig) -> None:
        super().__init__(config)
        c = config
        self.flow = FlowPyramid.from_config(c)
        self.context = nn.Sequential(conv(3, c.context), conv(c.context, c.context)) if c.context else None
        self.per_source = 3 + c.context + 2  # image, context, target-aligned displacement
        self.encode = QuarterEncoder(2 * self.per_source + 2, c.width)  # + two coverage maps
        self.time = nn.Conv2d(1, c.width, 1)
        self.refine = nn.ModuleList(RefineBlock(c.width, inner) for inner in per_block(c.inner, c.blocks))
        self.router = PatchRouter(3 + 4, c.router_width, c.blocks - 1, c.patch // 4)
        self.decode = QuarterDecoder(c.width, 4)
        self.align = SplatAligner() if c.align_radius else None
        #: route probabilities of the last forward (B, d, n_h, n_w); read by the router loss
        self.last_route_probs: Tensor | None = None
        #: warped images and their coverage of the last forward; read by the router labels
        self.last_warped: tuple[Tensor, Tensor, Tensor, Tensor] | None = None

    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        flow, _ = self.flow(img0, img1)
        B = img0.shape[0]
        return flow[:B], flow[B:]

    def _splat(self, x: Tensor, disp: Tensor) -> tuple[Tensor, Tensor]:
        c = self.config
        return forward_splat_variant(x, disp, c.warp_impl, c.splat_radius)

    def synthesize(self, src0, src1, mot0, mot1, shift0, shift1, t) -> Tensor:
        c = self.config
        B = src0.shape[0]
        d0 = residual_displacement(mot0, shift0, t, 2)
        d1 = residual_displacement(mot1, shift1, 1 - t, 2)
        warped, coverage = [], []
        for src, d, shift in ((src0, d0, shift0), (src1, d1, shift1)):
            # The displacement *feature* must not depend on the tile's shift, or tiles and the
            # full frame would see different inputs: use the absolute motion to time t.
            motion_t = d + shift.view(B, 2, 1, 1).to(d.dtype)
            parts = [src, motion_t] if self.context is None else [src, self.context(src), motion_t]
            w, cov = self._splat(torch.cat(parts, 1), d)
            warped.append(w)
            coverage.append(cov.clamp(max=1.0))
        w0, w1 = warped
        i0, i1 = w0[:, :3], w1[:, :3]
        if self.align is not None:
            i0, i1 = self._realign(i0, i1, coverage[0], coverage[1], t.view(B, 1, 1, 1).to(i0.dtype))
            w0, w1 = torch.cat([i0, w0[:, 3:]], 1), torch.cat([i1, w1[:, 3:]], 1)
        self.last_warped = (i0, i1, coverage[0], coverage[1])
        tfeat = self.time(t.view(B, 1, 1, 1))
        feat = self.encode(torch.cat([w0, w1, coverage[0], coverage[1]], 1), tfeat)

        logits = self._route(i0, i1, w0[:, -2:], w1[:, -2:])
        f = self.refine[0](feat)
        total = f
        if logits is None:
            for block in self.refine[1:]:
                f = block(f)
                total = total + f
        else:
            # Routed blocks see one patch at a time (as in APR-VFI), so running a block on a subset
            # of patches gives those patches exactly what running it on all of them would.
            cells = c.patch // 4
            patches, grid = to_patches(f, cells)
            total_p, _ = to_patches(total, cells)
            for k, block in enumerate(self.refine[1:]):
                patches = self._routed_block(block, patches, logits[:, k], k)
                total_p = total_p + patches
            total = from_patches(total_p, grid)
        y = self.decode(channel_norm(total))
        mask = torch.sigmoid(y[:, :1])
        return (mask * i0 + (1 - mask) * i1 + y[:, 1:]).clamp(0, 1)

    def _realign(self, i0: Tensor, i1: Tensor, cov0: Tensor, cov1: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Both splatted images moved onto each other (``align_radius``; see :class:`SplatAligner`)."""
        assert self.align is not None
        R = self.config.align_radius
        B = i0.shape[0]
        f = self.align.features(torch.cat([i0, i1], 0))
        corr = local_correlation(f[:B], f[B:], 1, self.align.corr_weight, self.align.tap_sums and eager_tap_sums())
        cues = torch.cat([corr, i0 - i1, cov0, cov1], 1)
        raw = self.align.head(F.pixel_unshuffle(cues, SplatAligner.unshuffle))
        delta = F.interpolate(R * torch.tanh(raw / R), size=i0.shape[-2:], mode="bilinear", align_corners=False)
        # Column then row pass: 2.0–2.6× faster than the 2-D window on the runtimes, same PSNR (its docstring).
        return separable_window_warp(i0, t * delta, R), separable_window_warp(i1, (t - 1) * delta, R)

    def _route(self, i0: Tensor, i1: Tensor, d0: Tensor, d1: Tensor) -> Tensor | None:
        """Router logits (B, d, n_h, n_w), or ``None`` when every block runs everywhere."""
        if self.config.route_mode == "all":
            self.last_route_probs = None
            return None
        if self.config.route_mode not in ("router", "topk"):
            raise ValueError(f"unknown route_mode {self.config.route_mode!r} (all, router, topk)")
        cues = F.avg_pool2d(torch.cat([(i0 - i1).abs(), d0, d1], 1), 4)
        logits = self.router(cues)
        self.last_route_probs = torch.sigmoid(logits)
        return logits

    def _routed_block(self, block: nn.Module, patches: Tensor, logits: Tensor, k: int) -> Tensor:
        """One dynamic refine block on (B·n, C, p, p) patches with per-patch logits (B, n_h, n_w)."""
        B = logits.shape[0]
        flat = logits.reshape(B * logits.shape[1] * logits.shape[2])
        if self.config.route_mode == "router" or self.training:
            gate = straight_through_gumbel(flat) if self.training else (flat > 0).to(flat.dtype)
            gate = gate.view(-1, 1, 1, 1)
            return gate * block(patches) + (1 - gate) * patches
        n = flat.shape[0] // B
        keep = max(1, min(n, round(self.config.keep_ratios[k] * n)))
        idx = torch.topk(logits.reshape(B, n), keep, dim=1).indices
        idx = (idx + torch.arange(B, device=idx.device).view(B, 1) * n).reshape(B * keep)
        chosen = patches.index_select(0, idx)
        gate = (flat.index_select(0, idx) > 0).to(patches.dtype).view(-1, 1, 1, 1)
        return patches.index_copy(0, idx, gate * block(chosen) + (1 - gate) * chosen)
