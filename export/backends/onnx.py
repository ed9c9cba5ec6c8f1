"""ONNX, the reference path: dynamo exporter → onnxsim → ``onnxruntime`` (CPU execution provider).

The dynamo exporter is used because the legacy TorchScript exporter is silently wrong on
``index_add`` (measured, ``../shared/deps.md``).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import torch

from export.backends import GraphRunner
from export.graphs import GraphSpec

SUFFIX = ".onnx"
RUNNABLE = True


def export_onnx(spec: GraphSpec, path: Path) -> None:
    torch.onnx.export(
        spec.module,
        spec.example_inputs,
        str(path),
        dynamo=True,
        input_names=list(spec.input_names),
        output_names=list(spec.output_names),
        external_data=False,
        verbose=False,
    )


def simplify(path: Path) -> None:
    import onnx
    import onnxsim

    model = onnx.load(str(path))
    simplified, ok = onnxsim.simplify(model)
    if ok:
        onnx.save(simplified, str(path))


def op_coverage(path: Path) -> dict:
    import onnx

    ops = Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    return {
        "runtime": "onnxruntime CPUExecutionProvider (runs every op)",
        "ops": dict(sorted(ops.items())),
        "total": sum(ops.values()),
        "delegated": sum(ops.values()),
        "fallback": {},
    }


def lower(spec: GraphSpec, path: Path, precision: str = "fp32") -> dict:
    if precision != "fp32":
        raise ValueError(f"ONNX FP32 export does not take precision {precision!r}")
    export_onnx(spec, path)
    simplify(path)
    data = Path(str(path) + ".data")
    if data.exists():  # everything is inlined; an empty side file must not enter the bundle
        os.remove(data)
    return op_coverage(path)


def load(path: Path, threads: int = 0) -> GraphRunner:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(inputs):
        feed = {n: x.detach().contiguous().float().numpy() for n, x in zip(names, inputs, strict=True)}
        return [torch.from_numpy(o) for o in session.run(None, feed)]

    return run
