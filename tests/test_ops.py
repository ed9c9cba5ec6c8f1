"""Tests for edgevfi.ops.warp: each op against its definition, window ops against the reference ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from edgevfi.ops import (
    backward_warp,
    flow_consensus,
    forward_splat,
    forward_splat_with_weight,
    resize,
    resize_flow,
    separable_splat_sum,
    separable_splat_with_weight,
    separable_window_warp,
    splat_sum,
    splat_sum_variant,
    window_splat,
    window_splat_sum,
    window_splat_with_weight,
    window_warp,
)
from edgevfi.ops.warp import gather_backward_warp

TOL = 1e-5


def _const_flow(fx: float, fy: float, h: int, w: int, b: int = 1) -> Tensor:
    return torch.tensor([fx, fy], dtype=torch.float32).view(1, 2, 1, 1).expand(b, 2, h, w).contiguous()


def _bilinear_np(img: np.ndarray, x: float, y: float) -> np.ndarray:
    """Textbook bilinear sample of img (C, H, W) at (x, y), coordinates clamped to the pixel centres."""
    _, H, W = img.shape
    x = min(max(x, 0.0), W - 1.0)
    y = min(max(y, 0.0), H - 1.0)
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = min(x0 + 1, W - 1), min(y0 + 1, H - 1)
    ax, ay = x - x0, y - y0
    return (
        (1 - ax) * (1 - ay) * img[:, y0, x0]
        + ax * (1 - ay) * img[:, y0, x1]
        + (1 - ax) * ay * img[:, y1, x0]
        + ax * ay * img[:, y1, x1]
    )


def _warp_np(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    _, H, W = img.shape
    out = np.zeros_like(img)
    for y in range(H):
        for x in range(W):
            out[:, y, x] = _bilinear_np(img, x + flow[0, y, x], y + flow[1, y, x])
    return out


# ----------------------------------------------------------------------------- flow_consensus


def test_flow_consensus_keeps_a_consistent_pair_and_averages_an_inconsistent_one() -> None:
    # A translation seen from both frames: each flow is the other's negation, so nothing changes.
    f01, f10 = _const_flow(3.0, -2.0, 12, 16), _const_flow(-3.0, 2.0, 12, 16)
    a, b = flow_consensus(f01, f10)
    assert torch.allclose(a, f01) and torch.allclose(b, f10)
    # Frame 0 says +2 px in x, frame 1 says no motion: each becomes the mean of its own and the
    # other's negated estimate (+1 and -1 px).
    a, b = flow_consensus(_const_flow(2.0, 0.0, 12, 16), _const_flow(0.0, 0.0, 12, 16))
    assert torch.allclose(a, _const_flow(1.0, 0.0, 12, 16)) and torch.allclose(b, _const_flow(-1.0, 0.0, 12, 16))


def test_flow_consensus_reads_the_other_flow_where_the_pixel_lands() -> None:
    # f10 varies along x; f01 moves every pixel 2 px right, so pixel x reads f10 at x + 2.
    H, W = 4, 10
    ramp = torch.arange(W, dtype=torch.float32).view(1, 1, 1, W).expand(1, 1, H, W)
    f10 = torch.cat([-0.5 * ramp, torch.zeros(1, 1, H, W)], 1)
    f01 = _const_flow(2.0, 0.0, H, W)
    a, _ = flow_consensus(f01, f10)
    landed = (ramp + 2.0).clamp(max=W - 1)  # border clamp, as backward_warp
    assert torch.allclose(a[:, 0], 0.5 * (2.0 + 0.5 * landed[:, 0]))
    assert torch.allclose(a[:, 1], torch.zeros(1, H, W))


# ----------------------------------------------------------------------------- backward_warp

#: backward_warp's two forms: grid_sample (eager) and the row gathers (graphs being exported).
#: Every check below holds for both.
WARP_FORMS = {"grid_sample": backward_warp, "gathers": gather_backward_warp}


@pytest.mark.parametrize("form", WARP_FORMS)
def test_backward_warp_zero_flow_is_identity(form: str) -> None:
    img = torch.rand(2, 3, 5, 7)
    assert torch.allclose(WARP_FORMS[form](img, torch.zeros(2, 2, 5, 7)), img, atol=1e-6)


@pytest.mark.parametrize("form", WARP_FORMS)
@pytest.mark.parametrize(("fx", "fy"), [(2, -1), (-3, 4), (1, 0), (0, -2)])
def test_backward_warp_integer_flow_is_clamped_shift(fx: int, fy: int, form: str) -> None:
    H, W = 5, 6
    img = torch.rand(1, 2, H, W)
    out = WARP_FORMS[form](img, _const_flow(fx, fy, H, W))
    rows = np.clip(np.arange(H) + fy, 0, H - 1)
    cols = np.clip(np.arange(W) + fx, 0, W - 1)
    expected = img.numpy()[:, :, rows][:, :, :, cols]
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("form", WARP_FORMS)
def test_backward_warp_constant_fractional_flow_matches_numpy_bilinear(form: str) -> None:
    H, W = 4, 6
    img = torch.rand(1, 3, H, W)
    flow = _const_flow(0.3, -0.65, H, W)
    expected = _warp_np(img[0].double().numpy(), flow[0].double().numpy())
    np.testing.assert_allclose(WARP_FORMS[form](img, flow)[0].numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("form", WARP_FORMS)
def test_backward_warp_random_flow_matches_numpy_bilinear(form: str) -> None:
    # Per-pixel flows up to ±3 px on a 5×6 image: many samples fall outside and must clamp.
    torch.manual_seed(0)
    img = torch.rand(1, 2, 5, 6)
    flow = torch.rand(1, 2, 5, 6) * 6 - 3
    expected = _warp_np(img[0].double().numpy(), flow[0].double().numpy())
    np.testing.assert_allclose(WARP_FORMS[form](img, flow)[0].numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("form", WARP_FORMS)
def test_backward_warp_outside_clamps_to_border(form: str) -> None:
    img = torch.rand(1, 1, 4, 5)
    left = WARP_FORMS[form](img, _const_flow(-100.0, 0.0, 4, 5))
    assert torch.allclose(left, img[..., :1].expand_as(img), atol=1e-6)
    bottom_right = WARP_FORMS[form](img, _const_flow(7.5, 50.0, 4, 5))
    assert torch.allclose(bottom_right, img[..., -1:, -1:].expand_as(img), atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 5), (5, 1), (1, 1)])
def test_backward_warp_single_row_or_column(shape: tuple[int, int]) -> None:
    H, W = shape
    img = torch.rand(1, 2, H, W, requires_grad=True)
    flow = _const_flow(0.5, 0.5, H, W).requires_grad_()
    out = backward_warp(img, flow)
    expected = _warp_np(img[0].detach().double().numpy(), flow[0].detach().double().numpy())
    np.testing.assert_allclose(out[0].detach().numpy(), expected, atol=1e-6)
    out.sum().backward()
    assert torch.isfinite(img.grad).all() and torch.isfinite(flow.grad).all()
    np.testing.assert_allclose(gather_backward_warp(img, flow)[0].detach().numpy(), expected, atol=1e-6)


def test_backward_warp_takes_the_gathers_in_exported_graphs() -> None:
    """Large flows on a 64×96 grid (many samples clamp): the forms agree to grid_sample's rounding
    of its normalised coordinates; eager calls grid_sample, torch.export sees the gathers."""
    g = torch.Generator().manual_seed(0)
    img, flow = torch.rand(2, 5, 64, 96, generator=g), torch.rand(2, 2, 64, 96, generator=g) * 80 - 40
    assert (gather_backward_warp(img, flow) - backward_warp(img, flow)).abs().max() <= 1e-4

    class Warp(torch.nn.Module):
        def forward(self, img: Tensor, flow: Tensor) -> Tensor:
            return backward_warp(img, flow)

    targets = {str(n.target) for n in torch.export.export(Warp(), (img, flow)).graph.nodes if n.op == "call_function"}
    assert any("index_select" in t for t in targets) and not any("grid_sampler" in t for t in targets), targets


# ----------------------------------------------------------------------------- splatting


def test_splat_impulse_gives_tent_weights() -> None:
    H, W = 5, 5
    values = torch.zeros(1, 1, H, W)
    values[0, 0, 2, 2] = 1.0
    # Flow elsewhere is irrelevant (zero values) but random, to check it stays irrelevant.
    flow = torch.rand(1, 2, H, W) * 4 - 2
    flow[0, :, 2, 2] = torch.tensor([0.25, 0.5])
    out = splat_sum(values, flow)[0, 0]
    expected = torch.zeros(H, W)
    expected[2, 2] = 0.75 * 0.5
    expected[2, 3] = 0.25 * 0.5
    expected[3, 2] = 0.75 * 0.5
    expected[3, 3] = 0.25 * 0.5
    assert torch.allclose(out, expected, atol=1e-7)


def test_splat_sum_conserves_mass_inside_and_drops_outside() -> None:
    torch.manual_seed(1)
    values = torch.zeros(2, 3, 6, 7)
    values[..., 1:-1, 1:-1] = torch.rand(2, 3, 4, 5)
    flow = torch.rand(2, 2, 6, 7) * 2 - 1  # |flow| < 1 from the interior never leaves the image
    assert torch.allclose(splat_sum(values, flow).sum((-2, -1)), values.sum((-2, -1)), atol=1e-5)

    edge = torch.zeros(1, 1, 3, 4)
    edge[0, 0, 1, 3] = 1.0  # last column; half of it moves past the right border
    out = splat_sum(edge, _const_flow(0.5, 0.0, 3, 4))
    assert out.sum().item() == pytest.approx(0.5)
    assert out[0, 0, 1, 3].item() == pytest.approx(0.5)


@pytest.mark.parametrize("impl", ["reference", "window"])
def test_forward_splat_integer_flow_is_shift_with_holes(impl: str) -> None:
    H, W = 4, 5
    img = torch.rand(1, 3, H, W)
    weight = torch.full((1, 1, H, W), 2.0)
    flow = _const_flow(1.0, -1.0, H, W)  # content moves right and up
    if impl == "reference":
        out, den = forward_splat_with_weight(img, flow, weight)
    else:
        out, den = window_splat_with_weight(img, flow, weight, radius=1)
    expected = torch.zeros_like(img)
    expected[..., : H - 1, 1:] = img[..., 1:, : W - 1]
    covered = torch.zeros(1, 1, H, W)
    covered[..., : H - 1, 1:] = 1.0
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(den, 2.0 * covered, atol=1e-6)


@pytest.mark.parametrize("impl", ["reference", "window"])
def test_forward_splat_weights_bias_the_average(impl: str) -> None:
    H, W = 3, 4
    img = torch.zeros(1, 1, H, W)
    weight = torch.zeros(1, 1, H, W)
    flow = torch.zeros(1, 2, H, W)
    img[0, 0, 1, 0], weight[0, 0, 1, 0], flow[0, 0, 1, 0] = 10.0, 1.0, 1.0  # lands on (1, 1)
    img[0, 0, 1, 2], weight[0, 0, 1, 2], flow[0, 0, 1, 2] = 2.0, 3.0, -1.0  # lands on (1, 1)
    fn = forward_splat if impl == "reference" else (lambda i, f, w: window_splat(i, f, w, radius=1))
    out = fn(img, flow, weight)[0, 0]
    expected = torch.zeros(H, W)
    expected[1, 1] = (10.0 * 1 + 2.0 * 3) / 4
    assert torch.allclose(out, expected, atol=1e-6)


# ----------------------------------------------------------------------------- window == reference

SHAPES = [(7, 9), (13, 5), (1, 8), (6, 1), (5, 5)]
RADII = [1, 2, 3]
CASES = [(shape, r, seed) for seed, (shape, r) in enumerate((s, r) for s in SHAPES for r in RADII)]


def _grads(out: Tensor, lin: Tensor, inputs: list[Tensor]) -> list[Tensor]:
    return list(torch.autograd.grad((out * lin).sum(), inputs))


def _compare(ref_fn, win_fn, inputs: list[Tensor], g: torch.Generator, grad_rel: bool = False) -> None:
    """Compare values and the gradients of a random linear functional of the outputs."""
    ref, win = ref_fn(*inputs), win_fn(*inputs)
    assert (ref - win).abs().max().item() <= TOL
    lin = torch.rand(ref.shape, generator=g) * 2 - 1
    for gr, gw in zip(_grads(ref, lin, inputs), _grads(win, lin, inputs), strict=True):
        # d(num/den) grows like 1/den (up to 1/eps), so for the normalised splat the float32
        # tolerance has to be relative to the gradient's scale; everything else is absolute.
        scale = max(1.0, gr.abs().max().item()) if grad_rel else 1.0
        assert (gr - gw).abs().max().item() <= TOL * scale


@pytest.mark.parametrize(("shape", "radius", "seed"), CASES, ids=[f"{h}x{w}-R{r}" for (h, w), r, _ in CASES])
def test_window_ops_match_reference(shape: tuple[int, int], radius: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    H, W = shape
    B, C = 2, 3
    img = torch.rand(B, C, H, W, generator=g).requires_grad_()
    flow = ((torch.rand(B, 2, H, W, generator=g) * 2 - 1) * radius).requires_grad_()
    weight = (torch.rand(B, 1, H, W, generator=g) + 0.05).requires_grad_()
    R = radius

    _compare(backward_warp, lambda i, f: window_warp(i, f, R), [img, flow], g)
    _compare(splat_sum, lambda v, f: window_splat_sum(v, f, R), [img, flow], g)
    _compare(
        lambda i, f, w: torch.cat(forward_splat_with_weight(i, f, w), 1),
        lambda i, f, w: torch.cat(window_splat_with_weight(i, f, w, radius=R), 1),
        [img, flow, weight],
        g,
        grad_rel=True,
    )
    _compare(forward_splat, lambda i, f: window_splat(i, f, radius=R), [img, flow], g, grad_rel=True)


@pytest.mark.parametrize("radius", [1, 2])
def test_window_ops_match_reference_at_window_edge(radius: int) -> None:
    # Flows of exactly ±R, both signs: the outermost tap must carry the full weight.
    # (Values only: integer flows sit on the tent's kinks, where gradients are one-sided choices.)
    g = torch.Generator().manual_seed(100 + radius)
    img = torch.rand(1, 2, 6, 7, generator=g)
    flow = (torch.randint(0, 2, (1, 2, 6, 7), generator=g) * 2 - 1).float() * radius
    assert (backward_warp(img, flow) - window_warp(img, flow, radius)).abs().max() <= TOL
    assert (splat_sum(img, flow) - window_splat_sum(img, flow, radius)).abs().max() <= TOL


@pytest.mark.parametrize("radius", [1, 2])
def test_separable_window_warp_is_exact_where_vertical_flow_is_constant_along_rows(radius: int) -> None:
    # Exact when flow_y is constant over ±R px along x (here: it varies with y only); flow_x may vary
    # per pixel. Edges included (replicate borders, like backward_warp's clamp).
    g = torch.Generator().manual_seed(200 + radius)
    img = torch.rand(2, 3, 9, 11, generator=g)
    fx = (torch.rand(2, 1, 9, 11, generator=g) * 2 - 1) * radius
    fy = ((torch.rand(2, 1, 9, 1, generator=g) * 2 - 1) * radius).expand(2, 1, 9, 11)
    flow = torch.cat([fx, fy], 1)
    assert (separable_window_warp(img, flow, radius) - backward_warp(img, flow)).abs().max() <= TOL
    # Where flow_y changes along x it reads each column's tent at its own pixel: close, not equal.
    smooth = F.interpolate(torch.rand(1, 2, 3, 3, generator=g) * 2 - 1, size=(24, 24), mode="bilinear")
    img = torch.rand(1, 3, 24, 24, generator=g)
    diff = (separable_window_warp(img, smooth, 1) - window_warp(img, smooth, 1)).abs()
    assert 0 < diff.max() < 0.2


def test_separable_window_warp_exports_without_gather_scatter() -> None:
    class Warp(torch.nn.Module):
        def forward(self, img: Tensor, flow: Tensor) -> Tensor:
            return separable_window_warp(img, flow, 2)

    args = (torch.rand(1, 3, 6, 8), torch.rand(1, 2, 6, 8) * 4 - 2)
    ep = _export_gather_free(Warp(), args)
    assert torch.allclose(ep.module()(*args), separable_window_warp(*args, 2))


def test_window_splat_does_not_clamp_flow_beyond_radius() -> None:
    # Documented behaviour: tent mass outside the window is dropped, not clamped onto it.
    values = torch.zeros(1, 1, 5, 9)
    values[0, 0, 2, 2] = 1.0
    flow = _const_flow(1.5, 0.0, 5, 9)
    assert splat_sum(values, flow).sum().item() == pytest.approx(1.0)
    assert window_splat_sum(values, flow, radius=1).sum().item() == pytest.approx(0.5)


class _WindowOps(torch.nn.Module):
    def forward(self, img: Tensor, flow: Tensor, weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out, den = window_splat_with_weight(img, flow, weight, radius=2)
        return out, den, window_warp(img, flow, radius=2)


def _export_gather_free(module: torch.nn.Module, args: tuple[Tensor, ...]) -> torch.export.ExportedProgram:
    """``module`` exported, after checking that neither graph holds a gather, scatter or index op."""
    ep = torch.export.export(module, args)
    banned = ("index", "scatter", "gather", "grid_sampler", "roll", "replication_pad")
    # Check the decomposed (core ATen) graph as well: that is what ONNX / LiteRT / Core ML lower,
    # and e.g. replicate F.pad only turns into aten.index after decomposition.
    for graph in (ep.graph, ep.run_decompositions().graph):
        targets = [str(n.target) for n in graph.nodes if n.op == "call_function"]
        assert targets
        offending = [t for t in targets if any(b in t for b in banned)]
        assert not offending, offending
    return ep


def test_window_ops_export_without_gather_scatter() -> None:
    args = (torch.rand(1, 3, 6, 8), torch.rand(1, 2, 6, 8) * 4 - 2, torch.rand(1, 1, 6, 8))
    ep = _export_gather_free(_WindowOps(), args)
    out, _den, warped = ep.module()(*args)
    assert torch.allclose(out, window_splat(*args, radius=2))
    assert torch.allclose(warped, window_warp(args[0], args[1], radius=2))


# ----------------------------------------------------------------------------- resize


def test_resize_flow_scales_constant_flow() -> None:
    flow = _const_flow(1.5, -2.0, 4, 6, b=2)
    out = resize_flow(flow, (8, 3))
    assert out.shape == (2, 2, 8, 3)
    assert torch.allclose(out[:, 0], torch.full((2, 8, 3), 1.5 * 3 / 6))
    assert torch.allclose(out[:, 1], torch.full((2, 8, 3), -2.0 * 8 / 4))


def test_resize_halving_averages_2x2_blocks() -> None:
    # align_corners=False bilinear at exactly 1/2 samples midway between pixel centres.
    img = torch.rand(1, 2, 6, 8)
    expected = F.avg_pool2d(img, 2)
    assert torch.allclose(resize(img, (3, 4)), expected, atol=1e-6)
    assert resize(img, (6, 8)) is img


def test_shape_and_radius_validation() -> None:
    img, flow = torch.rand(1, 3, 4, 5), torch.rand(1, 2, 4, 6)
    with pytest.raises(ValueError):
        backward_warp(img, flow)
    with pytest.raises(ValueError):
        window_splat_sum(img, torch.rand(1, 2, 4, 5), radius=-1)
    with pytest.raises(ValueError):
        forward_splat(img, torch.rand(1, 2, 4, 5), torch.rand(1, 3, 4, 5))


@pytest.mark.parametrize("factor", [2, 4, 8])
@pytest.mark.parametrize("hw", [(32, 40), (64, 96), (96, 64)])
def test_downsample_equals_antialiased_interpolate(factor, hw):
    from edgevfi.ops.warp import downsample, downsample_kernel

    x = torch.rand(2, 3, *hw, generator=torch.Generator().manual_seed(factor))
    want = F.interpolate(x, size=(hw[0] // factor, hw[1] // factor), mode="bilinear", antialias=True)
    assert torch.allclose(downsample(x, factor), want, atol=1e-6)
    assert torch.allclose(downsample(x, factor, downsample_kernel(factor, 3)), want, atol=1e-6)


# ----------------------------------------------------------------------------- separable splatting


@pytest.mark.parametrize(("shape", "radius", "seed"), CASES, ids=[f"{h}x{w}-R{r}" for (h, w), r, _ in CASES])
def test_separable_splat_matches_reference_when_rows_share_vertical_motion(
    shape: tuple[int, int], radius: int, seed: int
) -> None:
    # The row pass never mixes rows, so with a vertical displacement that depends only on the row
    # (any horizontal one) every intermediate pixel carries its sources' exact vertical displacement.
    # Gradients are compared for that row-wise parameter: per pixel, the separable pass hands each
    # row's shared displacement gradient out differently. In float64: the mean vertical
    # displacement is a ratio, and the normalised splat multiplies its float32 rounding by 1/den.
    g = torch.Generator().manual_seed(200 + seed)
    H, W = shape
    R = radius
    img = torch.rand(2, 3, H, W, generator=g).double().requires_grad_()
    fx = ((torch.rand(2, 1, H, W, generator=g) * 2 - 1) * R).double().requires_grad_()
    fy = ((torch.rand(2, 1, H, 1, generator=g) * 2 - 1) * R).double().requires_grad_()
    weight = (torch.rand(2, 1, H, W, generator=g) + 0.05).double().requires_grad_()

    def flow(fx: Tensor, fy: Tensor) -> Tensor:
        return torch.cat([fx, fy.expand_as(fx)], 1)

    _compare(
        lambda v, x, y: splat_sum(v, flow(x, y)),
        lambda v, x, y: separable_splat_sum(v, flow(x, y), R),
        [img, fx, fy],
        g,
    )
    _compare(
        lambda i, x, y, w: torch.cat(forward_splat_with_weight(i, flow(x, y), w), 1),
        lambda i, x, y, w: torch.cat(separable_splat_with_weight(i, flow(x, y), w, radius=R), 1),
        [img, fx, fy, weight],
        g,
        grad_rel=True,
    )


@pytest.mark.parametrize("dim", [-1, -2])
@pytest.mark.parametrize(
    ("size", "block"), [(12, None), (17, None), (20, 10), (17, 8)], ids=["2R-blocks", "padded", "wider", "wider-padded"]
)
def test_axis_splat_pass_equals_shifted_tent_sums(size: int, block: int | None, dim: int) -> None:
    """One pass of the separable splatting (a batched matrix product over blocks of the axis) equals
    its definition, ``out[x + s] += v[x] · tent(d[x] − s)`` for s in [−R, R], with the default blocks
    of 2R and wider ones, at axis lengths the block divides and with zero padding."""
    from edgevfi.ops.warp import _axis_splat_sum

    R = 3
    g = torch.Generator().manual_seed(size)
    shape = (2, 4, size, 5) if dim == -2 else (2, 4, 5, size)
    values = torch.rand(shape, generator=g, dtype=torch.float64)
    disp = (torch.rand(2, 1, *shape[2:], generator=g, dtype=torch.float64) * 2 - 1) * R
    want = torch.zeros_like(values)
    n = values.shape[dim]
    for s in range(-R, R + 1):
        moved = values * torch.relu(1 - (disp - s).abs())
        lo, hi = max(0, -s), min(n, n - s)  # sources whose target x + s is in the frame
        want.narrow(dim, lo + s, hi - lo).add_(moved.narrow(dim, lo, hi - lo))
    assert torch.allclose(_axis_splat_sum(values, disp, R, dim, block), want, atol=1e-12)


def test_axis_splat_pass_rejects_blocks_narrower_than_2r() -> None:
    from edgevfi.ops.warp import _axis_splat_sum

    with pytest.raises(ValueError, match="at least 2R = 6"):
        _axis_splat_sum(torch.rand(1, 2, 4, 12), torch.zeros(1, 1, 4, 12), 3, -1, block=5)


def test_separable_splat_shares_the_mean_vertical_motion_where_rows_meet() -> None:
    # Row 2: A (x=0, value 1) moves right, B (x=2, value 3) moves left and down, C (x=1, value 0)
    # stays. All three meet at (2, 1) after the row pass; their mean vertical displacement is 1/3,
    # so the column pass moves the sum 4 a third of a pixel down. The reference moves B alone.
    values = torch.zeros(1, 1, 5, 3)
    flow = torch.zeros(1, 2, 5, 3)
    values[0, 0, 2, 0], flow[0, :, 2, 0] = 1.0, torch.tensor([1.0, 0.0])
    values[0, 0, 2, 2], flow[0, :, 2, 2] = 3.0, torch.tensor([-1.0, 1.0])
    out = separable_splat_sum(values, flow, 1)[0, 0]
    assert out[2, 1].item() == pytest.approx(8 / 3, abs=1e-6)
    assert out[3, 1].item() == pytest.approx(4 / 3, abs=1e-6)
    assert out.sum().item() == pytest.approx(4.0, abs=1e-6)
    ref = splat_sum(values, flow)[0, 0]
    assert ref[2, 1].item() == pytest.approx(1.0) and ref[3, 1].item() == pytest.approx(3.0)


def test_separable_splat_conserves_mass_for_interior_flows() -> None:
    g = torch.Generator().manual_seed(7)
    values = torch.zeros(2, 3, 12, 14)
    values[..., 3:-3, 3:-3] = torch.rand(2, 3, 6, 8, generator=g)
    flow = (torch.rand(2, 2, 12, 14, generator=g) * 2 - 1) * 3  # |flow| ≤ 3 from ≥ 3 px inside stays inside
    out = separable_splat_sum(values, flow, 3)
    assert torch.allclose(out.sum((-2, -1)), values.sum((-2, -1)), atol=1e-4)


@pytest.mark.parametrize("impl", ["scatter", "window", "separable"])
def test_splat_sum_variant_clamps_to_its_range(impl: str) -> None:
    # A 5-px displacement: scatter moves it all the way; the gather-free variants clamp it to R = 2.
    values = torch.zeros(1, 1, 3, 9)
    values[0, 0, 1, 1] = 1.0
    flow = _const_flow(5.0, 0.0, 3, 9)
    out = splat_sum_variant(values, flow, impl, 2)[0, 0]
    assert out[1, 6 if impl == "scatter" else 3].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown splatting implementation"):
        splat_sum_variant(values, flow, "nearest", 2)
