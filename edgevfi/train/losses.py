"""Training losses, each taken from the paper it belongs to; every loss is a pure function.

Images are float tensors in [0, 1] of shape (B, C, H, W); offsets and flows are in pixels, channel 0
= x (column), channel 1 = y (row), with pixel centres at integer coordinates ``0..W-1``.

* :func:`charbonnier`, :func:`census_loss` — reconstruction terms of APR-VFI (seed 004, Eq. 4), in
  the form of RIFE / IFRNet.
* :func:`svmv_spatial_variance_loss`, :func:`svmv_temporal_min_loss` — SVMV's spatiotemporal
  variance-aware supervision (seed 000).
* :func:`apr_route_labels`, :func:`apr_route_loss`, :data:`CURRICULUM`, :func:`apr_total_loss` —
  APR-VFI's router supervision and training schedule (seed 004, Sec. 3.3).
* :func:`propose_rois`, :func:`zoom`, :class:`RoiDiscriminator`, :func:`d_hinge_loss`,
  :func:`g_hinge_loss` — Zoom-In-to-Check's ROI adversarial loss (seed 003, Sec. 3.3–3.5).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "APR_CENSUS_WEIGHT",
    "APR_ROUTE_WEIGHT",
    "CURRICULUM",
    "ZOOM_D_WEIGHT",
    "ZOOM_G_WEIGHT",
    "CurriculumStage",
    "RoiDiscriminator",
    "apr_route_labels",
    "apr_route_loss",
    "apr_total_loss",
    "census_loss",
    "charbonnier",
    "d_hinge_loss",
    "g_hinge_loss",
    "photometric_reprojection_error",
    "propose_rois",
    "svmv_spatial_variance_loss",
    "svmv_temporal_min_loss",
    "zoom",
]


# ----------------------------------------------------------------------------- reconstruction


def charbonnier(pred: Tensor, gt: Tensor, eps: float = 1e-3) -> Tensor:
    """Charbonnier distance ``mean(sqrt((pred - gt)² + eps²))``, a smooth L1.

    APR-VFI (seed 004, Eq. 4) uses it as ``L_rec``; Zoom-In-to-Check (seed 003, Eq. 6) calls it the
    robust ℓ1 norm. Identical inputs give exactly ``eps``.
    """
    return torch.sqrt((pred - gt) ** 2 + eps * eps).mean()


def _rgb_to_grey(x: Tensor) -> Tensor:
    # ITU-R BT.601 luma weights, as in RIFE's Ternary.rgb2gray.
    return 0.2989 * x[:, 0:1] + 0.5870 * x[:, 1:2] + 0.1140 * x[:, 2:3]


def _census_transform(grey: Tensor, patch: int) -> Tensor:
    """Soft ternary census: for each of the patch² neighbours ``d = n - centre``, ``d / sqrt(0.81 + d²)``."""
    # Identity kernels pick out each neighbour; zero padding (as conv2d with padding=patch//2 in RIFE).
    eye = torch.eye(patch * patch, dtype=grey.dtype, device=grey.device).view(patch * patch, 1, patch, patch)
    neighbours = F.conv2d(grey, eye, padding=patch // 2)
    d = neighbours - grey
    return d / torch.sqrt(0.81 + d * d)


def census_loss(pred: Tensor, gt: Tensor, patch: int = 7) -> Tensor:
    """Census (ternary) loss, the ``L_cen`` of APR-VFI (seed 004, Eq. 4; their ref. [28]).

    Follows the ``Ternary`` module of RIFE (Huang et al., ECCV 2022) that IFRNet and APR-VFI reuse:
    grey image → soft census transform over a ``patch``×``patch`` window → soft Hamming distance
    ``mean_n(Δ² / (0.1 + Δ²))`` over the neighbours → multiplied by a valid mask that zeroes a 1-pixel
    border → mean over all pixels (masked ones count as 0, as in the reference). Identical images
    give exactly 0.
    """
    if patch < 1 or patch % 2 == 0:
        raise ValueError(f"patch must be odd and positive, got {patch}")
    t_pred = _census_transform(_rgb_to_grey(pred), patch)
    t_gt = _census_transform(_rgb_to_grey(gt), patch)
    dist = (t_pred - t_gt) ** 2
    hamming = (dist / (0.1 + dist)).mean(1, keepdim=True)
    mask = torch.zeros_like(hamming)
    mask[..., 1:-1, 1:-1] = 1.0
    return (hamming * mask).mean()


# ----------------------------------------------------------------------------- SVMV (seed 000)


def _backward_warp(img: Tensor, flow: Tensor) -> Tensor:
    """``out[p] = img[p + flow[p]]``: bilinear, border padding, pixel centres at ``0..W-1``.

    Private on purpose: ``edgevfi.ops.warp.backward_warp`` is the shared op; this copy keeps the
    losses free of a dependency on code that changes for deployment reasons.
    """
    H, W = img.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(H, dtype=flow.dtype, device=flow.device),
        torch.arange(W, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    # align_corners=True maps -1/+1 to the first/last pixel centre; a size-1 axis always samples 0.
    gx = x * (2.0 / (W - 1)) - 1.0 if W > 1 else torch.zeros_like(x)
    gy = y * (2.0 / (H - 1)) - 1.0 if H > 1 else torch.zeros_like(y)
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _check_offsets(offsets: Tensor, name: str) -> None:
    if offsets.dim() != 5 or offsets.shape[2] != 2:
        raise ValueError(f"{name} must be (B, M, 2, H, W), got {tuple(offsets.shape)}")


def svmv_spatial_variance_loss(offsets: Tensor, eps: float = 1e-2) -> Tensor:
    """SVMV's spatial variance enhance loss ``L_sv = V_s[u] / V_e[u]`` (seed 000), averaged over pixels.

    ``offsets``: (B, M, 2, H, W), the M offset hypotheses ``u^m_{i→t}`` of the motion volume.

    * ``V_s`` — local spatial variance of the ensemble-mean offset ``ū = mean_m u^m`` over a 3×3
      window (replicate padding, so image borders add no variance), summed over x and y;
    * ``V_e`` — per-pixel variance of the M hypotheses around ``ū`` (population variance, summed
      over x and y), plus ``eps`` so that identical hypotheses give ``V_s / eps`` instead of a
      division by zero.

    Minimising it asks for a spatially smooth consensus while keeping the hypotheses diverse where
    the consensus is uncertain, which is what makes an ensemble of offsets worth its cost.
    """
    _check_offsets(offsets, "offsets")
    mean = offsets.mean(1)  # (B, 2, H, W)
    padded = F.pad(mean, (1, 1, 1, 1), mode="replicate")
    local_mean = F.avg_pool2d(padded, 3, stride=1)
    local_sq = F.avg_pool2d(padded * padded, 3, stride=1)
    v_s = (local_sq - local_mean * local_mean).clamp_min(0).sum(1)  # (B, H, W)
    v_e = ((offsets - mean.unsqueeze(1)) ** 2).mean(1).sum(1)  # (B, H, W)
    return (v_s / (v_e + eps)).mean()


def _ssim_dissimilarity(x: Tensor, y: Tensor) -> Tensor:
    """Monodepth2's per-pixel ``clamp((1 - SSIM) / 2, 0, 1)``: 3×3 box window, reflection padding."""
    c1, c2 = 0.01**2, 0.03**2
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    y = F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x = F.avg_pool2d(x, 3, 1)
    mu_y = F.avg_pool2d(y, 3, 1)
    sigma_x = F.avg_pool2d(x * x, 3, 1) - mu_x * mu_x
    sigma_y = F.avg_pool2d(y * y, 3, 1) - mu_y * mu_y
    sigma_xy = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sigma_x + sigma_y + c2)
    return torch.clamp((1 - num / den) / 2, 0, 1)


