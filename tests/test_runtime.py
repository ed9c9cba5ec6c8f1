"""Tile planning and the Runner: tiled == full-frame, no seams, bounded windows."""

from __future__ import annotations

import pytest
import torch
from conftest import moving_pair, tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from edgevfi.metrics import psnr
from edgevfi.ops.tiles import flip_motion, resize_to, transpose_motion
from edgevfi.runtime import EagerBackend, Runner, TilePlan
from edgevfi.runtime.runner import crosses_canvas


def test_plan_covers_frame_and_weights_sum_to_one():
    plan = TilePlan((301, 517), tile=128, halo=16, overlap=32, align=32)
    total = torch.zeros(301, 517)
    for iy, ix, (y, x, h, w) in plan.indexed_windows():
        wt = plan.blend_weight(iy, ix)
        ys, xs = slice(max(y, 0), min(y + h, 301)), slice(max(x, 0), min(x + w, 517))
        total[ys, xs] += wt[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x]
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)
    assert all(h == w == 128 for _, _, h, w in plan.windows())
    assert all((y + 16) % 32 == 0 and (x + 16) % 32 == 0 for y, x, _, _ in plan.windows())


def test_plan_rejects_misaligned_stride():
    with pytest.raises(ValueError, match="multiple"):
        TilePlan((100, 100), tile=128, halo=10, overlap=32, align=32)


def test_small_frame_is_one_window():
    assert len(TilePlan((17, 23), tile=128, halo=16, overlap=32, align=32).windows()) == 1


@pytest.mark.parametrize("name", ["apr-s", "svmv-s", "blend"])
def test_tiled_equals_full_frame(name):
    model = tiny_model(name)
    a, b = moving_pair(150, 230, dx=7, dy=-4)
    with torch.no_grad():
        full = model(a, b, 0.4)
    runner = Runner(EagerBackend(model), tile=128, overlap=32)
    assert len(runner.plan((150, 230)).windows()) > 4
    (tiled,) = runner.interpolate(a, b, [0.4])
    assert psnr(tiled, full) >= 50.0


def test_tiled_equals_full_frame_with_a_fourth_motion_block():
    """A full-canvas motion block (motion tensor at canvas, not 1/2-canvas, resolution) tiles exactly too."""
    model = tiny_model("apr-s", motion_widths=(8, 8, 8, 8))
    a, b = moving_pair(150, 230, dx=7, dy=-4)
    with torch.no_grad():
        full = model(a, b, 0.4)
        assert model.motion(a[..., :128, :192], b[..., :128, :192])[0].shape[-2:] == (128, 192)
    (tiled,) = Runner(EagerBackend(model), tile=128, overlap=32).interpolate(a, b, [0.4])
    assert psnr(tiled, full) >= 50.0


def test_tiled_equals_full_frame_with_the_splat_aligner():
    """The splat re-alignment (``align_radius``) reads a neighbourhood of the splatted images; the halo covers it."""
    model = tiny_model("apr-s", align_radius=2)
    a, b = moving_pair(150, 230, dx=7, dy=-4)
    last = model.align.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        unaligned = model(a, b, 0.4)  # δ = 0: the images stay where they were splatted
        torch.nn.init.normal_(last.weight, std=0.05)
        torch.nn.init.normal_(last.bias, std=0.5)
        full = model(a, b, 0.4)
    assert psnr(full, unaligned) < 45.0  # it moves pixels
    (tiled,) = Runner(EagerBackend(model), tile=128, overlap=32).interpolate(a, b, [0.4])
    assert psnr(tiled, full) >= 50.0


@settings(max_examples=6, deadline=None)
@given(
    h=st.integers(17, 700),
    w=st.integers(23, 1000),
    name=st.sampled_from(["apr-s", "svmv-s"]),
    seed=st.integers(0, 100),
)
def test_tiled_equals_full_frame_random_sizes(h, w, name, seed):
    model = tiny_model(name)
    a, b = moving_pair(h, w, dx=seed % 9 - 4, dy=seed % 5 - 2, seed=seed)
    with torch.no_grad():
        full = model(a, b, 0.5)
    (tiled,) = Runner(EagerBackend(model), tile=192, overlap=32).interpolate(a, b, [0.5])
    assert psnr(tiled, full) >= 50.0


