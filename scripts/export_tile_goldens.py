"""Golden files for android_demo's Kotlin port of the tile planner and the tiled Runner's arithmetic.

Everything here is produced by the Python code the phone must agree with: ``TilePlan``
(``edgevfi/runtime/tiles.py``), the region helpers (``edgevfi/ops/tiles.py``), the ``Runner``
(``edgevfi/runtime/runner.py``, driven by a fake backend whose two graphs are simple formulas the
Kotlin check reproduces), the timing summary and size parser of the host bench (``export/latency.py``).
``tests/test_android_demo.py`` regenerates them and fails if the committed files differ, so the
goldens cannot drift from Python; ``GoldenCheck.kt`` compares the Kotlin code against them.

    python scripts/export_tile_goldens.py            # rewrite the goldens
    python scripts/export_tile_goldens.py --check    # exit 1 if they are out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from edgevfi.models.base import static_canvas  # noqa: E402
from edgevfi.ops.tiles import crop_replicate, region_mean_displacement, resize_to, sample_motion  # noqa: E402
from edgevfi.runtime.runner import Runner  # noqa: E402
from edgevfi.runtime.tiles import TilePlan  # noqa: E402
from export.latency import parse_size, summarize  # noqa: E402

GOLDEN_DIR = ROOT / "android_demo" / "app" / "src" / "test" / "resources" / "goldens"

#: (frame_hw, tile, halo, overlap, align): sizes × configurations, valid and invalid.
DEFAULT = (448, 32, 32, 32)
FRAMES = [
    (1, 1), (2, 3), (7, 5), (31, 17), (319, 321), (320, 320), (321, 320), (383, 385), (384, 384),
    (720, 1280), (1080, 1920), (2160, 3840), (4320, 7680), (1280, 720), (1920, 1080), (1, 5000), (5000, 1),
]  # fmt: skip
CONFIGS = [
    DEFAULT,
    (384, 32, 32, 32),  # the default before 448
    (128, 32, 32, 32),  # the test bundles' tile
    (256, 16, 32, 32),
    (512, 64, 64, 32),
    (384, 32, 0, 32),  # no cross-fade
    (256, 0, 32, 32),  # no halo
    (64, 8, 8, 8),
    (32, 4, 8, 8),  # the runner golden's tile
    (10, 2, 3, 1),  # align 1, ramps that meet in the middle of the core
    (96, 8, 48, 16),  # ramps that overlap each other (assignment order matters)
]
INVALID = [
    ((0, 10), *DEFAULT),
    ((10, -5), *DEFAULT),
    ((0, 0), 100, 32, 32, 32),  # the frame is checked first
    ((720, 1280), 100, 32, 32, 32),  # tile not a multiple of align
    ((720, 1280), 384, 32, 320, 32),  # stride 0
    ((720, 1280), 384, 100, 32, 32),  # stride 152, not a multiple of 32
    ((720, 1280), 384, 32, 48, 32),  # stride 272
    ((720, 1280), 64, 32, 32, 32),  # negative stride
    ((720, 1280), 384, 32, 32, 0),  # align 0: ZeroDivisionError in Python
]


def f32(values: Any) -> list:
    """Float32 values as the shortest decimals that read back to the same float32 (compact, exact)."""
    arr = np.asarray(values, dtype=np.float32)
    # Whole numbers (the 0s and 1s of the ramps) as ints: a third of the size, the same value.
    return [int(v) if v == int(v) and abs(v) < 2**24 else float(str(v)) for v in arr.reshape(-1)]


def _plan_case(frame_hw: tuple[int, int], tile: int, halo: int, overlap: int, align: int) -> dict:
    case: dict[str, Any] = {"frame_hw": list(frame_hw), "tile": tile, "halo": halo, "overlap": overlap, "align": align}
    try:
        plan = TilePlan(frame_hw, tile=tile, halo=halo, overlap=overlap, align=align)
    except (ValueError, ZeroDivisionError) as e:
        case["error"] = type(e).__name__
        case["message"] = str(e)
        return case
    d = plan.to_dict()
    windows = plan.indexed_windows()
    case.update({"core": plan.core, "stride": plan.stride})
    for axis in ("ys", "xs"):
        # Long grids (a 10 px tile on a 8K frame) as their length and ends: the middle is arithmetic.
        starts = d[axis]
        case[axis] = starts if len(starts) <= 64 else {"len": len(starts), "head": starts[:4], "tail": starts[-4:]}
    case.update(
        {
            "windows": len(windows),
            "first_window": [windows[0][0], windows[0][1], *windows[0][2]],
            "last_window": [windows[-1][0], windows[-1][1], *windows[-1][2]],
        }
    )
    return case


def tile_plans() -> dict:
    """Grids of every frame × configuration, the invalid configurations' errors, ramps and blend weights."""
    cases = [_plan_case(fr, *cfg) for cfg in CONFIGS for fr in FRAMES]
    cases += [_plan_case(*c) for c in INVALID]
    ramps = []
    for tile, halo, overlap, align in CONFIGS:
        for n, index in ((1, 0), (3, 0), (3, 1), (3, 2)):
            # A plan with n windows along x: only its ramp of window `index` is read.
            width = tile - 2 * halo + (n - 1) * (tile - 2 * halo - overlap)
            plan = TilePlan((1, width), tile=tile, halo=halo, overlap=overlap, align=align)
            assert len(plan.grid[1]) == n
            ramps.append(
                {"tile": tile, "halo": halo, "overlap": overlap, "align": align, "n": n, "index": index,
                 "ramp": f32(plan._ramp(n, index))}
            )  # fmt: skip
    plan = TilePlan((30, 50), tile=32, halo=4, overlap=8, align=8)
    blend = [
        {"frame_hw": [30, 50], "tile": 32, "halo": 4, "overlap": 8, "align": 8, "iy": iy, "ix": ix,
         "weight": f32(plan.blend_weight(iy, ix))}
        for iy, ix in ((0, 0), (0, 1), (1, 2))
    ]  # fmt: skip
    return {"cases": cases, "ramps": ramps, "blend": blend}