def photometric_reprojection_error(target: Tensor, pred: Tensor, alpha: float = 0.85) -> Tensor:
    """Per-pixel ``L_PE = α·(1 − SSIM)/2 + (1 − α)·|target − pred|`` (B, 1, H, W), channel-averaged.

    The photometric reprojection error of Monodepth2 (Godard et al., ICCV 2019), ``α = 0.85``, which
    SVMV's ``L_tv`` (seed 000) names as ``L_PE``.
    """
    l1 = (target - pred).abs().mean(1, keepdim=True)
    ssim = _ssim_dissimilarity(pred, target).mean(1, keepdim=True)
    return alpha * ssim + (1 - alpha) * l1


def svmv_temporal_min_loss(
    img_i: Tensor, img_j: Tensor, img_t: Tensor, offsets_ij: Tensor, offsets_it: Tensor
) -> Tensor:
    """SVMV's temporal variance enhance loss ``L_tv`` (seed 000), averaged over pixels.

    ``L_tv[q] = min{ L_PE(I_i[q], I_j[q + u^m_{i→j}[q]]), L_PE(I_i[q], I_t[q + u^m_{i→t}[q]]) }``, the
    minimum taken over both reprojections *and* over the M hypotheses, as in Monodepth2's per-pixel
    minimum reprojection: a pixel occluded in one frame is explained by the other, and only the best
    hypothesis is asked to be right, so the others stay free to diverge (which ``L_sv`` rewards).

    ``img_*``: (B, C, H, W); ``offsets_ij``, ``offsets_it``: (B, M, 2, H, W) in pixels.
    """
    _check_offsets(offsets_ij, "offsets_ij")
    _check_offsets(offsets_it, "offsets_it")
    B, M, _, H, W = offsets_ij.shape
    if offsets_it.shape[:2] != (B, M):
        raise ValueError(f"offsets_ij {tuple(offsets_ij.shape)} and offsets_it {tuple(offsets_it.shape)} differ")

    def per_hypothesis(src: Tensor, offsets: Tensor) -> Tensor:
        # Fold the M hypotheses into the batch so one grid_sample warps them all.
        rep = src.unsqueeze(1).expand(B, M, *src.shape[1:]).reshape(B * M, *src.shape[1:])
        warped = _backward_warp(rep, offsets.reshape(B * M, 2, H, W))
        target = img_i.unsqueeze(1).expand(B, M, *img_i.shape[1:]).reshape(B * M, *img_i.shape[1:])
        return photometric_reprojection_error(target, warped).view(B, M, H, W)

    errors = torch.cat([per_hypothesis(img_j, offsets_ij), per_hypothesis(img_t, offsets_it)], 1)
    return errors.min(1).values.mean()