def test_no_seams_across_tile_borders():
    """Across every internal tile border the output changes no more than inside a tile."""
    model = tiny_model("apr-s")
    a, b = moving_pair(200, 260, dx=6, dy=2)
    runner = Runner(EagerBackend(model), tile=128, overlap=32)
    (out,) = runner.interpolate(a, b, [0.5])
    with torch.no_grad():
        full = model(a, b, 0.5)
    plan = runner.plan((200, 260))
    ys, xs = plan.grid
    for x in xs[1:]:
        col = x + plan.halo  # first trusted column of the next tile
        step_tiled = (out[..., col] - out[..., col - 1]).abs().max()
        step_full = (full[..., col] - full[..., col - 1]).abs().max()
        assert abs(float(step_tiled - step_full)) < 1e-3
    for y in ys[1:]:
        row = y + plan.halo
        step_tiled = (out[..., row, :] - out[..., row - 1, :]).abs().max()
        step_full = (full[..., row, :] - full[..., row - 1, :]).abs().max()
        assert abs(float(step_tiled - step_full)) < 1e-3


def test_runner_motion_once_for_many_t():
    model = tiny_model("apr-s")
    calls = []
    backend = EagerBackend(model)
    original = backend.motion

    def counting(*args):
        calls.append(1)
        return original(*args)

    backend.motion = counting
    frames = list(Runner(backend, tile=128).interpolate(*moving_pair(64, 80), [0.25, 0.5, 0.75]))
    assert len(frames) == 3 and len(calls) == 1
    # Later t moves further along the motion: the three frames differ.
    assert not torch.allclose(frames[0], frames[2])


def test_runner_rejects_mismatched_pair():
    runner = Runner(EagerBackend(tiny_model("apr-s")), tile=128)
    with pytest.raises(ValueError, match="equal size"):
        runner.prepare(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 40))


def test_eager_runner_shrinks_window_for_small_frames():
    model = tiny_model("apr-s")
    runner = Runner(EagerBackend(model))
    assert runner.plan((48, 64)).tile == 128
    assert runner.plan((1080, 1920)).tile == 448
    assert Runner(EagerBackend(model), tile=256).plan((48, 64)).tile == 256  # an explicit tile is kept


def _uniform_motion(hw: tuple[int, int], dx: float, dy: float, logits: int = 0) -> torch.Tensor:
    """A motion tensor on the 1/2-canvas grid: one displacement (canvas px) everywhere, plus logit channels."""
    d = torch.tensor([dx, dy]).view(1, 2, 1, 1).expand(1, 2, *hw)
    return torch.cat([d, torch.full((1, logits, *hw), 1e4)], 1)


def test_adaptive_canvas_grows_for_small_motion_and_keeps_large_motion():
    from edgevfi.models.base import adaptive_canvas

    frame, canvas, grid = (720, 1280), (288, 512), (144, 256)

    def fine(dx, max_side=1280, logits=0, channels=2):
        m = _uniform_motion(grid, dx, 0.0, logits)
        return adaptive_canvas(frame, canvas, m, m, channels, reach=32.0, max_side=max_side, multiple=32)

    # 1 canvas px = 2.5 frame px: small motion gets the whole frame, or the cap.
    assert fine(1.0) == (736, 1280)  # sides rounded up to 32, as every canvas
    assert fine(1.0, max_side=768) == (448, 768)
    # 20 canvas px = 50 frame px: the canvas grows only until the motion reaches 32 px (long side 819 → 800).
    assert fine(20.0) == (480, 800)
    assert 50 * 800 / 1280 <= 32
    # 40 canvas px = 100 frame px: already beyond the reach at 512, so no second pass.
    assert fine(40.0) == canvas
    # Unitless channels after the displacements (SVMV's logits) are not motion.
    m = _uniform_motion(grid, 1.0, 0.0, logits=1)
    assert adaptive_canvas(frame, canvas, m, m, 2, 32.0, 1280, 32) == (736, 1280)
    # A robust maximum: 0.5 % of the vectors far off do not stop the canvas from growing, 2 % do.
    for share, grows in ((0.005, True), (0.02, False)):
        m = _uniform_motion(grid, 1.0, 0.0).clone()
        flat = m[0, 0].view(-1)
        flat[: int(share * flat.numel())] = 60.0
        assert (adaptive_canvas(frame, canvas, m, m, 2, 32.0, 1280, 32) != canvas) == grows
    # ... unless the rule reads further into the tail (a measured alternative, not the shipped rule), as the
    # model's refine_canvas does when asked.
    m = _uniform_motion(grid, 1.0, 0.0).clone()
    m[0, 0].view(-1)[: int(0.005 * grid[0] * grid[1])] = 60.0
    assert adaptive_canvas(frame, canvas, m, m, 2, 32.0, 1280, 32) != canvas
    assert adaptive_canvas(frame, canvas, m, m, 2, 32.0, 1280, 32, quantile=0.999) == canvas
    model = tiny_model("apr-s", fine_canvas_side=1280)
    assert model.motion_reach == 32.0
    assert model.refine_canvas(frame, canvas, m, m) == (736, 1280)
    assert model.refine_canvas(frame, canvas, m, m, quantile=0.999) == canvas
    # Never above the frame: a frame already at its canvas keeps it.
    small = _uniform_motion((96, 160), 0.5, 0.0)
    assert adaptive_canvas((180, 320), (192, 320), small, small, 2, 32.0, 1280, 32) == (192, 320)


