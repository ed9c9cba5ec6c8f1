"""Layers shared by the model families: plain convs, PReLU, pixel shuffle, nothing exotic.

Every op here is chosen to export to ExecuTorch/XNNPACK, Core ML, LiteRT and ONNX and to quantize
well: 3×3/1×1 convolutions, PReLU, pixel (un)shuffle, elementwise math. No normalisation layer
depends on statistics beyond a pixel, so tiles and full frames compute the same thing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgevfi.ops.warp import backward_warp, block_windows, downsample, downsample_kernel, flow_consensus


def conv(cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True) -> nn.Sequential:
    """k×k convolution (zero padding keeps size / stride), optionally followed by PReLU."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2)]
    if act:
        layers.append(nn.PReLU(cout))
    return nn.Sequential(*layers)


class Upsample2x(nn.Module):
    """1×1 conv to 4·cout channels then pixel shuffle: a cheap, exact-size learned upsampler."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, cout * 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.proj(x), 2)


def channel_norm(x: Tensor, eps: float = 1e-5, ones: Tensor | None = None) -> Tensor:
    """Normalise each pixel's feature vector (APR-VFI's "add & norm" fusion), no batch statistics.

    ``ones``: constant (1, C, 1, 1) ones (a module buffer) to take the channel means as 1×1
    convolutions, which XNNPACK delegates; a mean over channels runs as ExecuTorch's single-threaded
    portable kernel (7 % of the motion graph's time when its cost volumes' twelve did).
    """
    if ones is None:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
    else:
        scale = 1.0 / x.shape[1]
        mean = F.conv2d(x, ones.to(x)) * scale
        var = F.conv2d((x - mean).pow(2), ones.to(x)) * scale
    return (x - mean) * torch.rsqrt(var + eps)


def unit_features(f: Tensor, ones: Tensor | None = None) -> Tensor:
    """Each pixel's feature vector at zero mean and unit norm, so a channel sum of two is their
    correlation coefficient in [−1, 1] (post-activation features are mostly positive, so raw cosines
    all sit near 1). ``ones``: as in :func:`channel_norm`."""
    return channel_norm(f, ones=ones) / f.shape[1] ** 0.5


def per_block(inner: int | tuple[int, ...], blocks: int) -> tuple[int, ...]:
    """Inner width of each refine block: one int for all, or one per block (a pruned model's widths)."""
    if isinstance(inner, int):
        return (inner,) * blocks
    if len(inner) != blocks:
        raise ValueError(f"inner widths {inner} do not give one width per block ({blocks} blocks)")
    return tuple(int(x) for x in inner)


class RefineBlock(nn.Module):
    """APR-VFI's encoder–decoder refine block at 1/4 resolution: down ×2, conv, up ×2, residual."""

    def __init__(self, ch: int, inner: int) -> None:
        super().__init__()
        self.down = conv(ch, inner, 3, 2)
        self.body = conv(inner, inner)
        self.up = Upsample2x(inner, ch)
        self.out = conv(ch, ch, act=False)
        self.act = nn.PReLU(ch)

    def forward(self, x: Tensor) -> Tensor:
        y = self.up(self.body(self.down(x)))
        return self.act(x + self.out(y + x))


class QuarterEncoder(nn.Module):
    """Full-resolution maps → features at 1/4 resolution via pixel-unshuffle and a 1×1 conv.

    Nothing heavy runs at full resolution: this is what keeps a 4K tile affordable on a phone.
    """

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.proj = conv(cin * 16, width, 1)
        self.mix = conv(width, width)

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        y = self.proj(F.pixel_unshuffle(x, 4))
        if extra is not None:
            y = y + extra
        return self.mix(y)


class QuarterDecoder(nn.Module):
    """1/4-resolution features → ``cout`` full-resolution maps (two learned ×2 upsamplings)."""

    def __init__(self, width: int, cout: int, mid: int = 16, fine: int = 8) -> None:
        super().__init__()
        self.up1 = Upsample2x(width, mid)
        self.mid_conv = conv(mid, mid)
        self.up2 = Upsample2x(mid, fine)
        self.full = nn.Conv2d(fine, cout, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.full(F.leaky_relu(self.up2(self.mid_conv(self.up1(x))), 0.1))


class SplatAligner(nn.Module):
    """The learned layers of APR's splat re-alignment (``align_radius``; the model's own code does the
    correlation, the bound and the warps, so that arithmetic stays float under INT8).

    ``features``: full-resolution matching features of a splatted image; ``head``: from the two
    images' ±1-px correlation, their difference and both coverages, pixel-unshuffled to 1/4
    resolution, their relative misalignment δ (2 channels, px).

    The last conv starts near zero, not at zero: the tents of its warps (run 44 trained through
    :func:`~edgevfi.ops.warp.window_warp`, the model now runs :func:`~edgevfi.ops.warp.separable_window_warp`)
    have no gradient at an exactly integer shift, so a zero δ would never move. With std 1e-4 its
    first δ is ~1e-3 px, i.e. the untrained model plus a rounding-level change.
    """

    taps = 9  # the ±1-px correlation
    unshuffle = 4

    def __init__(self, features: int = 8, width: int = 16) -> None:
        super().__init__()
        self.tap_sums = True  # eager correlation form (as FlowPyramid's; exported_cost_volumes)
        self.features = conv(3, features)
        # The constant ones of the correlation's channel sums (local_correlation), sized by the features.
        self.register_buffer("corr_weight", correlation_weight(features), persistent=False)
        cin = (self.taps + 3 + 2) * self.unshuffle**2
        self.head = nn.Sequential(conv(cin, width, 1), conv(width, width), nn.Conv2d(width, 2, 3, 1, 1))
        nn.init.normal_(self.head[-1].weight, std=1e-4)
        nn.init.zeros_(self.head[-1].bias)


class ResConv(nn.Module):
    """``act(x + β·conv(x))`` with a learned per-channel β (RIFE 4.x): a residual path keeps deep
    estimators trainable from scratch (plain conv stacks starved the flow of gradient)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, ch, 1, 1))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x) * self.beta + x)


class MatchResidual(nn.Module):
    """``x + conv(act(conv(x)))`` with the second conv zero-initialised: a block that deepens a
    trained feature net and starts as the identity, so a grown model equals the trained one at step 0."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(ch, ch), nn.Conv2d(ch, ch, 3, 1, 1))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class FlowBlock(nn.Module):
    """One IFNet-style refinement step at ``1/scale`` of the canvas.

    Input: both images, the other image backward-warped by the current flow, and that flow, all
    resized to the block's scale; two stride-2 convs, residual convs at 1/(4·scale), then a learned
    ×4 upsampling (pixel shuffle) back to 1/scale. Returns a flow *update* and hidden features.
    """

    def __init__(self, cin: int, width: int, depth: int, cost_channels: int = 0, fine_channels: int = 0) -> None:
        super().__init__()
        self.down = nn.Sequential(conv(cin, width // 2, 3, 2), conv(width // 2, width, 3, 2))
        self.body = nn.Sequential(*(ResConv(width) for _ in range(depth)))
        self.flow = nn.Conv2d(width, 2 * 16, 3, 1, 1)
        nn.init.normal_(self.flow.weight, std=1e-3)
        nn.init.zeros_(self.flow.bias)
        # A warped cost volume enters through its own conv, added before the first activation: the
        # same function as a wider first conv, but the block's other tensors keep their names and
        # shapes, so a trained block grows one (``grow_checkpoint``). Zero init: the grown block
        # starts as exactly the trained one.
        self.cost_in: nn.Conv2d | None = None
        if cost_channels:
            self.cost_in = nn.Conv2d(cost_channels, width // 2, 3, 2, 1)
            nn.init.zeros_(self.cost_in.weight)
            nn.init.zeros_(self.cost_in.bias)
        # A cost volume at twice the block's resolution (the full canvas, for a 1/2-canvas block) enters
        # the same way, through a 2×2 stride-2 squeeze to the block's grid first (a pixel unshuffle and
        # a 1×1 conv in one, without the rank-6 view Core ML rejects). The last conv is zero-initialised
        # as ``cost_in`` is, so the squeeze learns only once it does.
        self.fine_in: nn.Sequential | None = None
        if fine_channels:
            self.fine_in = nn.Sequential(
                nn.Conv2d(fine_channels, 16, 2, 2), nn.LeakyReLU(0.2), nn.Conv2d(16, width // 2, 3, 2, 1)
            )
            nn.init.zeros_(self.fine_in[-1].weight)
            nn.init.zeros_(self.fine_in[-1].bias)

    def forward(self, x: Tensor, cost: Tensor | None = None, fine: Tensor | None = None) -> tuple[Tensor, Tensor]:
        extra = []
        if self.cost_in is not None and cost is not None:
            extra.append(self.cost_in(cost))
        if self.fine_in is not None and fine is not None:
            extra.append(self.fine_in(fine))
        if not extra:
            hidden = self.body(self.down(x))
        else:
            first_conv, first_act = self.down[0]
            pre = first_conv(x)
            for e in extra:
                pre = pre + e
            hidden = self.body(self.down[1](first_act(pre)))
        return F.pixel_shuffle(self.flow(hidden), 4), hidden


def widen_cost_taps(weight: Tensor, radius: int) -> Tensor:
    """A trained ``FlowBlock.cost_in`` weight, re-laid out for a cost volume of a wider ``radius``.

    The cost volume's channels are its taps in row-major (dy, dx) order, so the trained taps keep
    their displacements at the centre of the wider grid and the outer taps get zero weight: the
    widened block computes exactly what the trained one did until those weights train.
    """
    out_ch, taps, kh, kw = weight.shape
    old, new = math.isqrt(taps), 2 * radius + 1
    if old * old != taps or old % 2 == 0 or new < old:
        raise ValueError(f"a cost_in weight over {taps} taps does not widen to radius {radius}")
    pad = (new - old) // 2
    wide = weight.new_zeros(out_ch, new, new, kh, kw)
    wide[:, pad : pad + old, pad : pad + old] = weight.reshape(out_ch, old, old, kh, kw)
    return wide.reshape(out_ch, new * new, kh, kw)


def swap_pair(x: Tensor, batch: int) -> Tensor:
    """(2B, …) stacked as [frame 0s; frame 1s] → [frame 1s; frame 0s]: each sample's partner frame."""
    return torch.cat([x[batch:], x[:batch]], 0)


def correlation_weight(channels: int) -> Tensor:
    """Constant ones of the 1×1 convolution that sums one tap's channel products (C → 1)."""
    return torch.ones(1, channels, 1, 1)


class _TapSumCorrelation(torch.autograd.Function):
    """The cost volume as one channel sum per tap, with a backward that accumulates in place.

    Autograd's backward of the same loop allocates two full-size products and a zero-padded
    slice gradient per tap; accumulating both gradients with ``addcmul_`` makes forward + backward
    2–4× faster on CPU (``benchmarks/train_step.py``), and the correlation was about half of a
    motion-stage training step.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, f0: Tensor, f1: Tensor, radius: int) -> Tensor:
        H, W = f0.shape[-2:]
        n = 2 * radius + 1
        padded = F.pad(f1, (radius, radius, radius, radius))
        out = f0.new_empty(f0.shape[0], n * n, H, W)
        for k in range(n * n):
            dy, dx = divmod(k, n)
            torch.sum(f0 * padded[:, :, dy : dy + H, dx : dx + W], 1, out=out[:, k])
        ctx.save_for_backward(f0, padded)
        ctx.radius = radius
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        f0, padded = ctx.saved_tensors
        R = ctx.radius
        H, W = f0.shape[-2:]
        n = 2 * R + 1
        grad0, grad_padded = torch.zeros_like(f0), torch.zeros_like(padded)
        for k in range(n * n):
            dy, dx = divmod(k, n)
            g = grad[:, k : k + 1]
            grad0.addcmul_(g, padded[:, :, dy : dy + H, dx : dx + W])
            grad_padded[:, :, dy : dy + H, dx : dx + W].addcmul_(g, f0)
        return grad0, grad_padded[:, :, R : R + H, R : R + W], None


def eager_tap_sums() -> bool:
    """Whether cost volumes sum channels tap by tap (:class:`_TapSumCorrelation`): in eager PyTorch.

    Graphs being exported, traced or compiled take the batched matrix products of
    :func:`block_matmul_correlation` (or a 1×1 convolution per tap), which backends delegate (a
    reduction XNNPACK does not). Eager keeps training's form, whose hand-written backward
    is 2.0–4.1× faster than autograd's (``benchmarks/train_step.py``); ``benchmarks/correlation.py``
    times the two forms in eager inference.
    """
    return not (torch.compiler.is_exporting() or torch.compiler.is_compiling() or torch.jit.is_tracing())


@contextmanager
def exported_cost_volumes(model: nn.Module) -> Iterator[None]:
    """Within the block, every :class:`FlowPyramid` and :class:`SplatAligner` in ``model`` builds its
    cost volumes as exported graphs do (:func:`local_correlation`'s exported form; same values): for
    MAC counts that match the devices' graphs."""
    owners = [m for m in model.modules() if isinstance(m, (FlowPyramid, SplatAligner))]
    before = [p.tap_sums for p in owners]
    for p in owners:
        p.tap_sums = False
    try:
        yield
    finally:
        for p, state in zip(owners, before, strict=True):
            p.tap_sums = state


def local_correlation(
    f0: Tensor, f1: Tensor, radius: int, weight: Tensor | None = None, channel_sums: bool = False
) -> Tensor:
    """Cost volume: correlation coefficient of ``f0[p]`` and ``f1[p + d]`` for every d in [−R, R]².

    Three forms of the same values (the taps' channel sums, in different orders):

    * ``channel_sums``: one plain reduction per tap with a hand-written backward
      (:class:`_TapSumCorrelation`); eager training and inference use it (:func:`eager_tap_sums`).
    * exported graphs, when R ≥ 2 and the width is a multiple of 2R: :func:`block_matmul_correlation`,
      one batched matrix product per tap row, which every backend runs as a GEMM.
    * otherwise the per-tap form: static shifts (pad + slice + multiply), each tap's channel sum a
      1×1 convolution (C → 1) with constant ones (``weight``, a module buffer in
      :class:`FlowPyramid`), the (2R+1)² one-channel sums concatenated. At R = 1 the matrix products'
      blocks are 2 pixels wide, and this form is faster on every backend (the splat re-alignment's
      volume: 0.69× the time on ExecuTorch, 0.39× on LiteRT, 0.49× on ONNX Runtime;
      ``python benchmarks/cost_volume_export.py --only splat``).

    The exported forms take the features' channel means with the same ones (:func:`channel_norm`).

    Out-of-frame taps see zeros. (B, (2R+1)², H, W), taps in row-major (dy, dx) order.
    """
    if channel_sums:
        return _TapSumCorrelation.apply(unit_features(f0), unit_features(f1), radius)
    weight = (correlation_weight(f0.shape[1]) if weight is None else weight).to(f0)
    f0, f1 = unit_features(f0, weight), unit_features(f1, weight)
    if radius >= 2 and f0.shape[-1] % (2 * radius) == 0:
        return block_matmul_correlation(f0, f1, radius)
    H, W = f0.shape[-2:]
    padded = F.pad(f1, (radius, radius, radius, radius))
    shifts = [
        padded[:, :, radius + dy : radius + dy + H, radius + dx : radius + dx + W]
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
    ]
    return torch.cat([F.conv2d(f0 * shifted, weight) for shifted in shifts], 1)


def block_matmul_correlation(f0: Tensor, f1: Tensor, radius: int) -> Tensor:
    """``Σ_c f0[c, p] · f1[c, p + d]`` for every d in [−R, R]², as batched matrix products (zeros outside).

    Why: exported as a slice, a product and a 1×1 convolution per tap, the volume was hundreds of
    small memory-bound operators (and NCHW↔NHWC transposes around each convolution); in ExecuTorch's
    profile of the motion graph only a fifth of the time went to convolutions. Here each row of
    taps (fixed dy) is ONE ``bmm``: the image is cut into blocks of b = 2R pixels along x, and each
    block's b feature vectors are multiplied with the 2b vectors of the other map's window around it
    (the block and the next one of the x-padded map, rows shifted by dy). Of that b × 2b product,
    pixel i needs columns i … i + 2R: flattened, those start at i·(2b + 1), so one zero-pad and a
    reshape to rows of 2b + 1 put them in columns 0 … 2R. This computes 2b / (2R + 1) ≈ 1.8× the
    MACs of the taps, inside GEMM kernels, and reads each map about once per tap row instead of
    once per tap. ``benchmarks/cost_volume_export.py`` times it against the per-tap form.

    ``f0``, ``f1``: (B, C, H, W) with W a multiple of 2R. Returns (B, (2R+1)², H, W), row-major (dy, dx).
    """
    B, C, H, W = f0.shape
    r, b, k = radius, 2 * radius, 2 * radius + 1
    if W % b:
        raise ValueError(f"block_matmul_correlation needs a width that is a multiple of 2R = {b}, got {W}")
    blocks = W // b
    # (B·H·blocks, b, C): each block's feature vectors as the rows of one matrix.
    rows = f0.reshape(B, C, H, blocks, b).permute(0, 2, 3, 4, 1).reshape(B * H * blocks, b, C)
    # Padding x by R on both sides makes the padded width (blocks + 1)·b, so block j's window
    # (x from j·b − R to j·b + b + R) is padded blocks j and j + 1 side by side.
    windows = block_windows(F.pad(f1, (r, r, r, r)), b, -1)  # (B, H + 2R, blocks, C, 2b)
    taps = []
    for dy in range(k):
        window = windows[:, dy : dy + H].reshape(B * H * blocks, C, 2 * b)
        product = torch.bmm(rows, window).reshape(B * H * blocks, b * 2 * b)
        taps.append(F.pad(product, (0, b)).reshape(B * H * blocks, b, 2 * b + 1)[..., :k])
    # Taps in row-major (dy, dx) order along the last dim; at most rank 5 throughout (Core ML's limit).
    volume = torch.cat(taps, -1).reshape(B, H, blocks, b, k * k)
    return volume.permute(0, 4, 1, 2, 3).reshape(B, k * k, H, W)


@dataclass(frozen=True)
class MotionConfig:
    """The config fields of a :class:`FlowPyramid`, each ``motion_<arg>`` for the constructor's ``<arg>``.

    Mixed into every family's config that has a motion stage (``APRConfig``, ``SVMVConfig``).
    """

    motion_widths: tuple[int, ...] = (128, 96, 64)
    motion_depth: int = 3
    # Warped cost-volume radius of each motion block after the first (FlowPyramid.refine_radii); () = none.
    motion_refine_radii: tuple[int, ...] = ()
    # Residual blocks deepening the global cost volume's features (FlowPyramid.match_blocks).
    motion_match_blocks: int = 0
    # Residual blocks deepening the warped cost volumes' features (FlowPyramid.refine_match_blocks).
    motion_refine_match_blocks: int = 0
    # Width of a second, untied block after each motion block at that block's scale (FlowPyramid.repeat_widths).
    motion_repeat_widths: tuple[int, ...] = ()
    # Average each flow direction with the other's estimate of it after the last block (FlowPyramid.consensus).
    motion_consensus: bool = False
    # Radius of a full-canvas warped cost volume handed to a 1/2-canvas last block (FlowPyramid.fine_radius); 0 = none.
    motion_fine_radius: int = 0


#: The one list that builds the pyramid (:meth:`FlowPyramid.from_config`) and that a transplanted
#: motion stage carries with its tensors.
MOTION_FIELDS = tuple(f.name for f in dataclasses.fields(MotionConfig))


class FlowPyramid(nn.Module):
    """Bidirectional coarse-to-fine flow on the motion canvas (IFNet-style, tiny).

    Both directions run through the same weights as one batch (each sample sees its own frame
    first), so ``F_{0→1}`` and ``F_{1→0}`` are estimated symmetrically. One block per width, at 1/8,
    1/4, 1/2 (and, with a fourth width, 1/1) of the canvas; each finer block sees the other frame
    backward-warped by the current flow and predicts a residual. Output: flow at the finest block's
    scale in canvas pixels, and that block's hidden features (at a quarter of its scale) for heads
    that predict more than one hypothesis.

    ``refine_radii`` (one per block after the first; 0 = none) also hands the 1/4- and 1/2-canvas
    blocks a local cost volume between their own frame's features and the other frame's features
    backward-warped by the current flow (PWC-Net's warped correlation), reaching ±radius cells of
    that block's grid around the coarser estimate. Without it a finer block sees only warped RGB, no
    matching evidence (measured: making the coarse blocks more accurate did not improve the last
    block's flow; with these cost volumes the last block's error fell, docs/training-log.md run 14).

    ``match_blocks`` residual blocks deepen the 1/8-canvas features of the global cost volume: three
    strided convs see only 15 canvas px, too little context to tell repeated or flat texture apart,
    and the first block's errors are region-sized wrong matches (14 px after block 1 on val).
    ``refine_match_blocks`` does the same for the features of each warped cost volume (1/4 and 1/2
    canvas), which are one or two convs from RGB: too shallow to match flat or repeated texture
    precisely, and the finest block sets the flow's precision where the motion is small.

    ``repeat_widths`` (one per block, 0 = none; never the first) adds an untied second block of that
    width after a finer block, at the same scale, with its own look into that scale's warped cost
    volume around the refined flow. Its flow head starts at zero (a grown pyramid is unchanged until it
    trains), and the main block's hidden features stay the heads' input.

    ``fine_radius`` hands a 1/2-canvas last block a warped cost volume at the full canvas: one 3×3 conv
    from RGB, correlated ±radius canvas px around the upsampled flow. The 1/2-canvas features see
    textures of a 2–4 px period (a knitted sweater moving 1–2 px) only aliased, and there our flow was
    0.5–1 px off RIFE's over whole regions (docs/quality.md, fortieth session); the block's own
    input conv sees the full canvas only through a resize. Measured once (docs/training-log.md run 43):
    grown into the trained pyramid and trained 2,200 CPU steps, the path was used but moved held-out
    clips by +0.007 dB and the targeted pairs down, so no shipped model has one.

    ``consensus`` averages each direction of the last block's flow with the other direction's estimate
    of it (:func:`edgevfi.ops.flow_consensus`), no parameters: both directions come from one noisy
    estimator, and their disagreement is partly noise (measured on footage no choice was made on:
    +0.06 dB on held-out clips for the shipped ``apr-s``, ``docs/quality.md``).
    """

    def __init__(
        self,
        widths: tuple[int, ...],
        depth: int = 3,
        radius: int = 4,
        feat: int = 32,
        refine_radii: tuple[int, ...] = (),
        match_blocks: int = 0,
        refine_match_blocks: int = 0,
        repeat_widths: tuple[int, ...] = (),
        consensus: bool = False,
        fine_radius: int = 0,
    ) -> None:
        super().__init__()
        if not 1 <= len(widths) <= 4:
            raise ValueError(f"FlowPyramid takes 1 to 4 block widths (scales 8, 4, 2, 1), got {len(widths)}")
        self.scales = (8, 4, 2, 1)[: len(widths)]
        self.radius = radius
        # Eager cost volumes as tap sums (:func:`eager_tap_sums`); off = the exported graphs' form
        # (:func:`local_correlation`), which :func:`exported_cost_volumes` selects to count MACs as devices run them.
        self.tap_sums = True
        # Features at 1/8 canvas for the cost volume: a correlation hands the first block its
        # motion candidates directly, which a small net cannot learn to find from scratch quickly
        # (measured: without it, 240 distillation steps left the flow at zero).
        self.features = nn.Sequential(conv(3, feat // 2, 3, 2), conv(feat // 2, feat, 3, 2), conv(feat, feat, 3, 2))
        self.match = nn.Sequential(*(MatchResidual(feat) for _ in range(match_blocks)))
        corr = (2 * radius + 1) ** 2
        refine_radii = tuple(int(r) for r in refine_radii) or (0,) * (len(widths) - 1)
        if len(refine_radii) != len(widths) - 1 or min(refine_radii, default=0) < 0:
            raise ValueError(f"refine_radii {refine_radii}: give one radius >= 0 per block after the first")
        # Channels of self.features' output at each scale (stride-2 convs: 1/2, 1/4, 1/8); the
        # full-canvas block (a fourth width) has no features at its scale to correlate.
        feature_channels = {2: feat // 2, 4: feat}
        if any(r and s not in feature_channels for r, s in zip(refine_radii, self.scales[1:], strict=True)):
            raise ValueError(f"refine_radii {refine_radii}: the full-canvas block takes no cost volume (radius 0)")
        self.refine_radii = {s: r for s, r in zip(self.scales[1:], refine_radii, strict=True) if r}
        # Only the cost-volume branch is deepened: the 1/8 features (and so the global cost volume)
        # keep their input, and zero-initialised blocks leave a trained pyramid unchanged.
        self.refine_match = nn.ModuleDict(
            {
                str(s): nn.Sequential(*(MatchResidual(feature_channels[s]) for _ in range(refine_match_blocks)))
                for s in self.refine_radii
                if refine_match_blocks
            }
        )
        cost_taps = {s: (2 * r + 1) ** 2 for s, r in self.refine_radii.items()}
        self.fine_radius = int(fine_radius)
        if self.fine_radius < 0 or (self.fine_radius and self.scales[-1] != 2):
            raise ValueError(f"fine_radius {fine_radius}: a full-canvas cost volume needs a 1/2-canvas last block")
        fine_taps = (2 * self.fine_radius + 1) ** 2 if self.fine_radius else 0
        last = len(widths) - 1
        self.blocks = nn.ModuleList(
            FlowBlock(6 + 3 + 2 + corr, w, depth)
            if k == 0
            else FlowBlock(6 + 3 + 2, w, depth, cost_taps.get(s, 0), fine_taps if k == last else 0)
            for k, (w, s) in enumerate(zip(widths, self.scales, strict=True))
        )
        # Full-canvas matching features: one conv, since they run on 4× the pixels of the 1/2-canvas ones.
        self.fine_features = conv(3, 8, 3, 1) if self.fine_radius else None
        repeat_widths = tuple(int(w) for w in repeat_widths) or (0,) * len(widths)
        if len(repeat_widths) != len(widths) or repeat_widths[0] or min(repeat_widths) < 0:
            raise ValueError(
                f"repeat_widths {repeat_widths}: give one width >= 0 per block, 0 for the first "
                "(it starts from the global cost volume, which a repeat would not see)"
            )
        # A second block at a finer block's scale, refining that block's flow on the same grid with
        # its own warped cost volume (RAFT's iteration, untied). Measured once (docs/training-log.md
        # run 27): a second 1/4-canvas block grown into the trained pyramid learned nothing measurable
        # in 2,000 CPU steps, so no shipped model has one. Its flow head starts at zero, so a trained
        # pyramid grown by one is unchanged until it trains.
        self.repeats = nn.ModuleDict()
        for k, (w, s) in enumerate(zip(repeat_widths, self.scales, strict=True)):
            if w:
                repeat = FlowBlock(6 + 3 + 2, w, depth, cost_taps.get(s, 0))
                nn.init.zeros_(repeat.flow.weight)
                self.repeats[str(k)] = repeat
        # Soft-argmax of the cost volume is a parameter-free block-matching estimate the first
        # block refines: the motion stage sees real motion from step one.
        offsets = torch.tensor(
            [[dx, dy] for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)], dtype=torch.float32
        )
        self.register_buffer("offsets", offsets.t().reshape(2, -1, 1, 1), persistent=False)
        # Constant weights as (non-persistent) buffers, so exported graphs delegate these convolutions.
        self.register_buffer("corr_weight", correlation_weight(feat), persistent=False)
        for s in self.refine_radii:
            self.register_buffer(f"refine_corr_weight{s}", correlation_weight(feature_channels[s]), persistent=False)
        if self.fine_radius:
            self.register_buffer(
                "fine_corr_weight", correlation_weight(self.fine_features[0].out_channels), persistent=False
            )
        for s in self.scales:
            if s > 1:
                self.register_buffer(f"down{s}", downsample_kernel(s, 3), persistent=False)
        self.temperature = nn.Parameter(torch.tensor(100.0))
        self.out_channels = widths[-1]
        self.consensus = bool(consensus)

    @classmethod
    def from_config(cls, config: object) -> FlowPyramid:
        """The pyramid a model config's ``motion_*`` fields (:data:`MOTION_FIELDS`) describe."""
        return cls(**{name.removeprefix("motion_"): getattr(config, name) for name in MOTION_FIELDS})

    def forward(self, img0: Tensor, img1: Tensor, init: Tensor | None = None, start: int = 0) -> tuple[Tensor, Tensor]:
        """Flow (both directions stacked) in canvas px at the last block's scale, and its hidden features.

        ``init`` (both directions stacked, canvas px, any resolution) with ``start`` ≥ 1 skips the first
        ``start`` blocks: block ``start`` refines ``init`` instead of the coarser blocks' estimate.
        """
        flows, hidden = self._pyramid(img0, img1, init, start)
        # The last block works at 1/scale of the canvas: express displacements in canvas pixels.
        return float(self.scales[-1]) * flows[-1], hidden

    def stage_flows(self, img0: Tensor, img1: Tensor) -> list[Tensor]:
        """Every block's flow (both directions stacked, as ``forward``), each on its own grid, in canvas px;
        the last one is ``forward``'s (with the consensus, if on).

        For diagnostics (``benchmarks/motion_oracle.py``): how much each block corrects.
        """
        flows, _ = self._pyramid(img0, img1)
        return [float(s) * f for f, s in zip(flows, self.scales, strict=True)]

    def _pyramid(
        self, img0: Tensor, img1: Tensor, init: Tensor | None = None, start: int = 0
    ) -> tuple[list[Tensor], Tensor]:
        """Each block's flow in pixels of that block's grid, and the last block's hidden features."""
        if (init is None) != (start == 0) or not 0 <= start < len(self.blocks):
            raise ValueError(f"start={start}: give init exactly when start is in 1..{len(self.blocks) - 1}")
        B = img0.shape[0]
        own = torch.cat([img0, img1], 0)
        other = swap_pair(own, B)
        H, W = own.shape[-2:]
        features: dict[int, Tensor] = {}
        f = own
        for k, layer in enumerate(self.features):
            f = layer(f)
            features[2 ** (k + 1)] = f
        sums = self.tap_sums and eager_tap_sums()
        flows: list[Tensor] = []
        if init is not None:
            # Seed the grid of the block before ``start``, in that grid's pixels.
            s = self.scales[start - 1]
            flows.append(F.interpolate(init, size=(H // s, W // s), mode="bilinear", align_corners=False) / s)
        else:
            f = self.match(f)
            corr = local_correlation(f, swap_pair(f, B), self.radius, self.corr_weight, sums)
        hidden = None
        for k in range(start, len(self.blocks)):
            block, scale = self.blocks[k], self.scales[k]
            size = (H // scale, W // scale)
            kernel = getattr(self, f"down{scale}", None)
            a, b = downsample(own, scale, kernel), downsample(other, scale, kernel)
            fs = None  # this scale's matching features, shared by the block and its repeat
            if not flows:
                # Softmax over the taps as the last dim, and the expected offset as a 1×1 convolution:
                # both forms XNNPACK delegates (over dim 1, and as a sum over taps, they ran as
                # ExecuTorch's single-threaded portable kernels, 6 % of the motion graph's time).
                prob = torch.softmax((corr * self.temperature).permute(0, 2, 3, 1), -1).permute(0, 3, 1, 2)
                flow = F.conv2d(prob, self.offsets.to(prob))
                delta, hidden = block(torch.cat([a, b, backward_warp(b, flow), flow / scale, corr], 1))
            else:
                # Flow is kept in pixels of the current block's grid.
                flow = 2.0 * F.interpolate(flows[-1], size=size, mode="bilinear", align_corners=False)
                if scale in self.refine_radii:
                    fs = features[scale]
                    if str(scale) in self.refine_match:
                        fs = self.refine_match[str(scale)](fs)
                # Only the block built with a full-canvas input (the last) gets the volume.
                fine = self._fine_cost(own, flow, sums) if block.fine_in is not None else None
                delta, hidden = self._refine(block, scale, a, b, flow, fs, sums, fine)
            flow = flow + delta
            if str(k) in self.repeats:
                # The main block's hidden features stay the heads' input, so a grown pyramid's heads
                # see what they were trained on.
                flow = flow + self._refine(self.repeats[str(k)], scale, a, b, flow, fs, sums)[0]
            flows.append(flow)
        if self.consensus:
            # After the last block only: the coarser blocks refine better from their own flow (docs/quality.md).
            flows[-1] = torch.cat(flow_consensus(flows[-1][:B], flows[-1][B:]), 0)
        return flows, hidden

    def _fine_cost(self, own: Tensor, flow: Tensor, sums: bool) -> Tensor:
        """The full-canvas warped cost volume for a 1/2-canvas block whose current flow is ``flow`` (its grid's px)."""
        assert self.fine_features is not None
        f = self.fine_features(own)
        up = 2.0 * F.interpolate(flow, size=f.shape[-2:], mode="bilinear", align_corners=False)
        return _warped_cost(f, up, self.fine_radius, self.fine_corr_weight, sums)

    def _refine(
        self,
        block: FlowBlock,
        scale: int,
        a: Tensor,
        b: Tensor,
        flow: Tensor,
        fs: Tensor | None,
        sums: bool,
        fine: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """One refinement block on the current grid: its flow update and hidden features.

        ``fs``: both frames' matching features at this scale (None: the block takes no cost volume);
        ``fine``: the full-canvas cost volume (:meth:`_fine_cost`), for the last block only.
        """
        cost = None
        if fs is not None:
            weight = getattr(self, f"refine_corr_weight{scale}")
            cost = _warped_cost(fs, flow, self.refine_radii[scale], weight, sums)
        return block(torch.cat([a, b, backward_warp(b, flow), flow / scale], 1), cost, fine)


def _warped_cost(f: Tensor, flow: Tensor, radius: int, weight: Tensor, sums: bool) -> Tensor:
    """PWC-Net's warped cost volume: each frame's features ``f`` (both frames stacked) against its
    partner's, backward-warped by ``flow`` (px of ``f``'s grid), ±``radius`` cells."""
    other = backward_warp(swap_pair(f, f.shape[0] // 2), flow)
    return local_correlation(f, other, radius, weight, sums)
