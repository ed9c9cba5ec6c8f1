"""What each splatting variant of the synthesis graph costs in quality and buys in speed, in ONE run.

Backends that cannot scatter (LiteRT, Core ML) need a gather/scatter-free splatting, and on
ExecuTorch the scatter-add is a single-threaded portable kernel. The variants
(``edgevfi.ops.warp.SPLAT_IMPLS``): ``scatter`` (the exact reference), ``window`` (the 2-D window
of (2R+1)² shifts) and ``separable`` (rows, then columns: 2(2R+1) shifts); the last two clamp the
residual motion of each tile to ±R px per axis.

Quality: the shipped default through the tiled Runner in eager PyTorch at a bundle's static shapes
(512×288 canvas, its fine canvases, 448-px tiles) — what the backends compute, to float rounding
(``edgevfi check``) — on the val set. Speed: the synthesis graph alone, lowered for each
``--backend`` per variant and timed on the same static inputs (p50 of ``--runs`` calls, 448-px window).

    python benchmarks/warp_variants.py [--backend et,litert,onnx] [--radii 4,8,12] [--data ../shared/data/val]
        [--threads 2] [--runs 10] [--no-quality] [--no-speed] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

# This folder would otherwise shadow the export package (benchmarks/export.py).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

from edgevfi import models  # noqa: E402
from edgevfi.evaluate import evaluate  # noqa: E402
from edgevfi.io import atomic_output  # noqa: E402
from edgevfi.runtime import EagerBackend, Runner  # noqa: E402
from export import backends  # noqa: E402
from export.graphs import (  # noqa: E402
    DEFAULT_CANVAS,
    DEFAULT_TILE,
    WARP_VARIANTS,
    build_graphs,
    fine_canvases_for,
    with_warp,
)
from export.latency import summarize, time_calls  # noqa: E402


def variants(radii: list[int]) -> list[tuple[str, str, int]]:
    """(label, warp_impl, radius) rows: scatter, the 2-D window at R = 4, separable at each radius."""
    rows = [("scatter", "scatter", 0), ("window R=4", "window", 4)]
    return rows + [(f"separable R={r}", "separable", r) for r in radii]


def variant_model(model: models.TwoStageModel, impl: str, radius: int) -> models.TwoStageModel:
    if impl == "scatter":
        return with_warp(model, "scatter")
    key = "separable_radius" if impl == "separable" else "window_radius"
    return with_warp(models.with_config(model, **{key: radius}), impl)


def synth_ms(model: models.TwoStageModel, backend: str, threads: int, runs: int) -> float | None:
    """p50 ms of one call of ``model``'s synthesis graph (448-px window) lowered for ``backend``;
    ``None`` where the runtime cannot lower or run that variant (LiteRT's scatter)."""
    mod = backends.get(backend)
    specs = build_graphs(model, backend, tile=DEFAULT_TILE, warp=model.config.warp_impl, fine_canvases=())
    spec = specs["synth"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"synth{mod.SUFFIX}"
        try:
            mod.lower(spec, path, "fp32")
            run = mod.load(path, threads)
            inputs = list(spec.example_inputs)
            samples = time_calls(lambda: run(inputs), runs, warmup=2)
        except Exception as e:  # a runtime refusing a variant is a result, not a crash
            print(f"{backend} {model.config.warp_impl}: fails ({str(e).splitlines()[0][:160]})", file=sys.stderr)
            return None
        return summarize(samples, keep_samples=False)["p50_ms"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/val")
    ap.add_argument("--model", default=models.default_model_name())
    ap.add_argument("--backend", default="et,litert,onnx", help="runtimes to time the synthesis graph on")
    ap.add_argument("--radii", default="4,8,12", help="separable radii (comma list)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-quality", action="store_true", help="skip the val-set scores")
    ap.add_argument("--no-speed", action="store_true", help="skip the per-backend timing")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        radii = [int(r) for r in args.radii.split(",") if r.strip()]
        names = [] if args.no_speed else backends.parse_backends(args.backend)
    except ValueError as e:
        sys.exit(f"benchmarks/warp_variants.py: {e}")
    if not args.no_quality and not Path(args.data).is_dir():
        sys.exit(f"benchmarks/warp_variants.py: no data folder {args.data} (or pass --no-quality)")
    model = models.create(args.model, pretrained=True).eval()
    fine = fine_canvases_for(model, DEFAULT_CANVAS)
    static = {"canvas_hw": DEFAULT_CANVAS, "tile": DEFAULT_TILE, "fine_canvases": fine}
    rows = []
    for label, impl, radius in variants(radii):
        m = variant_model(model, impl, radius)
        row: dict = {"variant": label, "warp_impl": impl, "radius": radius or None}
        if not args.no_quality:
            r = evaluate(Runner(EagerBackend(m, max_batch=1, **static)), args.data, label)
            row.update(psnr=r["mean_psnr"], ssim=r["mean_ssim"], n=r["n"])
        for name in names:
            row[f"{name}_ms"] = synth_ms(m, name, args.threads, args.runs)
        rows.append(row)
        print(row, file=sys.stderr, flush=True)

    defaults = {name: WARP_VARIANTS[name][0] for name in names}
    print(
        f"\n{args.model}; quality: eager at bundle shapes (canvas {DEFAULT_CANVAS[1]}x{DEFAULT_CANVAS[0]}, fine "
        f"{', '.join(f'{w}x{h}' for h, w in fine)}, {DEFAULT_TILE}-px tiles) on {args.data}; speed: synthesis "
        f"graph, one {DEFAULT_TILE}-px window, FP32, {args.threads} threads, p50 of {args.runs}; "
        f"defaults: {', '.join(f'{k} {v}' for k, v in defaults.items()) or '-'}\n"
    )
    cols = (["PSNR (dB)", "SSIM"] if not args.no_quality else []) + [f"{n} ms / window" for n in names]
    print("| variant | " + " | ".join(cols) + " |")
    print("| --- | " + " | ".join("---:" for _ in cols) + " |")
    for row in rows:
        cells = [f"{row['psnr']:.3f}", f"{row['ssim']:.4f}"] if not args.no_quality else []
        cells += ["fails" if row[f"{n}_ms"] is None else f"{row[f'{n}_ms']:.1f}" for n in names]
        print(f"| {row['variant']} | " + " | ".join(cells) + " |")
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps({"model": args.model, "fine_canvases": fine, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
