"""Time and peak memory vs frame size (360p → 4K), one ``edgevfi bench`` process per size, in ONE run.

Each size runs in its own process, so each peak RSS is that size's own. Prints a Markdown table, a
least-squares fit of time against pixels (the tiled Runner should be linear in the number of windows,
hence in pixels), and writes a PNG plot.

    python benchmarks/scaling.py [--bundle B --backend onnx] [--threads 2] [--out out/scaling]

Default: eager PyTorch at the bundle shapes (``--backend torch``, shipped default model).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SIZES = ("360p", "540p", "720p", "1080p", "1440p", "4k")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", help="bundle folder (default: none, eager PyTorch)")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--out", type=Path, default=Path("out/scaling"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes.split(","):
        path = args.out / f"{args.backend}_{size}.json"
        cmd = [sys.executable, "-m", "edgevfi", "bench", *([args.bundle] if args.bundle else [])]
        cmd += ["--backend", args.backend, "--size", size, "--threads", str(args.threads), "--runs", str(args.runs)]
        cmd += ["--warmup", "1", "--json", str(path)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"benchmarks/scaling.py: {' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1]}")
        r = json.loads(path.read_text())
        W, H = r["size"]
        rows.append(
            {
                "size": size,
                "W": W,
                "H": H,
                "mpix": W * H / 1e6,
                "windows": r["end_to_end"]["synth_calls"],
                "ms": r["end_to_end"]["p50_ms"],
                "spread": r["end_to_end"]["spread"],
                "rss": r["peak_rss_mb"],
                # The Runner holds both input frames, the output and its weight plane in float32.
                "frames_mb": W * H * (3 + 3 + 3 + 1) * 4 / 2**20,
            }
        )
        print(f"{size}: {rows[-1]['ms']:.0f} ms, {rows[-1]['rss']:.0f} MB", flush=True)

    # Least squares ms = a · Mpix + b, and how far each size sits from it.
    n = len(rows)
    mx = sum(r["mpix"] for r in rows) / n
    my = sum(r["ms"] for r in rows) / n
    a = sum((r["mpix"] - mx) * (r["ms"] - my) for r in rows) / max(sum((r["mpix"] - mx) ** 2 for r in rows), 1e-12)
    b = my - a * mx
    print(f"\n{args.backend}, {args.threads} threads, p50 of {args.runs} frames, each size in its own process\n")
    print(
        "| size | W×H | Mpixel | windows | ms / frame | ms / window | ms / Mpixel | fit residual | peak RSS (MB) |"
        " frames (MB) | RSS − frames (MB) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        fit = a * r["mpix"] + b
        print(
            f"| {r['size']} | {r['W']}×{r['H']} | {r['mpix']:.2f} | {r['windows']} | {r['ms']:.0f} | "
            f"{r['ms'] / r['windows']:.0f} | "
            f"{r['ms'] / r['mpix']:.0f} | {100 * (r['ms'] - fit) / fit:+.1f} % | {r['rss']:.0f} | "
            f"{r['frames_mb']:.0f} | {r['rss'] - r['frames_mb']:.0f} |"
        )
    print(f"\nfit: {a:.0f} ms per Mpixel + {b:.0f} ms")
    (args.out / "scaling.json").write_text(json.dumps({"fit_ms_per_mpix": a, "fit_ms": b, "rows": rows}, indent=2))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    xs = [r["mpix"] for r in rows]
    ax1.plot(xs, [r["ms"] for r in rows], "o-", label="measured")
    ax1.plot(xs, [a * x + b for x in xs], "--", label=f"fit {a:.0f} ms/Mpix + {b:.0f}")
    ax1.set(xlabel="Mpixel per frame", ylabel="ms per output frame", title=f"time ({args.backend})")
    ax1.legend()
    ax2.plot(xs, [r["rss"] for r in rows], "o-", label="peak RSS")
    ax2.plot(xs, [r["rss"] - r["frames_mb"] for r in rows], "s--", label="peak RSS − frame buffers")
    ax2.legend()
    ax2.set(xlabel="Mpixel per frame", ylabel="peak RSS (MB)", title="peak memory", ylim=(0, None))
    for r in rows:
        ax1.annotate(r["size"], (r["mpix"], r["ms"]), fontsize=8)
        ax2.annotate(r["size"], (r["mpix"], r["rss"]), fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "scaling.png", dpi=100)
    print(f"wrote {args.out / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