# ----------------------------------------------------------------------------- APR-VFI (seed 004)

#: λ1 of APR-VFI Eq. 4 (census) and λ2 (router).
APR_CENSUS_WEIGHT = 0.1
APR_ROUTE_WEIGHT = 0.01


def _keep_count(ratio: float, n: int) -> int:
    # Round half up (not Python's banker's rounding) so e.g. 0.5 of 5 patches keeps 3; never drop
    # every patch of a block whose ratio is positive.
    k = math.floor(ratio * n + 0.5)
    return min(n, max(1 if ratio > 0 else 0, k))


@torch.no_grad()
def apr_route_labels(
    warped0: Tensor,
    warped1: Tensor,
    hole_mask: Tensor,
    keep_ratios: Sequence[float] = (0.1, 0.4, 0.6, 0.9),
    patch: int = 64,
) -> Tensor:
    """APR-VFI's reference route map ``M'`` (seed 004, Sec. 3.3): (B, d, n_h, n_w) in {0, 1}.

    1. ``diff = mean_c |warped0 − warped1| · hole_mask`` (``hole_mask`` 1 = valid, 0 = hole): holes
       left by warping differ a lot but are cheap to fill, so they must not attract refinement;
    2. ``P_diff = MaxPool(AvgPool(diff, 4), patch/4)`` — the paper's 4×4 average then 16×16 max for
       64-pixel patches: a patch is as hard as its worst 4×4 block;
    3. for dynamic block k, the ``round(keep_ratios[k] · n_h·n_w)`` patches with the highest
       ``P_diff`` are labelled 1 (pass), the rest 0 (skip). Ties go to the earlier patch in raster
       order, so labels are deterministic.

    ``H`` and ``W`` should be multiples of ``patch``; a remainder is ignored (floor), as by the
    router's own pooling.
    """
    if patch % 4 or patch < 4:
        raise ValueError(f"patch must be a positive multiple of 4, got {patch}")
    if hole_mask.dim() == 3:
        hole_mask = hole_mask.unsqueeze(1)
    diff = (warped0 - warped1).abs().mean(1, keepdim=True) * hole_mask
    p_diff = F.max_pool2d(F.avg_pool2d(diff, 4), patch // 4)  # (B, 1, n_h, n_w)
    B, _, n_h, n_w = p_diff.shape
    n = n_h * n_w
    order = torch.sort(p_diff.reshape(B, n), dim=1, descending=True, stable=True).indices
    labels = torch.zeros(B, len(keep_ratios), n, dtype=warped0.dtype, device=warped0.device)
    for k, ratio in enumerate(keep_ratios):
        count = _keep_count(float(ratio), n)
        labels[:, k].scatter_(1, order[:, :count], 1.0)
    return labels.view(B, len(keep_ratios), n_h, n_w)


def apr_route_loss(probs: Tensor, labels: Tensor) -> Tensor:
    """``L_apr``: mean L1 distance between predicted route probabilities and ``M'`` (seed 004, Eq. 4)."""
    if probs.shape != labels.shape:
        raise ValueError(f"route probs {tuple(probs.shape)} and labels {tuple(labels.shape)} differ")
    return (probs - labels).abs().mean()


def apr_total_loss(
    pred: Tensor,
    gt: Tensor,
    route_probs: Tensor | None = None,
    route_labels: Tensor | None = None,
    census_weight: float = APR_CENSUS_WEIGHT,
    route_weight: float = APR_ROUTE_WEIGHT,
) -> Tensor:
    """APR-VFI Eq. 4: ``L_rec + λ1·L_cen + λ2·L_apr`` with the paper's ``λ1 = 0.1``, ``λ2 = 0.01``.

    The route term is added only when ``route_probs`` and ``route_labels`` are given (stage 3 of
    :data:`CURRICULUM`); stages 1–2 train without a router.
    """
    loss = charbonnier(pred, gt) + census_weight * census_loss(pred, gt)
    if route_probs is not None:
        if route_labels is None:
            raise ValueError("route_probs given without route_labels")
        loss = loss + route_weight * apr_route_loss(route_probs, route_labels)
    return loss


@dataclass(frozen=True)
class CurriculumStage:
    """One stage of APR-VFI's curriculum (seed 004, Sec. 3.2 "Curriculum training")."""

    stage: int
    description: str
    #: Training crop side; ``None`` = whole training images (the data loader's default crop).
    crop: int | None
    freeze_flow: bool
    #: ``APRConfig.route_mode``: ``"all"`` (static: every block on every patch) or ``"router"``.
    route_mode: str
    #: Loss terms of Eq. 4 in use.
    losses: tuple[str, ...]
    #: Iterations in the paper (batch 32); scale to the run.
    paper_iterations: int


#: APR-VFI's three training stages. Each starts with a 2000-step warm-up to 2e-4, then cosine
#: annealing to 2e-5 (AdamW, weight decay 1e-4). Freezing the flow network in stage 3 keeps the jump in
#: reconstruction loss caused by the new router from being "fixed" by corrupting the flow.
CURRICULUM: tuple[CurriculumStage, ...] = (
    CurriculumStage(1, "pretrain the static model on whole images", None, False, "all", ("rec", "census"), 800_000),
    CurriculumStage(
        2,
        "freeze the flow network; train the static model on 64x64 patches",
        64,
        True,
        "all",
        ("rec", "census"),
        200_000,
    ),
    CurriculumStage(
        3,
        "freeze the flow network; jointly train context net, synthesis net and router",
        None,
        True,
        "router",
        ("rec", "census", "route"),
        200_000,
    ),
)


# ----------------------------------------------------------------------------- Zoom-In-to-Check (seed 003)

#: λ3 (discriminator) and λ4 (generator) of Zoom-In-to-Check Eq. 11; their synthesis weights were
#: (λ0, λ1, λ2) = (2, 1, 0.1) for photometric, perceptual and smoothness terms.
ZOOM_D_WEIGHT = 0.3
ZOOM_G_WEIGHT = 0.1


@torch.no_grad()
def propose_rois(pred: Tensor, gt: Tensor, k: int, size: int, max_overlap: float = 0.25) -> Tensor:
    """The ``k`` hardest ``size``×``size`` regions per image: (B, k, 4) boxes ``(x1, y1, x2, y2)``.

    Zoom-In-to-Check (seed 003, Sec. 3.3) proposes a *fixed number* of regions per image with an
    object detector (RPN) so batches have a fixed shape. We have no detector in the training loop,
    so the rule here is error-driven: candidate windows on a half-overlapping grid are scored by the
    mean of ``|pred − gt|``, and chosen greedily by score while their IoU with every chosen box is at
    most ``max_overlap`` (non-maximum suppression). Like the paper's proposals on moving objects, this
    puts the discriminator where the interpolation fails. If an image has fewer than ``k`` distinct
    regions, the best remaining candidates fill the rest, so every image yields exactly ``k``.

    Boxes are integer pixel edges (``x2``, ``y2`` exclusive) inside the image.
    """
    B, _, H, W = pred.shape
    if size > min(H, W) or size < 1:
        raise ValueError(f"ROI size {size} does not fit in {H}x{W}")
    err = (pred - gt).abs().mean(1, keepdim=True)
    stride = max(1, size // 2)
    scores = F.avg_pool2d(err, size, stride=stride)  # (B, 1, gh, gw)
    gh, gw = scores.shape[-2:]
    gy, gx = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    # Grid starts, with one last window flush against the far edge when the stride does not divide.
    ys = (gy.reshape(-1) * stride).clamp(max=H - size)
    xs = (gx.reshape(-1) * stride).clamp(max=W - size)
    cand = torch.stack([xs, ys, xs + size, ys + size], 1).to(pred.dtype).to(pred.device)  # (n, 4)
    out = torch.zeros(B, k, 4, dtype=pred.dtype, device=pred.device)
    for b in range(B):
        order = torch.argsort(scores[b].reshape(-1), descending=True, stable=True)
        chosen: list[int] = []
        for idx in order.tolist():
            if len(chosen) == k:
                break
            if all(_iou(cand[idx], cand[c]) <= max_overlap for c in chosen):
                chosen.append(idx)
        for idx in order.tolist():  # top up with overlapping boxes if needed
            if len(chosen) == k:
                break
            if idx not in chosen:
                chosen.append(idx)
        while len(chosen) < k:  # fewer candidates than k: repeat the best ones
            chosen.append(chosen[len(chosen) % max(1, len(order))])
        out[b] = cand[chosen]
    return out


def _iou(a: Tensor, b: Tensor) -> float:
    iw = (torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])).clamp_min(0)
    ih = (torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])).clamp_min(0)
    inter = float(iw * ih)
    area = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]))
    return inter / (area - inter) if area > inter else 0.0


