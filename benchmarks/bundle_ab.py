"""Two bundles on one runtime, timed in alternation in ONE run: is B faster or slower than A?

On a shared VM one `edgevfi bench` after another can differ by more than a small graph change (the
thirty-sixth session's speed table: spreads up to 0.21). This loads both bundles once, then runs
``--rounds`` rounds of A then B (the same harness as ``edgevfi bench``: every graph on its static inputs,
and one output frame at ``--size`` end to end through the tiled Runner), and prints each graph's p50 per
round, the median over rounds and B / A:

    edgevfi export --backend et --out out/ab/on
    edgevfi export --backend et --motion-consensus off --out out/ab/off
    python benchmarks/bundle_ab.py out/ab/on out/ab/off [--backend et] [--size 720p] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Import the packages before this folder joins the path: benchmarks/export.py would shadow `export`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from export import latency  # noqa: E402
from export.bundle import BundleError  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="bundle A (the baseline)")
    ap.add_argument("b", type=Path, help="bundle B")
    ap.add_argument("--backend", default="et", help="et, litert or onnx (default et)")
    ap.add_argument("--size", default="720p")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5, help="timed calls per graph per round (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of A then B (default 3)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    try:
        size = latency.parse_size(args.size)
        harness = {k: latency.bundle_harness(p, args.backend, args.threads) for k, p in (("A", args.a), ("B", args.b))}
    except (BundleError, ValueError) as e:
        sys.exit(f"benchmarks/bundle_ab.py: {e}")
    if set(harness["A"].graph_inputs) != set(harness["B"].graph_inputs):
        sys.exit("benchmarks/bundle_ab.py: the two bundles have different graphs; compare bundles of one layout")
    peak = latency.peak_gmacs(args.threads, seconds=2.0)
    p50: dict[str, dict[str, list[float]]] = {"A": {}, "B": {}}
    for r in range(args.rounds):
        for key in ("A", "B"):
            res = latency.run_bench(harness[key], args.backend, size, args.threads, runs=args.runs, peak=peak)
            for g, stats in [*res["graphs"].items(), ("frame (end to end)", res["end_to_end"])]:
                p50[key].setdefault(g, []).append(stats["p50_ms"])
            print(f"round {r + 1} {key}: frame {res['end_to_end']['p50_ms']:.0f} ms", flush=True)
    print(f"\nA = {args.a}, B = {args.b}; {args.backend}, {size[0]}x{size[1]}, {args.threads} threads")
    print("| graph | A p50 per round (ms) | B p50 per round (ms) | A median | B median | B / A |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    rows = []
    for g in p50["A"]:
        a, b = p50["A"][g], p50["B"][g]
        ma, mb = statistics.median(a), statistics.median(b)
        per_a, per_b = (", ".join(f"{x:.0f}" for x in xs) for xs in (a, b))
        print(f"| {g} | {per_a} | {per_b} | {ma:.0f} | {mb:.0f} | {mb / ma:.3f} |")
        rows.append({"graph": g, "a_ms": a, "b_ms": b, "ratio": mb / ma})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {"a": str(args.a), "b": str(args.b), "backend": args.backend, "size": list(size), "rows": rows}
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
