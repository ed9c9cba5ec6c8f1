"""The two-stage model contract shared by every EdgeVFI model family.

An edge device runs a frame pair in two static stages (``../shared/DESIGN.md`` §3):

1. ``motion(img0_c, img1_c)`` on both frames resized to a fixed low-resolution *canvas*. It
   returns one motion tensor per source frame: ``m0`` describes how frame 0's pixels move towards
   frame 1, ``m1`` how frame 1's pixels move towards frame 0. The first ``2 * hypotheses``
   channels are x/y displacement pairs in canvas pixels; any further channels are unitless.
2. ``synthesize(src0, src1, mot0, mot1, shift0, shift1, t)`` on fixed-size full-resolution tiles.
   ``src_i`` is frame i cropped at the tile window displaced by the integer ``shift_i`` (B, 2), i.e.
   crop origin = window origin − shift_i, and ``mot_i`` is ``m_i`` upsampled onto that crop in frame
   pixels. The model turns these into *residual* displacements (``t_i * F_i − shift_i``), so a tile
   only ever handles motion relative to its own mean.

``forward(img0, img1, t)`` is exactly that pipeline over a single window covering the padded frame,
which is what training optimises and what the tiled runtime reproduces tile by tile.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from edgevfi.ops.tiles import Region, resize_to, window_source


@dataclass(frozen=True)
class ModelConfig:
    """Fields every family shares; families subclass this with their own widths."""

    family: str = ""
    # Tile windows and the full-frame pad are aligned to this many pixels: it is the product of
    # the synthesis network's downsampling and its routing patch size.
    align: int = 32
    # Pixels of context a synthesis window needs beyond the pixels it is trusted for.
    halo: int = 32
    # Motion canvas: frames are resized so their longer side is at most this (multiple of 32).
    max_canvas_side: int = 512
    canvas_multiple: int = 32
    # Motion-adaptive canvas (0 = off): after the motion pass on the canvas above, the Runner reruns
    # motion on a larger canvas, long side up to this and at most ``fine_canvas_upscale`` × the
    # frame's, when the pair's motion measured there still fits the pyramid's reach
    # (``TwoStageModel.refine_canvas``).
    fine_canvas_side: int = 0
    # How far that canvas may exceed the frame (1.0: never). The pyramid's finest flow is at half the
    # canvas, so a frame below ``fine_canvas_side`` with small motion gets flow at its own resolution
    # from a canvas twice its size (docs/quality.md, "Beyond the frame": +0.27 dB on val, +0.07 held-out).
    fine_canvas_upscale: float = 1.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Checked here so no config can hold them: a checkpoint whose metadata does fails at load with
        # "bad model config", not at its first motion pass.
        if not self.fine_canvas_side >= 0:
            raise ValueError(f"fine_canvas_side must be >= 0 (0: off), got {self.fine_canvas_side}")
        if not self.fine_canvas_upscale >= 1.0:
            raise ValueError(
                f"fine_canvas_upscale must be >= 1.0 (1: never above the frame), got {self.fine_canvas_upscale}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


class SplattingConfig:
    """Radius rule of the forward splatting for configs with ``warp_impl``, ``window_radius`` and
    ``separable_radius`` fields (APR, SVMV): the clamp (px per axis) of each gather/scatter-free variant."""

    def splat_radius_for(self, warp_impl: str) -> int:
        """The displacement range of the splatting ``warp_impl`` names (unused by ``scatter``)."""
        return self.separable_radius if warp_impl == "separable" else self.window_radius  # type: ignore[attr-defined]

    @property
    def splat_radius(self) -> int:
        """:meth:`splat_radius_for` this config's own ``warp_impl``."""
        return self.splat_radius_for(self.warp_impl)  # type: ignore[attr-defined]


def round_up(x: int, m: int) -> int:
    return int(math.ceil(x / m) * m)


def default_canvas(frame_hw: tuple[int, int], max_side: int, multiple: int) -> tuple[int, int]:
    """The motion canvas for a frame: downscale (never upscale beyond rounding) to ``max_side``.

    Each side is rounded to ``multiple`` so the motion pyramid divides evenly. Aspect ratio is kept
    within rounding; the motion tensor records displacements per axis, so mild anisotropy is exact.
    """
    return scaled_canvas(frame_hw, min(max(frame_hw), max_side), multiple)


def scaled_canvas(frame_hw: tuple[int, int], long_side: int, multiple: int) -> tuple[int, int]:
    """The frame's aspect with its long side at ``long_side`` (smaller or larger than the frame's),
    each side rounded up to ``multiple``."""
    H, W = frame_hw
    scale = long_side / max(H, W)
    return (
        max(multiple, round_up(round(H * scale), multiple)),
        max(multiple, round_up(round(W * scale), multiple)),
    )