def test_adaptive_canvas_upscales_a_small_frame_within_the_factor_the_reach_and_the_cap():
    from edgevfi.models.base import adaptive_canvas

    frame, canvas, grid = (180, 320), (192, 320), (96, 160)

    def fine(dx, upscale=2.0, max_side=1280):
        m = _uniform_motion(grid, dx, 0.0)  # canvas px = frame px on x here
        return adaptive_canvas(frame, canvas, m, m, 2, 32.0, max_side, 32, upscale=upscale)

    # Small motion: twice the frame (360 rows round up to 384), not more; upscale 1 keeps the frame's canvas.
    assert fine(4.0) == (384, 640)
    assert fine(4.0, upscale=3.0) == (544, 960)
    assert fine(4.0, upscale=1.0) == canvas
    # The cap still holds: a 512-px cap gives 512, not 640.
    assert fine(4.0, max_side=512) == (288, 512)
    # The reach still holds: 24 frame px may grow 32/24 = 1.33× (long side 426 → 416), 40 px not at all.
    assert fine(24.0) == (256, 416) and 24 * 416 / 320 <= 32
    assert fine(40.0) == canvas
    with pytest.raises(ValueError, match=r"upscale must be >= 1\.0"):
        fine(4.0, upscale=0.5)


def test_runner_upscales_the_motion_canvas_of_a_small_frame():
    """Eager, shipped-style config: the second motion pass of a small frame with small motion runs on a
    canvas larger than the frame, and the Runner's frame equals the model run on that canvas."""
    a, b = moving_pair(90, 150, dx=2, dy=1)
    model = tiny_model("apr-s", max_canvas_side=128, fine_canvas_side=256, fine_canvas_upscale=2.0)
    backend = EagerBackend(model)
    seen, inner = [], backend.motion
    backend.motion = lambda x, y: (seen.append(tuple(x.shape[-2:])), inner(x, y))[1]
    (out,) = Runner(backend).interpolate(a, b, [0.5])
    assert seen[0] == (96, 128) and len(seen) == 2
    assert seen[1][0] > 90 and seen[1][1] > 150 and max(seen[1]) <= 256, seen
    with torch.no_grad():
        assert psnr(out, model(a, b, 0.5, canvas_hw=seen[1])) >= 50.0


def test_static_canvas_picks_the_largest_fine_canvas_the_frame_and_motion_allow():
    """The bundle's rule: a fixed set of fine canvases, the largest that fits the frame and the reach."""
    from edgevfi.models.base import static_canvas

    frame, canvas, grid = (720, 1280), (288, 512), (144, 256)
    fines = ((544, 960), (720, 1280))

    def pick(dx, dy=0.0, frame=frame, candidates=fines, channels=2, logits=0):
        m = _uniform_motion(grid, dx, dy, logits)
        return static_canvas(frame, canvas, candidates, m, m, channels, reach=32.0, multiple=32)

    # 1 canvas px = 2.5 frame px at 720p: small motion gets the largest candidate.
    assert pick(1.0) == (720, 1280)
    # 14 canvas px = 35 frame px: 35 px on the 1280 canvas is beyond the reach, 26 on the 960 one is not.
    assert pick(14.0) == (544, 960)
    # 15 canvas px = 37.5 frame px vertically (1 canvas px = 2.5 frame px on both axes here): per axis.
    assert pick(0.0, 14.0) == (544, 960)
    # 40 canvas px = 100 frame px: no candidate fits the reach, so no second pass.
    assert pick(40.0) == canvas
    # Never above the frame (beyond the rounding to 32): a 960x540 frame gets 544x960, never 1280.
    assert pick(0.5, frame=(540, 960)) == (544, 960)
    assert pick(0.5, frame=(480, 854)) == canvas
    # Portrait frames fit no landscape candidate; no candidates, no second pass.
    assert pick(0.5, frame=(1280, 720)) == canvas
    assert pick(0.5, candidates=()) == canvas
    # Unitless channels after the displacements (SVMV's logits) are not motion.
    assert pick(1.0, logits=1) == (720, 1280)
    # Up to upscale × the frame: a 270x480 frame may take 544x960 at 2×, nothing at 1.5× (416 rows < 448).
    small = (270, 480)
    m = _uniform_motion(grid, 0.5, 0.0)  # 0.47 frame px
    assert static_canvas(small, canvas, fines, m, m, 2, 32.0, 32, upscale=2.0) == (544, 960)
    assert static_canvas(small, canvas, fines, m, m, 2, 32.0, 32, upscale=1.5) == canvas
    assert static_canvas(small, canvas, fines, m, m, 2, 32.0, 32) == canvas
    # ... still within the reach: 20 canvas px = 18.75 frame px is 37.5 px on the 960 canvas.
    m = _uniform_motion(grid, 20.0, 0.0)
    assert static_canvas(small, canvas, fines, m, m, 2, 32.0, 32, upscale=2.0) == canvas