def _image(c: int, h: int, w: int, a: int, b: int, d: int, e: int, mod: int) -> torch.Tensor:
    """A deterministic (1, c, h, w) float32 image of integer formula values / (mod − 1): Kotlin rebuilds it exactly."""
    ch = torch.arange(c).view(c, 1, 1)
    y = torch.arange(h).view(1, h, 1)
    x = torch.arange(w).view(1, 1, w)
    return (((x * a + y * b + ch * d + e) % mod).float() / float(mod - 1))[None]


def _motion(c: int, h: int, w: int, seed: int, offset: tuple[float, float]) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(1, c, h, w, generator=g) * 3
    m[:, 0] += offset[0]
    m[:, 1] += offset[1]
    return m


def region_ops() -> dict:
    """Crops, window-mean displacements, shift rounding, motion sampling and canvas resizing."""
    img = _image(3, 5, 7, 7, 13, 29, 0, 101)
    crops = [
        {"region": list(r), "out": f32(crop_replicate(img, r))}
        for r in ((-2, -3, 4, 6), (3, 4, 5, 5), (-10, -10, 3, 3), (0, 0, 5, 7), (4, 6, 2, 9))
    ]
    index_cases = [(-5, 10, 3), (0, 4, 10), (8, 6, 10), (-3, 2, 1), (12, 3, 10)]
    indices = [
        {"start": s, "length": n, "size": size, "out": torch.arange(s, s + n).clamp(0, size - 1).tolist()}
        for s, n, size in index_cases
    ]
    motion = _motion(3, 8, 12, seed=1, offset=(5.0, -3.0))
    regions = [(-4, -4, 32, 32), (0, 0, 5, 7), (12, 20, 32, 32), (26, 46, 32, 32), (-40, 60, 32, 32), (3, -9, 9, 4)]
    frames = [(30, 50), (37, 53), (6, 9), (720, 1280)]
    means = []
    samples = []
    for fh, fw in frames:
        for r in regions:
            d = region_mean_displacement(motion, (16, 24), (fh, fw), r)
            means.append({"frame_hw": [fh, fw], "region": list(r), "out": f32(d)})
            if r[2] * r[3] <= 100:  # keep the sampled outputs small
                for dc in (0, 2):
                    s = sample_motion(motion, (16, 24), (fh, fw), r, dc)
                    samples.append({"frame_hw": [fh, fw], "region": list(r), "dc": dc, "out": f32(s)})
    shifts = []
    rounding = [(0.5, 5.0, -3.0), (0.5, 1.0, -1.0), (0.25, 10.0, -10.0), (1.0, 2.5, 3.5), (0.3, 8.333, -1.6667)]
    g = torch.Generator().manual_seed(2)
    rounding += [(0.7, float(a), float(b)) for a, b in (torch.randn(12, 2, generator=g) * 6).tolist()]
    for frac, dx, dy in rounding:
        disp = torch.tensor([[dx, dy]], dtype=torch.float32)
        shifts.append({"frac": frac, "disp": f32(disp), "out": [int(v) for v in torch.round(frac * disp)[0]]})
    src = _image(3, 9, 14, 3, 5, 7, 1, 23)
    resizes = [
        {"in_hw": [9, 14], "out_hw": list(size), "out": f32(resize_to(src, size))}
        for size in ((4, 6), (16, 24), (9, 7), (1, 1), (5, 14), (9, 14))
    ]
    return {
        "image": {"shape": [3, 5, 7], "formula": [7, 13, 29, 0, 101], "values": f32(img)},
        "crop_index": indices,
        "crop": crops,
        "motion": {"shape": [3, 8, 12], "canvas_hw": [16, 24], "values": f32(motion)},
        "mean_displacement": means,
        "sample_motion": samples,
        "shift": shifts,
        "resize_image": {"shape": [3, 9, 14], "formula": [3, 5, 7, 1, 23], "values": f32(src)},
        "resize": resizes,
    }