def frame_displacements(
    frame_hw: tuple[int, int], canvas_hw: tuple[int, int], m0: Tensor, m1: Tensor, displacement_channels: int
) -> Tensor:
    """Every displacement of both motion tensors (all hypotheses) in frame pixels, as (2, N): x, y.

    Evenly subsampled to at most 2^24 per axis (``torch.quantile``'s limit; a canvas far above the default).
    """
    H, W = frame_hw
    ch, cw = canvas_hw
    d = torch.cat([m0[:, :displacement_channels], m1[:, :displacement_channels]], 0).float()
    d = d.reshape(d.shape[0], -1, 2, *d.shape[-2:]).transpose(0, 2).reshape(2, -1)
    d = d * torch.tensor([[W / cw], [H / ch]], dtype=d.dtype, device=d.device)
    return d[:, :: -(-d.shape[1] // 2**24)]


#: The motion-adaptive canvas rule's displacement quantile (the shipped rule; android_demo's CanvasChoice
#: mirrors it).
CANVAS_QUANTILE = 0.99


def _quantile(x: Tensor, q: float) -> float:
    return float(torch.quantile(x, q)) if x.numel() else 0.0


def adaptive_canvas(
    frame_hw: tuple[int, int],
    canvas_hw: tuple[int, int],
    m0: Tensor,
    m1: Tensor,
    displacement_channels: int,
    reach: float,
    max_side: int,
    multiple: int,
    quantile: float = CANVAS_QUANTILE,
    upscale: float = 1.0,
) -> tuple[int, int]:
    """The largest canvas on which a pair's motion, measured on ``canvas_hw``, stays within ``reach``.

    A downscaled canvas costs sub-pixel precision (a 1-canvas-pixel error is 2.5 frame pixels at
    720p on a 512-px canvas), a larger one shrinks the motion range the pyramid can find. So the
    canvas grows until the ``quantile`` of displacement magnitudes (every hypothesis of both motion
    tensors, converted to frame pixels per axis) would reach ``reach`` canvas pixels, with its long
    side at most ``max_side`` and at most ``upscale`` × the frame's (1.0: never above the frame).
    Returns ``canvas_hw`` itself when no larger canvas qualifies, so callers rerun motion only when
    the result differs.
    """
    if upscale < 1.0:
        raise ValueError(f"canvas upscale must be >= 1.0, got {upscale}")
    H, W = frame_hw
    motion = _quantile(frame_displacements(frame_hw, canvas_hw, m0, m1, displacement_channels).norm(dim=0), quantile)
    scale = min(upscale, max_side / max(H, W), reach / motion if motion > 0 else math.inf)
    # Rounded down, so the motion never exceeds the reach by rounding.
    long_side = int(scale * max(H, W)) // multiple * multiple
    if long_side <= max(canvas_hw):
        return canvas_hw
    return scaled_canvas(frame_hw, long_side, multiple)


def static_canvas(
    frame_hw: tuple[int, int],
    canvas_hw: tuple[int, int],
    candidates: tuple[tuple[int, int], ...],
    m0: Tensor,
    m1: Tensor,
    displacement_channels: int,
    reach: float,
    multiple: int,
    quantile: float = CANVAS_QUANTILE,
    upscale: float = 1.0,
) -> tuple[int, int]:
    """:func:`adaptive_canvas` for static graphs: the largest of a fixed set of ``candidates``.

    A bundle exports its motion graph at a few fixed canvases, so instead of any size the rule picks
    the largest candidate (by area) that is no larger than ``upscale`` × the frame on either axis
    (beyond the rounding to ``multiple`` the eager canvas also does; 1.0: the frame itself) and on
    which the ``quantile`` of the pair's displacement magnitudes, measured on ``canvas_hw`` and
    scaled per axis onto the candidate, stays within ``reach`` canvas pixels. ``canvas_hw`` itself
    when none qualifies (or ``reach`` ≤ 0: no motion stage).
    """
    if upscale < 1.0:
        raise ValueError(f"canvas upscale must be >= 1.0, got {upscale}")
    H, W = frame_hw
    if reach <= 0:
        return canvas_hw
    limit = (round_up(math.floor(H * upscale), multiple), round_up(math.floor(W * upscale), multiple))
    fits = [
        c for c in candidates if c[0] <= limit[0] and c[1] <= limit[1] and c[0] * c[1] > canvas_hw[0] * canvas_hw[1]
    ]
    if not fits:
        return canvas_hw
    d = frame_displacements(frame_hw, canvas_hw, m0, m1, displacement_channels)
    for c in sorted(fits, key=lambda c: c[0] * c[1], reverse=True):
        on_c = d * torch.tensor([[c[1] / W], [c[0] / H]], dtype=d.dtype, device=d.device)
        if _quantile(on_c.norm(dim=0), quantile) <= reach:
            return c
    return canvas_hw


class TwoStageModel(nn.Module):
    """Base class: subclasses implement :meth:`motion` and :meth:`synthesize`."""

    config: ModelConfig
    #: number of displacement hypotheses at the start of each motion tensor
    hypotheses: int = 1

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def displacement_channels(self) -> int:
        return 2 * self.hypotheses

    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def synthesize(
        self,
        src0: Tensor,
        src1: Tensor,
        mot0: Tensor,
        mot1: Tensor,
        shift0: Tensor,
        shift1: Tensor,
        t: Tensor,
    ) -> Tensor:
        raise NotImplementedError

    def canvas_for(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        c = self.config
        return default_canvas(frame_hw, c.max_canvas_side, c.canvas_multiple)

    @property
    def motion_reach(self) -> float:
        """Displacement (canvas px) the motion stage can find from scratch; 0 without a motion stage.

        The first pyramid block's cost volume searches ``radius`` cells at 1/8 canvas around zero.
        """
        flow = getattr(self, "flow", None)
        return float(flow.radius * flow.scales[0]) if flow is not None else 0.0

    def refine_canvas(
        self,
        frame_hw: tuple[int, int],
        canvas_hw: tuple[int, int],
        m0: Tensor,
        m1: Tensor,
        quantile: float = CANVAS_QUANTILE,
    ) -> tuple[int, int]:
        """The canvas to rerun motion on after a pass on ``canvas_hw`` (``canvas_hw`` itself: none).

        Off unless ``config.fine_canvas_side`` exceeds ``config.max_canvas_side``; see
        :func:`adaptive_canvas` for the rule and ``quantile`` (other values than the shipped
        :data:`CANVAS_QUANTILE` are measured, not adopted: ``docs/quality.md``).
        """
        c = self.config
        if c.fine_canvas_side <= c.max_canvas_side or self.motion_reach <= 0:
            return canvas_hw
        return adaptive_canvas(
            frame_hw,
            canvas_hw,
            m0,
            m1,
            self.displacement_channels,
            self.motion_reach,
            c.fine_canvas_side,
            c.canvas_multiple,
            quantile=quantile,
            upscale=c.fine_canvas_upscale,
        )

    def full_frame_region(self, frame_hw: tuple[int, int]) -> Region:
        """The single window that covers the frame plus ``halo`` on every side, aligned."""
        H, W = frame_hw
        p, a = self.config.halo, self.config.align
        return (-p, -p, round_up(H + 2 * p, a), round_up(W + 2 * p, a))

    def synthesize_region(
        self,
        img0: Tensor,
        img1: Tensor,
        m0: Tensor,
        m1: Tensor,
        canvas_hw: tuple[int, int],
        region: Region,
        shift0: Tensor,
        shift1: Tensor,
        t: Tensor,
    ) -> Tensor:
        """Crop sources for ``region`` (displaced by the integer shifts) and synthesize it."""
        srcs, mots = [], []
        for img, m, s in ((img0, m0, shift0), (img1, m1, shift1)):
            src, mot = window_source(
                img, m, canvas_hw, region, (int(s[0, 0]), int(s[0, 1])), self.displacement_channels
            )
            srcs.append(src)
            mots.append(mot)
        return self.synthesize(srcs[0], srcs[1], mots[0], mots[1], shift0, shift1, t)

    def forward(
        self,
        img0: Tensor,
        img1: Tensor,
        t: Tensor | float = 0.5,
        canvas_hw: tuple[int, int] | None = None,
    ) -> Tensor:
        """Interpolate the frame at time ``t`` between ``img0`` and ``img1`` (B, 3, H, W in [0, 1])."""
        return self.forward_with_motion(img0, img1, t, canvas_hw)[0]

    def forward_with_motion(
        self,
        img0: Tensor,
        img1: Tensor,
        t: Tensor | float = 0.5,
        canvas_hw: tuple[int, int] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`forward` that also returns both motion tensors (for motion-level losses)."""
        B, _, H, W = img0.shape
        t = _as_batch_t(t, B, img0)
        canvas_hw = canvas_hw or self.canvas_for((H, W))
        m0, m1 = self.motion(resize_to(img0, canvas_hw), resize_to(img1, canvas_hw))
        region = self.full_frame_region((H, W))
        zero = torch.zeros(B, 2, dtype=img0.dtype, device=img0.device)
        out = self.synthesize_region(img0, img1, m0, m1, canvas_hw, region, zero, zero, t)
        p = self.config.halo
        return out[..., p : p + H, p : p + W], m0, m1


def _as_batch_t(t: Tensor | float, batch: int, like: Tensor) -> Tensor:
    if not torch.is_tensor(t):
        t = torch.tensor(float(t))
    t = t.to(dtype=like.dtype, device=like.device).reshape(-1)
    return t.expand(batch) if t.numel() == 1 else t


def residual_displacement(mot: Tensor, shift: Tensor, scale: Tensor, channels: int) -> Tensor:
    """``scale * displacement - shift`` for every displacement pair in the first ``channels``.

    ``scale`` is the per-sample time fraction (t for frame 0, 1 − t for frame 1): linear motion.
    This is the coordinate arithmetic that must stay in float in every backend.
    """
    B = mot.shape[0]
    disp = mot[:, :channels].reshape(B, channels // 2, 2, *mot.shape[-2:])
    disp = disp * scale.view(B, 1, 1, 1, 1) - shift.view(B, 1, 2, 1, 1).to(mot.dtype)
    return disp.reshape(B, channels, *mot.shape[-2:])