def test_runner_reruns_motion_on_the_fine_canvas_only_where_asked():
    """Eager: a second motion pass on the larger canvas, and the frame equals the model run on that canvas."""
    a, b = moving_pair(150, 230, dx=3, dy=-2)

    def motion_canvases(model, **backend_kw):
        backend = EagerBackend(model, **backend_kw)
        seen, inner = [], backend.motion
        backend.motion = lambda x, y: (seen.append(tuple(x.shape[-2:])), inner(x, y))[1]
        (out,) = Runner(backend, tile=128 if backend_kw else None).interpolate(a, b, [0.4])
        return seen, out

    base = tiny_model("apr-s", max_canvas_side=128)
    seen, _ = motion_canvases(base)
    assert seen == [(96, 128)]

    model = tiny_model("apr-s", max_canvas_side=128, fine_canvas_side=256)
    with torch.no_grad():
        m0, m1 = model.motion(resize_to(a, (96, 128)), resize_to(b, (96, 128)))
    fine = model.refine_canvas((150, 230), (96, 128), m0, m1)
    assert max(fine) > 128, "the tiny model's motion is small enough for a larger canvas"
    seen, out = motion_canvases(model)
    assert seen == [(96, 128), fine]
    with torch.no_grad():
        assert psnr(out, model(a, b, 0.4, canvas_hw=fine)) >= 50.0
    # At a bundle's static shapes the canvas is fixed, as in the bundle itself.
    seen, _ = motion_canvases(model, canvas_hw=(96, 128), tile=128)
    assert seen == [(96, 128)]
    # ... and with the bundle's fine canvases, the second pass runs on one of those (static_canvas).
    assert fine == (128, 160)  # its long side; the short side rounds up to 128, so use 96x160 here
    seen, _ = motion_canvases(model, canvas_hw=(96, 128), tile=128, fine_canvases=((96, 160), (160, 288)))
    assert seen == [(96, 128), (96, 160)]  # 160x288 is above the 150x230 frame
    # No motion stage, nothing to adapt.
    assert tiny_model("blend", fine_canvas_side=256).refine_canvas((150, 230), (96, 128), m0, m1) == (96, 128)


def test_transpose_motion_swaps_axes_and_displacements():
    m = torch.arange(2 * 5 * 3 * 4, dtype=torch.float32).reshape(2, 5, 3, 4)  # 2 hypotheses + 1 scalar channel
    t = transpose_motion(m, 4)
    assert t.shape == (2, 5, 4, 3)
    assert torch.equal(t[:, 0], m[:, 1].mT) and torch.equal(t[:, 1], m[:, 0].mT)  # (x, y) -> (y, x)
    assert torch.equal(t[:, 2], m[:, 3].mT) and torch.equal(t[:, 3], m[:, 2].mT)
    assert torch.equal(t[:, 4], m[:, 4].mT)  # scalars only move with the map
    assert torch.equal(transpose_motion(t, 4), m)