def zoom(img: Tensor, boxes: Tensor, out_size: int | tuple[int, int], scale: float = 1.0) -> Tensor:
    """Crop each box and resize it to ``out_size``: (B·k, C, h, w), box-major per image.

    The "bilinear interpolation reshaping layer" of Zoom-In-to-Check (seed 003, Sec. 3.3): small
    regions are zoomed in to a fixed size, and gradients flow back to the exact pixels of the crop.
    ``scale`` maps box coordinates onto a larger ``img`` (``img`` side / box-space side): the paper
    crops the *real* ROI from a higher-resolution ground truth so the discriminator sees detail the
    low-resolution prediction should learn.
    """
    out_hw = (out_size, out_size) if isinstance(out_size, int) else tuple(out_size)
    B, _, H, W = img.shape
    if boxes.shape[0] != B or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be (B, k, 4) for B={B}, got {tuple(boxes.shape)}")
    crops = []
    for b in range(B):
        for x1, y1, x2, y2 in (boxes[b] * scale).round().long().tolist():
            x1, y1 = max(0, x1), max(0, y1)
            x2, y2 = min(W, max(x2, x1 + 1)), min(H, max(y2, y1 + 1))
            crop = img[b : b + 1, :, y1:y2, x1:x2]
            antialias = crop.shape[-2] > out_hw[0] or crop.shape[-1] > out_hw[1]
            crops.append(F.interpolate(crop, size=out_hw, mode="bilinear", align_corners=False, antialias=antialias))
    return torch.cat(crops, 0)


