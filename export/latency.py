"""Latency harness behind ``edgevfi bench``: one way of timing bundles, on the host and (same JSON) on phones.

What is measured, per backend, at a chosen output frame size:

* ``load_ms`` — verifying nothing, just creating the runtime sessions for both graphs;
* each graph on its static inputs: warm-up, then ``runs`` timed calls → p50 / p90 / trimmed mean;
* end to end per output frame through the one tiled :class:`~edgevfi.runtime.Runner` (motion once,
  every synthesis window, blending), which is what a camera app or a TV pays per frame;
* MACs per graph (from the manifest) → achieved GMAC/s, read against the machine's measured FP32
  peak (a large matmul), so a figure also says how far the graph sits from the roofline;
* peak RSS of the process (``ru_maxrss``) and a description of the machine and tool versions.

The result follows ``schemas/bench.schema.json``, which ``android_demo`` writes too.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from edgevfi.io import sha256_file
from edgevfi.models.base import TwoStageModel
from edgevfi.runtime import EagerBackend, Runner
from export.bundle import (
    Bundle,
    BundleBackend,
    BundleError,
    fine_canvases_of,
    graph_macs,
    load_bundle,
    motion_canvases,
    tool_versions,
)
from export.graphs import (
    DEFAULT_CANVAS,
    DEFAULT_TILE,
    build_graphs,
    example_motion_inputs,
    example_synth_inputs,
    is_motion_graph,
    motion_graph_name,
)

SCHEMA_ID = "edgevfi-bench/1"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "bench.schema.json"
#: Named output sizes (W, H).
SIZES = {
    "360p": (640, 360),
    "480p": (854, 480),
    "540p": (960, 540),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "4k": (3840, 2160),
    "2160p": (3840, 2160),
}
BENCH_BACKENDS = ("et", "litert", "onnx", "torch")


def parse_size(text: str) -> tuple[int, int]:
    """``720p`` / ``1080p`` / ``4k`` / ``WxH`` → (W, H); ValueError with the accepted forms otherwise."""
    from edgevfi.video import parse_size as parse_wxh

    key = text.strip().lower()
    if key in SIZES:
        return SIZES[key]
    if re.fullmatch(r"\d+\s*[x×]\s*\d+", key) is None:
        raise ValueError(f"unknown size {text!r} (use {', '.join(SIZES)} or WxH like 1280x720)")
    return parse_wxh(key)


def summarize(samples_ms: Sequence[float], keep_samples: bool = True) -> dict[str, Any]:
    """p50 / p90 / 10 %-trimmed mean / min / max / spread ((p90 − p10) / p50) of timings in ms."""
    xs = sorted(float(x) for x in samples_ms)
    if not xs:
        raise ValueError("no timings to summarize")

    def pct(q: float) -> float:
        # Linear interpolation between closest ranks (numpy's default), so p50 of two runs is their mean.
        pos = q * (len(xs) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    cut = int(len(xs) * 0.1)
    trimmed = xs[cut : len(xs) - cut] or xs
    p50 = pct(0.5)
    out = {
        "p50_ms": p50,
        "p90_ms": pct(0.9),
        "trimmed_mean_ms": statistics.fmean(trimmed),
        "min_ms": xs[0],
        "max_ms": xs[-1],
        "spread": (pct(0.9) - pct(0.1)) / p50 if p50 > 0 else 0.0,
    }
    if keep_samples:
        out["samples_ms"] = [round(float(x), 4) for x in samples_ms]
    return out


def time_calls(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    """Wall-clock ms of ``runs`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def peak_gmacs(threads: int, seconds: float = 1.0, n: int = 1024) -> dict[str, Any]:
    """Measured FP32 peak of this machine: best of repeated ``n``×``n`` matmuls (MAC = n³ each).

    A large square matmul is the best-case kernel of every runtime here (they all call a tuned GEMM),
    so it stands for the roofline's compute ceiling; a graph's GMAC/s divided by it is its share.
    """
    prev = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        c = torch.empty(n, n)
        torch.mm(a, b, out=c)
        best = float("inf")
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(prev)
    return {
        "peak_gmacs_per_s": n**3 / best / 1e9,
        "kernel": f"torch.mm {n}x{n} fp32, best of {seconds:.1f} s",
        "dtype": "fp32",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict[str, Any]:
    """CPU model, usable cores, OS, and the versions of the runtimes that produced the figures."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return {
        "cpu": _cpu_model(),
        "cores": cores,
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "versions": {"python": platform.python_version(), **tool_versions()},
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


@dataclass
class Harness:
    """What a bench run needs: the Runner's backend, each graph's static inputs, and MACs per call."""

    backend: Any
    graph_inputs: dict[str, list[Tensor]]
    macs: dict[str, int]
    load_ms: float
    bundle_info: dict[str, Any] | None
    overlap: int

    def call(self, graph: str) -> object:
        """One call of ``graph`` (a motion graph or synth) on its static inputs, through the backend."""
        run = self.backend.motion if is_motion_graph(graph) else self.backend.synthesize
        return run(*self.graph_inputs[graph])

    def frame_macs(self, windows: int, motion_graphs: Sequence[str] = ("motion",)) -> int:
        """MACs of one output frame: the ``motion_graphs`` calls and ``windows`` synthesis calls."""
        return sum(self.macs[g] for g in motion_graphs) + windows * self.macs["synth"]


def bundle_harness(path: str | Path, backend: str, threads: int, model: TwoStageModel | None = None) -> Harness:
    """A bundle's graphs on ``backend`` (et, litert, onnx) — or, for ``torch``, its source model in
    eager PyTorch at the bundle's static shapes (the reference every backend is compared with)."""
    if backend not in BENCH_BACKENDS:
        raise BundleError(f"unknown backend {backend!r} for bench (choose from {', '.join(BENCH_BACKENDS)})")
    bundle = load_bundle(path, None if backend == "torch" else backend)
    m = bundle.manifest
    info = {
        "path": str(path),
        "model": m["model"]["name"],
        "precision": m["precision"],
        "manifest_sha256": sha256_file(bundle.root / "manifest.json"),
    }
    if backend == "torch":
        from export.parity import source_model

        return eager_harness(
            model if model is not None else source_model(bundle),
            threads,
            canvas=tuple(m["canvas"]),
            fine_canvases=fine_canvases_of(m),
            tile=int(m["tile"]),
            overlap=int(m["overlap"]),
            bundle_info=info,
        )
    entry = m["backends"][backend]
    if not entry.get("runnable", True):
        raise BundleError(f"{path}: {backend} artifacts cannot run on this machine (convert/validate only)")
    info["warp_impl"] = entry.get("warp_impl")
    t0 = time.perf_counter()
    runtime = BundleBackend(bundle, backend, threads)
    load_ms = (time.perf_counter() - t0) * 1e3
    return Harness(
        runtime,
        static_inputs(bundle, backend),
        {g: int(e["macs"]) for g, e in entry["graphs"].items()},
        load_ms,
        info,
        runtime.overlap,
    )


def static_inputs(bundle: Bundle, backend: str) -> dict[str, list[Tensor]]:
    """Each graph's inputs in the static shapes the manifest records (seeded, real-looking motion)."""
    m = bundle.manifest
    shapes = [tuple(x["shape"]) for x in m["backends"][backend]["graphs"]["synth"]["inputs"]]
    g = torch.Generator().manual_seed(0)
    # (src0, src1, mot0, mot1, shift0, shift1, t)
    synth = [
        torch.rand(*shapes[0], generator=g),
        torch.rand(*shapes[1], generator=g),
        torch.randn(*shapes[2], generator=g) * 2,
        torch.randn(*shapes[3], generator=g) * 2,
        torch.randint(-4, 5, shapes[4], generator=g).float(),
        torch.randint(-4, 5, shapes[5], generator=g).float(),
        torch.full(shapes[6], 0.5),
    ]
    motion = {g: list(example_motion_inputs(c)) for g, c in motion_canvases(m).items()}
    return {**motion, "synth": synth}


def eager_harness(
    model: TwoStageModel,
    threads: int,
    canvas: tuple[int, int] = DEFAULT_CANVAS,
    tile: int = DEFAULT_TILE,
    overlap: int = 32,
    bundle_info: dict[str, Any] | None = None,
    fine_canvases: tuple[tuple[int, int], ...] = (),
) -> Harness:
    """Eager PyTorch at a bundle's static shapes (canvases, tile, one window per call)."""
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = model.eval()
    backend = EagerBackend(model, max_batch=1, canvas_hw=canvas, tile=tile, fine_canvases=fine_canvases)
    load_ms = (time.perf_counter() - t0) * 1e3
    specs = build_graphs(model, "onnx", canvas=canvas, tile=tile, warp="scatter", fine_canvases=fine_canvases)
    motion = {motion_graph_name(c, canvas): list(example_motion_inputs(c)) for c in (canvas, *fine_canvases)}
    return Harness(
        backend,
        {**motion, "synth": list(example_synth_inputs(model, tile, 1))},
        {g: graph_macs(s) for g, s in specs.items()},
        load_ms,
        bundle_info,
        overlap,
    )


def frame_pair(size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """A (1, 3, H, W) smooth texture and a copy moved by (6, 3) px, for ``size`` = (W, H).

    Static graphs cost the same on any content; this pair only has to look like video. It is built
    without full-size temporaries, so the peak RSS of a run is the Runner's, not the generator's.
    """
    W, H = size
    g = torch.Generator().manual_seed(1)
    base = torch.rand(1, 3, H // 8 + 2, W // 8 + 2, generator=g)
    img0 = torch.nn.functional.interpolate(base, size=(H, W), mode="bilinear", align_corners=False)
    return img0, torch.roll(img0, shifts=(3, 6), dims=(-2, -1))


def motion_graphs_run(runner: Runner, img0: Tensor, img1: Tensor) -> tuple[list[str], tuple[int, int]]:
    """The motion graphs the Runner calls for this pair (a second one when the motion-adaptive pass
    picks a fine canvas, which depends on the pair), and the canvas it ends on."""
    canvas = runner.prepare(img0, img1).canvas_hw
    base = runner.backend.canvas_hw
    return ["motion"] + ([motion_graph_name(canvas, base)] if canvas != base else []), canvas


def run_bench(
    harness: Harness,
    backend: str,
    size: tuple[int, int],
    threads: int,
    runs: int = 10,
    warmup: int = 2,
    frame_runs: int | None = None,
    peak: dict[str, Any] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Time every graph and the end-to-end frame; return a schema-valid result dict."""
    if runs < 1 or warmup < 0:
        raise ValueError("--runs must be ≥ 1 and --warmup ≥ 0")
    peak = peak or peak_gmacs(threads)
    peak_g = peak["peak_gmacs_per_s"]
    graphs = {}
    for name in harness.graph_inputs:
        stats = summarize(time_calls(lambda name=name: harness.call(name), runs, warmup))
        macs = harness.macs[name]
        gps = macs / (stats["p50_ms"] * 1e6)
        graphs[name] = {**stats, "macs": macs, "gmacs_per_s": gps, "roofline_share": gps / peak_g}

    runner = Runner(harness.backend, overlap=harness.overlap)
    img0, img1 = frame_pair(size)
    plan = runner.plan((size[1], size[0]))
    n_windows = len(plan.windows())

    def frame() -> Tensor:
        return runner.synthesize(runner.prepare(img0, img1), 0.5)

    motion_graphs, canvas = motion_graphs_run(runner, img0, img1)
    e2e = summarize(time_calls(frame, frame_runs or max(3, runs // 3), min(warmup, 1)))
    macs = harness.frame_macs(n_windows, motion_graphs)
    gps = macs / (e2e["p50_ms"] * 1e6)
    e2e.update(
        {
            "motion_calls": len(motion_graphs),
            "motion_canvas": list(canvas),
            "synth_calls": n_windows,
            "macs": macs,
            "gmacs_per_s": gps,
            "roofline_share": gps / peak_g,
        }
    )
    b = harness.backend
    return {
        "schema": SCHEMA_ID,
        "harness": "host",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command or "",
        "bundle": harness.bundle_info,
        "backend": backend,
        "size": [size[0], size[1]],
        "threads": threads or torch.get_num_threads(),
        "runs": runs,
        "warmup": warmup,
        "load_ms": harness.load_ms,
        "peak_rss_mb": peak_rss_mb(),
        "tile_plan": {
            "canvas": list(b.canvas_hw),
            "tile": plan.tile,
            "halo": plan.halo,
            "overlap": plan.overlap,
            "windows": n_windows,
        },
        "graphs": graphs,
        "end_to_end": e2e,
        "roofline": peak,
        "device": device_info(),
    }


def validate_result(result: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``result`` follows ``schemas/bench.schema.json``."""
    import json

    import jsonschema

    jsonschema.validate(result, json.loads(SCHEMA_PATH.read_text()))


def markdown(result: dict[str, Any]) -> str:
    """A short table of one bench result."""
    W, H = result["size"]
    e = result["end_to_end"]
    lines = [
        f"{result['backend']} · {W}x{H} · {result['threads']} threads · load {result['load_ms']:.0f} ms · "
        f"peak RSS {result['peak_rss_mb']:.0f} MB · FP32 peak {result['roofline']['peak_gmacs_per_s']:.1f} GMAC/s",
        "",
        "| what | p50 ms | p90 ms | trimmed mean ms | spread | GMAC | GMAC/s | share of peak |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [(f"graph {g}", r) for g, r in result["graphs"].items()]
    rows.append((f"frame ({e['synth_calls']} windows)", e))
    for label, r in rows:
        lines.append(
            f"| {label} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['trimmed_mean_ms']:.1f} | {r['spread']:.2f} | "
            f"{r['macs'] / 1e9:.2f} | {r['gmacs_per_s']:.1f} | {100 * r['roofline_share']:.1f} % |"
        )
    return "\n".join(lines) + "\n"