def test_flip_motion_mirrors_the_map_and_negates_the_mirrored_component():
    m = torch.arange(2 * 5 * 3 * 4, dtype=torch.float32).reshape(2, 5, 3, 4)  # 2 hypotheses + 1 scalar channel
    h = flip_motion(m, 4, horizontal=True, vertical=False)
    assert torch.equal(h[:, 0::2][:, :2], -m[:, 0::2][:, :2].flip(-1))  # x components
    assert torch.equal(h[:, [1, 3, 4]], m[:, [1, 3, 4]].flip(-1))  # y components and scalars only move
    v = flip_motion(m, 4, horizontal=False, vertical=True)
    assert torch.equal(v[:, [1, 3]], -m[:, [1, 3]].flip(-2)) and torch.equal(v[:, [0, 2, 4]], m[:, [0, 2, 4]].flip(-2))
    both = flip_motion(m, 4, horizontal=True, vertical=True)
    assert torch.equal(both, flip_motion(h, 4, horizontal=False, vertical=True))
    for hv in ((True, False), (False, True), (True, True)):
        assert torch.equal(flip_motion(flip_motion(m, 4, *hv), 4, *hv), m)
    assert flip_motion(m, 4, False, False) is m


def test_motion_tta_averages_the_flows_of_the_mirrored_pair():
    """motion_tta 2: the mean of the pair's flow and the mirrored pair's flow mirrored back."""
    model = tiny_model("apr-s", max_canvas_side=128).eval()
    backend = EagerBackend(model)
    a, b = moving_pair(64, 96, dx=3, dy=-2)
    plain = Runner(backend).prepare(a, b)
    tta = Runner(backend, motion_tta=2).prepare(a, b)
    canvas = plain.canvas_hw
    a_c, b_c = resize_to(a, canvas), resize_to(b, canvas)
    with torch.no_grad():
        mirrored = backend.motion(a_c.flip(-1), b_c.flip(-1))
    dc = backend.displacement_channels
    for got, own, mir in zip((tta.m0, tta.m1), (plain.m0, plain.m1), mirrored, strict=True):
        assert torch.allclose(got, (own + flip_motion(mir, dc, True, False)) / 2, atol=1e-6)
    assert not torch.allclose(tta.m0, plain.m0)  # the mirrored pass really ran
    four = Runner(backend, motion_tta=4)
    assert torch.isfinite(four.synthesize(four.prepare(a, b), 0.5)).all()
    with pytest.raises(ValueError, match="motion_tta must be one of"):
        Runner(backend, motion_tta=3)
    with pytest.raises(ValueError, match=r"averages single flows.*apr"):  # hypotheses do not average
        Runner(EagerBackend(tiny_model("svmv-s")), motion_tta=2).prepare(a, b)


@pytest.mark.parametrize(
    "frame_hw,canvas_hw,crosses",
    [
        ((40, 30), (16, 24), True),
        ((30, 40), (24, 16), True),
        ((30, 40), (16, 24), False),
        ((40, 30), (24, 16), False),
        ((32, 32), (16, 24), False),
        ((40, 30), (24, 24), False),
        ((40, 30), None, False),
    ],
)
def test_crosses_canvas(frame_hw, canvas_hw, crosses):
    assert crosses_canvas(frame_hw, canvas_hw) is crosses


@pytest.mark.parametrize("name,fine_canvases", [("svmv-s", ()), ("apr-s", ((96, 160),))])
def test_portrait_frame_on_a_landscape_static_canvas_runs_its_motion_transposed(name, fine_canvases):
    """A portrait pair's motion is the landscape pair's motion transposed, on both passes, exactly."""
    model = tiny_model(name, max_canvas_side=128, fine_canvas_side=256)  # svmv-s: hypotheses + weights
    backend = EagerBackend(model, canvas_hw=(96, 128), tile=128, fine_canvases=fine_canvases)
    seen, inner = [], backend.motion
    backend.motion = lambda x, y: (seen.append(tuple(x.shape[-2:])), inner(x, y))[1]
    runner = Runner(backend)
    a, b = moving_pair(150, 230, dx=3, dy=-2)
    landscape = runner.prepare(a, b)
    portrait = runner.prepare(a.mT, b.mT)
    assert seen[: len(seen) // 2] == seen[len(seen) // 2 :]  # the same canvases, in the landscape orientation
    assert seen[: len(seen) // 2] == [(96, 128), *fine_canvases]  # the second pass ran where there is one
    assert portrait.canvas_hw == landscape.canvas_hw[::-1]
    dc = backend.displacement_channels
    assert torch.equal(portrait.m0, transpose_motion(landscape.m0, dc))
    assert torch.equal(portrait.m1, transpose_motion(landscape.m1, dc))
    out = runner.synthesize(portrait, 0.5)
    assert out.shape == (1, 3, 230, 150) and torch.isfinite(out).all()
