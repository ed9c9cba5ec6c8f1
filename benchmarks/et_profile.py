"""Where an ExecuTorch graph spends its time: per-operator-kind shares from an ETDump, in ONE run.

Runs each graph of a bundle's ``et`` artifacts a few times with ETDump profiling on, then sums the
time of every XNNPACK operator (``Convolution (NHWC, F32) IGEMM``, ``Slice (ND, X32)``, …) and every
portable-kernel call (``native_call_*``) by kind. This is how we found what INT8 cannot speed up:
the share that is not convolution.

    python benchmarks/et_profile.py BUNDLE [--threads 2] [--runs 3] [--graph motion_736x1280 ...]
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from export.bundle import load_bundle  # noqa: E402
from export.latency import static_inputs  # noqa: E402

#: Events that contain other events (their time is already counted in what they contain).
CONTAINERS = {"Method::execute", "Program::load_method", "Method::init", "DELEGATE_CALL", "OPERATOR_CALL"}


def profile_graph(
    path: Path, inputs: list, threads: int, runs: int, method: str | None = None
) -> dict[str, tuple[float, int]]:
    """Operator kind → (share of the graph's operator time, number of operators of that kind).

    ``method``: the graph's method in a program holding several (``None``: ``forward``)."""
    from executorch.devtools import Inspector
    from executorch.extension.pybindings.portable_lib import _load_for_executorch, _unsafe_reset_threadpool

    _unsafe_reset_threadpool(threads)
    module = _load_for_executorch(str(path), enable_etdump=True, debug_buffer_size=0)
    for _ in range(runs):
        module.run_method(method or "forward", tuple(x.contiguous().float() for x in inputs))
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "graph.etdp"
        module.write_etdump_result_to_file(str(dump))
        inspector = Inspector(etdump_path=str(dump))
    time_by_kind: collections.Counter = collections.Counter()
    ops_by_kind: collections.Counter = collections.Counter()
    for block in inspector.event_blocks:
        for ev in block.events:
            if ev.perf_data is None or ev.name in CONTAINERS:
                continue
            kind = re.sub(r" #\d+$", "", ev.name)
            time_by_kind[kind] += sum(ev.perf_data.raw) / len(ev.perf_data.raw)
            ops_by_kind[kind] += 1
    total = sum(time_by_kind.values()) or 1.0
    return {k: (v / total, ops_by_kind[k]) for k, v in time_by_kind.most_common()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument(
        "--graph",
        action="append",
        help="graph to profile (repeatable; default: motion and synth; fine canvases: motion_HxW)",
    )
    args = ap.parse_args()
    bundle = load_bundle(args.bundle, "et")
    inputs = static_inputs(bundle, "et")
    m = bundle.manifest
    print(f"{args.bundle}: {m['model']['name']} {m['precision']}, et warp {m['backends']['et']['warp_impl']}")
    unknown = sorted(set(args.graph or ()) - set(inputs))
    if unknown:
        print(f"et_profile: no graph {', '.join(unknown)} in this bundle (it has {', '.join(inputs)})", file=sys.stderr)
        return 2
    for graph in args.graph or ("motion", "synth"):
        path, method = bundle.graph_file("et", graph), bundle.graph_method("et", graph)
        shares = profile_graph(path, inputs[graph], args.threads, args.runs, method)
        gemm_kinds = ("Convolution", "Fully Connected", "Batch Matrix Multiply")
        conv = sum(s for k, (s, _) in shares.items() if k.startswith(gemm_kinds))
        print(f"\n{graph}: convolutions/GEMMs {100 * conv:.1f} % of operator time\n")
        print("| operator kind | share | operators |")
        print("| --- | ---: | ---: |")
        for kind, (share, n) in list(shares.items())[: args.top]:
            print(f"| {kind} | {100 * share:.1f} % | {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
