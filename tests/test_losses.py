"""Each loss of ``edgevfi.train.losses`` on a case whose answer is known in closed form."""

from __future__ import annotations

import math

import pytest
import torch

from edgevfi.train import losses as L


def smooth_texture(h: int = 32, w: int = 32, c: int = 3) -> torch.Tensor:
    """A smooth, non-periodic-looking test pattern in [0.1, 0.9] (so small shifts change it a little)."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    g = (
        0.5
        + 0.2 * torch.sin(2 * math.pi * x / 17.0) * torch.cos(2 * math.pi * y / 13.0)
        + 0.2 * torch.sin(x * y / 90.0)
    )
    return torch.stack([g, g.flip(-1), g.flip(-2)][:c]).unsqueeze(0)


# ----------------------------------------------------------------------------- Charbonnier


def test_charbonnier_known_values() -> None:
    x = torch.rand(2, 3, 8, 8)
    assert L.charbonnier(x, x, eps=1e-3).item() == pytest.approx(1e-3, rel=1e-5)
    d = 0.2
    assert L.charbonnier(x + d, x).item() == pytest.approx(math.sqrt(d * d + 1e-6), rel=1e-5)


# ----------------------------------------------------------------------------- census


def test_census_identical_is_zero() -> None:
    x = torch.rand(2, 3, 16, 16)
    assert L.census_loss(x, x).item() == 0.0


def test_census_single_bright_pixel_closed_form() -> None:
    # gt: one pixel of grey g in a black 10x10 image, pred: black. The centre sees 48 neighbours at
    # d = -g, each of the 48 neighbours within the 7x7 window sees the centre once at d = +g; every one
    # of these pixels lies inside the 1-px-border mask. h = t²/(0.1+t²) with t = g/sqrt(0.81+g²).
    v = 0.6
    gt = torch.zeros(1, 3, 10, 10)
    gt[..., 5, 5] = v
    g = v * (0.2989 + 0.5870 + 0.1140)
    t = g / math.sqrt(0.81 + g * g)
    h = t * t / (0.1 + t * t)
    expected = (48 / 49 * h + 48 * h / 49) / 100
    assert L.census_loss(torch.zeros_like(gt), gt).item() == pytest.approx(expected, rel=1e-5)


def test_census_grows_with_shift() -> None:
    x = smooth_texture(32, 32)
    vals = [L.census_loss(torch.roll(x, s, dims=-1), x).item() for s in (1, 2, 3)]
    assert 0 < vals[0] < vals[1] < vals[2]


def test_census_rejects_even_patch() -> None:
    with pytest.raises(ValueError):
        L.census_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), patch=6)


# ----------------------------------------------------------------------------- SVMV


def _ramp_offsets(m: int, h: int = 5, w: int = 6, spread: float = 0.0) -> torch.Tensor:
    """M hypotheses of u = (x, 0); hypothesis j adds ±spread to x (pairs), so V_e = spread²."""
    x = torch.arange(w, dtype=torch.float32).expand(h, w)
    u = torch.zeros(1, m, 2, h, w)
    for j in range(m):
        u[0, j, 0] = x + (spread if j % 2 == 0 else -spread)
    return u


def _ramp_vs(w: int) -> float:
    # Local 3x3 variance of the mean field x (replicate padding): 2/3 inside, {0,0,1} → 2/9 at both ends.
    return (2 / 3 * (w - 2) + 2 * 2 / 9) / w


def test_svmv_sv_identical_hypotheses_hit_eps() -> None:
    eps = 0.01
    u = _ramp_offsets(3)
    assert L.svmv_spatial_variance_loss(u, eps=eps).item() == pytest.approx(_ramp_vs(6) / eps, rel=1e-5)
    # A constant field has no spatial variance at all.
    assert L.svmv_spatial_variance_loss(torch.ones(2, 4, 2, 5, 5), eps=eps).item() == pytest.approx(0.0, abs=1e-6)


def test_svmv_sv_diverse_hypotheses() -> None:
    eps, spread = 0.01, 0.5
    u = _ramp_offsets(2, spread=spread)  # mean is still x; V_e = spread² everywhere
    expected = _ramp_vs(6) / (spread**2 + eps)
    assert L.svmv_spatial_variance_loss(u, eps=eps).item() == pytest.approx(expected, rel=1e-5)


def test_svmv_sv_shape_check() -> None:
    with pytest.raises(ValueError):
        L.svmv_spatial_variance_loss(torch.zeros(1, 2, 5, 5))


def _edge_flat_texture(h: int = 16, w: int = 32) -> torch.Tensor:
    # Flat (0.5) near the left/right edges, so that an integer x-shift warps exactly, borders included.
    x = smooth_texture(h, w)
    window = torch.zeros(w)
    window[6 : w - 6] = 1.0
    return 0.5 + (x - 0.5) * window


def test_svmv_tv_zero_when_one_reprojection_is_perfect() -> None:
    torch.manual_seed(0)
    img_i = smooth_texture(16, 16)
    img_j = torch.rand_like(img_i)
    off_ij = 3 * torch.randn(1, 3, 2, 16, 16)
    off_it = 3 * torch.randn(1, 3, 2, 16, 16)
    off_it[:, 1] = 0.0  # hypothesis 1 maps I_t (= I_i) onto itself exactly
    loss = L.svmv_temporal_min_loss(img_i, img_j, img_i.clone(), off_ij, off_it)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_svmv_tv_compensated_shift_is_zero() -> None:
    img_i = _edge_flat_texture()
    img_j = torch.roll(img_i, 2, dims=-1)  # content moved 2 px right: I_j(x + 2) = I_i(x)
    img_t = torch.rand_like(img_i)
    zero = torch.zeros(1, 2, 2, 16, 32)
    shift = zero.clone()
    shift[:, :, 0] = 2.0
    good = L.svmv_temporal_min_loss(img_i, img_j, img_t, shift, zero)
    bad = L.svmv_temporal_min_loss(img_i, img_j, img_t, zero, zero)
    assert good.item() == pytest.approx(0.0, abs=1e-6)
    assert bad.item() > 0.01


def test_photometric_error_known_l1_part() -> None:
    # A constant image against another constant: SSIM term is (1 - (2ab + c1)/(a² + b² + c1)) / 2.
    a, b = 0.3, 0.5
    x, y = torch.full((1, 3, 6, 6), a), torch.full((1, 3, 6, 6), b)
    c1 = 0.01**2
    ssim = (1 - (2 * a * b + c1) / (a * a + b * b + c1)) / 2
    pe = L.photometric_reprojection_error(x, y)
    assert pe.shape == (1, 1, 6, 6)
    assert pe.mean().item() == pytest.approx(0.85 * ssim + 0.15 * abs(a - b), rel=1e-4)


# ----------------------------------------------------------------------------- APR-VFI


def _patch_diff_image(values: torch.Tensor, patch: int) -> torch.Tensor:
    """warped1 whose |diff| is ``values[r, c]`` uniformly inside patch (r, c)."""
    img = values.repeat_interleave(patch, 0).repeat_interleave(patch, 1)
    return img.expand(1, 3, *img.shape).clone()


def test_apr_route_labels_select_top_patches() -> None:
    patch = 8
    values = torch.tensor([[0.3, 0.8, 0.1, 0.5], [0.7, 0.2, 0.6, 0.4]])  # 8 patches, distinct
    w1 = _patch_diff_image(values, patch)
    w0 = torch.zeros_like(w1)
    valid = torch.ones(1, 1, *w1.shape[-2:])
    labels = L.apr_route_labels(w0, w1, valid, keep_ratios=(0.1, 0.4, 0.6, 0.9), patch=patch)
    assert labels.shape == (1, 4, 2, 4)
    # Counts: round-half-up of 0.8, 3.2, 4.8, 7.2 patches.
    assert labels.sum(dim=(2, 3)).tolist() == [[1.0, 3.0, 5.0, 7.0]]
    rank = torch.argsort(values.flatten(), descending=True)
    for k, count in enumerate((1, 3, 5, 7)):
        expected = torch.zeros(8)
        expected[rank[:count]] = 1
        assert torch.equal(labels[0, k].flatten(), expected), k


def test_apr_route_labels_hole_mask_and_pooling_rule() -> None:
    patch = 8
    w0 = torch.zeros(1, 3, 8, 24)  # three patches side by side
    w1 = torch.zeros_like(w0)
    w1[..., :, 0:8] = 0.5  # patch 0: a large difference, but all of it in a hole
    w1[..., 0:4, 8:12] = 0.3  # patch 1: one hot 4x4 block → score 0.3 (max of 4x4 means)
    w1[..., :, 16:24] = 0.2  # patch 2: uniform 0.2
    w1[..., 7, 23] = 1.0  # a single hot pixel is averaged over its 4x4 block: +1/16 only
    valid = torch.ones(1, 1, 8, 24)
    valid[..., 0:8] = 0.0
    labels = L.apr_route_labels(w0, w1, valid, keep_ratios=(0.34, 0.67), patch=patch)
    assert labels[0, 0, 0].tolist() == [0.0, 1.0, 0.0]  # patch 1 (0.3) beats 0.2 + 0.8/16 = 0.25
    assert labels[0, 1, 0].tolist() == [0.0, 1.0, 1.0]  # the hole patch ranks last


def test_apr_route_loss_and_total() -> None:
    labels = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert L.apr_route_loss(labels, labels).item() == 0.0
    assert L.apr_route_loss(torch.full_like(labels, 0.5), labels).item() == pytest.approx(0.5)
    x = torch.rand(1, 3, 16, 16)
    assert L.apr_total_loss(x, x).item() == pytest.approx(1e-3, rel=1e-4)  # charbonnier eps only
    probs = torch.full_like(labels, 0.5)
    assert L.apr_total_loss(x, x, probs, labels).item() == pytest.approx(1e-3 + 0.01 * 0.5, rel=1e-4)
    with pytest.raises(ValueError):
        L.apr_route_loss(torch.zeros(1, 2, 2, 2), labels)


def test_apr_curriculum() -> None:
    stages = L.CURRICULUM
    assert [s.stage for s in stages] == [1, 2, 3]
    assert [s.freeze_flow for s in stages] == [False, True, True]
    assert stages[1].crop == 64
    assert [s.route_mode for s in stages] == ["all", "all", "router"]
    assert "route" in stages[2].losses and "route" not in stages[0].losses
    assert (L.APR_CENSUS_WEIGHT, L.APR_ROUTE_WEIGHT) == (0.1, 0.01)


# ----------------------------------------------------------------------------- Zoom-In-to-Check


def test_hinge_losses_at_known_logits() -> None:
    real = torch.tensor([2.0, 0.5])
    fake = torch.tensor([-2.0, 0.0])
    # D: mean(relu(1 - real)) = (0 + 0.5)/2; mean(relu(1 + fake)) = (0 + 1)/2.
    assert L.d_hinge_loss(real, fake).item() == pytest.approx(0.75)
    assert L.g_hinge_loss(fake).item() == pytest.approx(1.0)
    assert (L.ZOOM_D_WEIGHT, L.ZOOM_G_WEIGHT) == (0.3, 0.1)


def test_propose_rois_finds_hardest_regions() -> None:
    gt = torch.zeros(2, 3, 32, 32)
    pred = gt.clone()
    pred[0, :, 16:24, 16:24] = 1.0  # strongest error
    pred[0, :, 0:8, 0:8] = 0.5
    pred[1, :, 8:16, 24:32] = 1.0
    boxes = L.propose_rois(pred, gt, k=3, size=8)
    assert boxes.shape == (2, 3, 4)
    assert boxes[0, 0].tolist() == [16.0, 16.0, 24.0, 24.0]
    assert boxes[0, 1].tolist() == [0.0, 0.0, 8.0, 8.0]
    assert boxes[1, 0].tolist() == [24.0, 8.0, 32.0, 16.0]
    # Chosen boxes of one image do not overlap much (NMS) and stay inside the image.
    assert (boxes[..., 0] >= 0).all() and (boxes[..., 2] <= 32).all()


def test_zoom_crops_and_resizes_with_gradient() -> None:
    img = torch.zeros(1, 3, 16, 16)
    img[..., 4:8, 8:12] = 0.7
    img.requires_grad_(True)
    boxes = torch.tensor([[[8.0, 4.0, 12.0, 8.0], [0.0, 0.0, 16.0, 16.0]]])
    out = L.zoom(img, boxes, 8)
    assert out.shape == (2, 3, 8, 8)
    assert torch.allclose(out[0], torch.full((3, 8, 8), 0.7))
    out.sum().backward()
    assert img.grad is not None and img.grad[..., 4:8, 8:12].abs().sum() > 0
    # scale: the same box on a 2x larger image crops the matching region.
    big = torch.nn.functional.interpolate(img.detach(), scale_factor=2, mode="nearest")
    assert torch.allclose(L.zoom(big, boxes[:, :1], 8, scale=2.0), out[:1].detach())


def test_roi_discriminator_shape_and_spectral_norm() -> None:
    torch.manual_seed(0)
    d = L.RoiDiscriminator()
    logits = d(torch.rand(5, 3, 32, 32))
    assert logits.shape == (5,)
    assert any("parametrizations" in name for name, _ in d.named_parameters())
