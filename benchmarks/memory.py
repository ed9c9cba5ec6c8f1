"""Peak memory of the tiled Runner vs the untiled forward, side by side in one run.

Each configuration runs in its own subprocess so its peak RSS (``ru_maxrss``) is its own.
The issue's bar: a 3840×2160 pair through the tiled Runner under 4 GB peak RSS.

    python benchmarks/memory.py [--model apr-s] [--sizes 1280x720,1920x1080,3840x2160]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
from edgevfi import models
from edgevfi.runtime import EagerBackend, Runner
name, w, h, mode, tile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
torch.set_num_threads(2)
model = models.create(name, pretrained=models.shipped_weights(name) is not None).eval()
g = torch.Generator().manual_seed(0)
a = torch.rand(1, 3, h, w, generator=g)
b = torch.roll(a, shifts=(3, 7), dims=(-2, -1))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
with torch.inference_mode():
    if mode == "tiled":
        (out,) = Runner(EagerBackend(model), tile=tile).interpolate(a, b, [0.5])
    else:
        out = model(a, b, 0.5)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_rss_mb": peak / 1024, "inputs_rss_mb": base / 1024, "seconds": elapsed}))
"""


def run(model: str, w: int, h: int, mode: str, tile: int) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, model, str(w), str(h), mode, str(tile)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["killed"])[-1][:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="apr-s")
    p.add_argument("--sizes", default="1280x720,1920x1080,3840x2160")
    p.add_argument("--tile", type=int, default=448)
    p.add_argument("--untiled-max-pixels", type=int, default=1920 * 1080, help="skip untiled runs above this size")
    args = p.parse_args()
    print(f"model {args.model}, tile {args.tile}, 2 threads; peak RSS of each run in its own process")
    print(f"{'size':>10} {'mode':>8} {'peak RSS MB':>12} {'s/frame':>8}")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        results = {}
        for mode in ("tiled", "untiled"):
            if mode == "untiled" and w * h > args.untiled_max_pixels:
                continue
            r = run(args.model, w, h, mode, args.tile)
            results[mode] = r
            if "error" in r:
                print(f"{size:>10} {mode:>8} {'failed: ' + r['error']}")
            else:
                print(f"{size:>10} {mode:>8} {r['peak_rss_mb']:>12.0f} {r['seconds']:>8.2f}")
        if "untiled" in results and "error" not in results["untiled"] and "error" not in results["tiled"]:
            ratio = results["tiled"]["peak_rss_mb"] / results["untiled"]["peak_rss_mb"]
            print(f"{size:>10} tiled/untiled peak RSS ratio: {ratio:.2f}")
        if w * h >= 3840 * 2160 and "error" not in results["tiled"]:
            ok = results["tiled"]["peak_rss_mb"] < 4096
            print(f"{size:>10} tiled peak RSS under 4 GB: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