class FakeBackend:
    """A static-shape backend whose graphs are formulas GoldenCheck.kt reproduces.

    ``motion`` returns two fixed tensors (so the golden tests everything around it); ``synthesize``
    mixes every input, so a wrong crop, motion sample, shift or t shows in the blended frame.
    """

    name = "fake"
    displacement_channels = 2
    align = 8
    halo = 4
    tile = 32
    max_batch = 1
    canvas_hw = (16, 24)
    reach = 40.0

    def __init__(
        self,
        m0: torch.Tensor,
        m1: torch.Tensor,
        fine: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> None:
        self.m0, self.m1 = m0, m1
        #: fine canvas → its motion graph's (fixed) outputs: the motion-adaptive second pass
        self.fine = fine or {}
        self.calls: list[list[int]] = []

    def default_canvas(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        return self.canvas_hw

    def refine_canvas(
        self, frame_hw: tuple[int, int], canvas_hw: tuple[int, int], m0: torch.Tensor, m1: torch.Tensor
    ) -> tuple[int, int]:
        return static_canvas(frame_hw, canvas_hw, tuple(self.fine), m0, m1, 2, self.reach, self.align)

    def motion(self, img0: torch.Tensor, img1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hw = tuple(img0.shape[-2:])
        if hw != self.canvas_hw:
            return self.fine[hw]
        return self.m0, self.m1

    def synthesize(self, src0, src1, mot0, mot1, shift0, shift1, t) -> torch.Tensor:
        self.calls.append([int(shift0[0, 0]), int(shift0[0, 1]), int(shift1[0, 0]), int(shift1[0, 1])])
        return fake_synth(src0, src1, mot0, mot1, shift0, shift1, t)


def fake_synth(src0, src1, mot0, mot1, shift0, shift1, t) -> torch.Tensor:
    """``GoldenCheck.kt``'s ``fakeSynth``: same float32 operations, same order."""
    c = mot0.shape[1]
    tt = t.view(-1, 1, 1, 1)
    k = (shift0[:, 0] + 2 * shift0[:, 1] - shift1[:, 0] + 3 * shift1[:, 1]).view(-1, 1, 1, 1)
    m0 = mot0[:, [ch % c for ch in range(3)]]
    m1 = mot1[:, [(ch + 1) % c for ch in range(3)]]
    return src0 * (1 - tt) + src1 * tt + 0.01 * m0 - 0.02 * m1 + 0.001 * k


def runner() -> dict:
    """The Runner end to end on a 30x50 pair with a 32 px tile (2x3 windows, shifted crops over the border)."""
    H, W = 30, 50
    img0 = _image(3, H, W, 7, 13, 29, 0, 101)
    img1 = _image(3, H, W, 11, 5, 3, 17, 97)
    m0 = _motion(3, 8, 12, seed=3, offset=(4.0, -2.5))
    m1 = _motion(3, 8, 12, seed=4, offset=(-4.0, 2.5))
    backend = FakeBackend(m0, m1)
    run = Runner(backend, overlap=8)
    pair = run.prepare(img0, img1)
    outputs = []
    for t in (0.3, 0.5):
        backend.calls = []
        frame = run.synthesize(pair, t)
        outputs.append({"t": t, "shifts": backend.calls, "out": f32(frame) if t == 0.3 else None})
    canvas0 = resize_to(img0, backend.canvas_hw)
    # The motion-adaptive second pass: two fine canvases, the larger one above the frame.
    fine_hw = (24, 40)
    fm0 = _motion(3, 12, 20, seed=5, offset=(6.0, -3.5))
    fm1 = _motion(3, 12, 20, seed=6, offset=(-6.0, 3.5))
    fine_backend = FakeBackend(m0, m1, {fine_hw: (fm0, fm1), (40, 64): (fm0, fm1)})
    fine_run = Runner(fine_backend, overlap=8)
    fine_pair = fine_run.prepare(img0, img1)
    assert fine_pair.canvas_hw == fine_hw
    fine_frame = fine_run.synthesize(fine_pair, 0.3)
    fine = {
        "canvases": [[24, 40], [40, 64]],
        "reach": fine_backend.reach,
        "multiple": fine_backend.align,
        "motion_shape": [3, 12, 20],
        "m0": f32(fm0),
        "m1": f32(fm1),
        "canvas_hw": list(fine_hw),
        "canvas_input": f32(resize_to(img0, fine_hw)),
        "t": 0.3,
        "shifts": fine_backend.calls,
        "out": f32(fine_frame),
    }
    # A portrait frame on the landscape canvas: motion runs on the transposed frames (both passes),
    # then comes back transposed with x/y swapped.
    pimg0 = _image(3, W, H, 5, 17, 23, 3, 89)
    pimg1 = _image(3, W, H, 13, 7, 11, 19, 83)
    portrait_backend = FakeBackend(m0, m1, {fine_hw: (fm0, fm1), (40, 64): (fm0, fm1)})
    portrait_run = Runner(portrait_backend, overlap=8)
    portrait_pair = portrait_run.prepare(pimg0, pimg1)
    assert portrait_pair.canvas_hw == (fine_hw[1], fine_hw[0])
    portrait_frame = portrait_run.synthesize(portrait_pair, 0.3)
    portrait = {
        "frame_hw": [W, H],
        "img0_formula": [5, 17, 23, 3, 89],
        "img1_formula": [13, 7, 11, 19, 83],
        "canvas0": f32(resize_to(pimg0.transpose(-2, -1), backend.canvas_hw)),
        "canvas_hw": list(portrait_pair.canvas_hw),
        "canvas_input": f32(resize_to(pimg0.transpose(-2, -1), fine_hw)),
        "m0": f32(portrait_pair.m0),
        "t": 0.3,
        "shifts": portrait_backend.calls,
        "out": f32(portrait_frame),
    }
    return {
        "frame_hw": [H, W],
        "img0_formula": [7, 13, 29, 0, 101],
        "img1_formula": [11, 5, 3, 17, 97],
        "canvas_hw": list(backend.canvas_hw),
        "tile": backend.tile,
        "halo": backend.halo,
        "overlap": 8,
        "align": backend.align,
        "displacement_channels": backend.displacement_channels,
        "motion_shape": [3, 8, 12],
        "m0": f32(m0),
        "m1": f32(m1),
        "canvas0": f32(canvas0),
        "outputs": outputs,
        "fine": fine,
        "portrait": portrait,
    }


def canvas_choice() -> dict:
    """``static_canvas`` (the bundle's motion-adaptive rule) on motion of several sizes and frames, with
    the fine canvas allowed up to 1, 1.5 and 2 × the frame.

    Each motion tensor is a small 12x16 one upsampled ×12/×16 (nearest: exact integer indices), so
    the golden stores only the small ones.
    """
    canvas, grid, small = (288, 512), (144, 256), (12, 16)
    candidates = [(448, 768), (544, 960), (736, 1280)]
    frames = [(720, 1280), (1080, 1920), (540, 960), (480, 854), (1280, 720), (736, 1280), (2160, 3840)]
    # Frames the candidates exceed, for the upscale: 2× of 270x480 is 540x960, 1.5× of 360x640 is 540x960.
    frames += [(270, 480), (360, 640), (240, 320)]
    motions, cases = [], []
    for k, (scale, offset) in enumerate([(0.2, (0.5, 0.2)), (1.0, (4.0, -2.0)), (3.0, (10.0, 5.0)), (1.0, (0.0, 9.0))]):
        m0 = _motion(2, *small, seed=20 + k, offset=offset) * scale
        m1 = _motion(2, *small, seed=40 + k, offset=(-offset[0], -offset[1])) * scale
        motions.append({"m0": f32(m0), "m1": f32(m1)})
        m0 = torch.nn.functional.interpolate(m0, size=grid, mode="nearest")
        m1 = torch.nn.functional.interpolate(m1, size=grid, mode="nearest")
        for frame in frames:
            for upscale in (1.0, 1.5, 2.0):
                pick = static_canvas(frame, canvas, tuple(candidates), m0, m1, 2, 32.0, 32, upscale=upscale)
                out = candidates.index(pick) if pick != canvas else -1
                cases.append({"motion": k, "frame_hw": list(frame), "upscale": upscale, "out": out})
    return {
        "canvas_hw": list(canvas),
        "motion_hw": list(grid),
        "small_hw": list(small),
        "candidates": [list(c) for c in candidates],
        "reach": 32.0,
        "multiple": 32,
        "motions": motions,
        "cases": cases,
    }


def stats() -> dict:
    """The host bench's timing summary on a few sample lists, and ``round(x, 4)`` edge cases."""
    g = np.random.default_rng(5)
    lists = [
        [5.0],
        [2.0, 1.0],
        [3.0, 3.0, 3.0],
        [float(x) for x in g.lognormal(3.0, 0.4, 10)],
        [float(x) for x in g.lognormal(1.0, 0.8, 20)],
        [float(x) for x in g.lognormal(5.0, 0.2, 31)],
        [0.0, 0.0, 1.0],
        [1.23455, 0.00005, 0.00015, 2.5e-5, 123456.78915],
    ]
    return {"cases": [{"samples": s, "out": summarize(s)} for s in lists]}


def sizes() -> dict:
    """The host bench's ``--size`` parser: accepted forms and its one-line errors."""
    texts = ["720p", "1080P", " 4k ", "2160p", "1280x720", "1280 x 720", "640×360", "16x16", "8192x8192",
             "0001280x000720", "15x720", "1280x8193", "99999999999999999999x720", "abc", "", "1280x", "x720",
             "1280*720", "it's", "720p\n"]  # fmt: skip
    cases = []
    for text in texts:
        try:
            cases.append({"text": text, "out": list(parse_size(text))})
        except ValueError as e:
            cases.append({"text": text, "error": str(e)})
    return {"cases": cases}


GOLDENS: dict[str, Callable[[], dict]] = {
    "tile_plans.json": tile_plans,
    "region_ops.json": region_ops,
    "runner.json": runner,
    "canvas_choice.json": canvas_choice,
    "stats.json": stats,
    "sizes.json": sizes,
}


def dumps(obj: dict) -> str:
    """One top-level key per line and one list item per line: diffable, yet compact."""
    lines = ["{"]
    items = list(obj.items())
    for i, (key, value) in enumerate(items):
        tail = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f"{json.dumps(key)}: [")
            lines += [
                json.dumps(v, ensure_ascii=False, separators=(",", ":")) + ("," if j < len(value) - 1 else "")
                for j, v in enumerate(value)
            ]
            lines.append("]" + tail)
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False, separators=(',', ':'))}{tail}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def build_goldens() -> dict[str, str]:
    """File name → text of every golden file, as Python computes them now."""
    with torch.no_grad():
        return {name: dumps(fn()) for name, fn in GOLDENS.items()}


def main(argv: list[str] | None = None) -> int:
    """Write the goldens (or, with ``--check``, report which are out of date)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=GOLDEN_DIR, help="folder for the golden files")
    ap.add_argument("--check", action="store_true", help="exit 1 if a committed golden differs")
    args = ap.parse_args(argv)
    stale = []
    for name, text in build_goldens().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({len(text) // 1024} KiB)")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python scripts/export_tile_goldens.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