class RoiDiscriminator(nn.Module):
    """Small patch discriminator with spectral normalisation (Zoom-In-to-Check, seed 003, Sec. 3.3).

    Four stride-2 4×4 convolutions (LeakyReLU 0.2) and a 3×3 head, every layer spectrally normalised
    (Miyato et al., ICLR 2018) as in the paper; the patch logits are averaged to one logit per ROI.
    Input: (N, 3, h, w) ROIs with ``h, w ≥ 16``; output: (N,) logits.
    """

    def __init__(self, in_ch: int = 3, width: int = 32) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        chans = [in_ch, width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        for cin, cout in itertools.pairwise(chans):
            layers += [sn(nn.Conv2d(cin, cout, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(sn(nn.Conv2d(chans[-1], 1, 3, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).mean(dim=(1, 2, 3))


def d_hinge_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator hinge loss ``mean(relu(1 − D(P))) + mean(relu(1 + D(P̃)))`` (seed 003, Eq. 9).

    The paper's Eq. 9 is the standard hinge loss of spectrally normalised GANs (its printed form is
    garbled); the mean runs over the N ROIs. Weight it by :data:`ZOOM_D_WEIGHT`.
    """
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge_loss(fake_logits: Tensor) -> Tensor:
    """Generator hinge loss ``−mean(D(P̃))`` over the N ROIs (seed 003, Eq. 10); weight :data:`ZOOM_G_WEIGHT`."""
    return -fake_logits.mean()
