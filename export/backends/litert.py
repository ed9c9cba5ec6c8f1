"""LiteRT (TFLite): ``litert_torch.convert`` → ``.tflite``; run with ``ai_edge_litert.interpreter``.

The interpreter applies its default XNNPACK delegate; op coverage reads the execution plan after
delegation (``DELEGATE`` nodes vs ops left to the builtin kernels).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from export.backends import GraphRunner
from export.graphs import GraphSpec

SUFFIX = ".tflite"
RUNNABLE = True


def convert(spec: GraphSpec, path: Path, quant_config=None) -> None:
    """``quant_config``: litert-torch's ``QuantConfig`` when ``spec.module`` is a PT2E Q/DQ graph."""
    import litert_torch

    litert_torch.convert(spec.module.eval(), spec.example_inputs, quant_config=quant_config).export(str(path))


def _interpreter(path: Path, threads: int = 0, delegate: bool = True):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if delegate else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = Interpreter(model_path=str(path), num_threads=threads or None, experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    return interp


def delegated_nodes(details: list[dict]) -> set[int]:
    """Original nodes inside a ``DELEGATE`` node's partition.

    The interpreter lists the original nodes and appends one ``DELEGATE`` node per partition; a
    partition is convex, so its nodes are those reached walking back from the delegate's outputs
    to its inputs.
    """
    producers = {t: d["index"] for d in details if d["op_name"] != "DELEGATE" for t in d["outputs"]}
    inside: set[int] = set()
    for d in details:
        if d["op_name"] != "DELEGATE":
            continue
        stop, seen, stack = set(d["inputs"]), set(), list(d["outputs"])
        while stack:
            t = stack.pop()
            if t in stop or t in seen or t not in producers:
                continue
            seen.add(t)
            inside.add(producers[t])
            stack.extend(details[producers[t]]["inputs"])
    return inside


def op_coverage(path: Path) -> dict:
    details = _interpreter(path)._get_ops_details()
    inside = delegated_nodes(details)
    nodes = [d for d in details if d["op_name"] != "DELEGATE"]
    ops = Counter(d["op_name"] for d in nodes)
    fallback = Counter(d["op_name"] for d in nodes if d["index"] not in inside)
    return {
        "runtime": "LiteRT interpreter with its default XNNPACK delegate",
        "ops": dict(sorted(ops.items())),
        "total": len(nodes),
        "delegated": len(inside),
        "delegate_calls": sum(1 for d in details if d["op_name"] == "DELEGATE"),
        "fallback": dict(sorted(fallback.items())),
    }


def lower(spec: GraphSpec, path: Path, precision: str = "fp32") -> dict:
    if precision != "fp32":
        raise ValueError(f"LiteRT FP32 export does not take precision {precision!r}")
    convert(spec, path)
    return op_coverage(path)


def convert_signatures(specs: dict[str, GraphSpec], path: Path, quant_config=None) -> None:
    """Several graphs into one ``.tflite``, a signature each (named by the dict's keys).

    The motion graph per canvas holds the same weights, and the converter stores a constant buffer
    once however many signatures use it: four motion graphs cost about one copy of the weights.
    """
    import litert_torch

    converter = litert_torch
    for name, spec in specs.items():
        converter = converter.signature(name, spec.module.eval(), spec.example_inputs)
    converter.convert(quant_config=quant_config).export(str(path))


def signature_coverage(specs: dict[str, GraphSpec], quant_config=None) -> dict[str, dict]:
    """:func:`op_coverage` of each graph, converted alone: the interpreter's Python API lists the
    ops of the primary subgraph only, and each signature's graph is the same as converted alone."""
    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        for name, spec in specs.items():
            alone = Path(tmp) / f"{name}.tflite"
            convert(spec, alone, quant_config)
            out[name] = op_coverage(alone)
        return out


def lower_methods(specs: dict[str, GraphSpec], path: Path, precision: str = "fp32") -> dict[str, dict]:
    """:func:`lower` for several graphs sharing weights, as the signatures of one ``.tflite``."""
    if precision != "fp32":
        raise ValueError(f"LiteRT FP32 export does not take precision {precision!r}")
    convert_signatures(specs, path)
    return signature_coverage(specs)


def load(path: Path, threads: int = 0, method: str | None = None) -> GraphRunner:
    """``method``: the signature to run in a file holding several (``None``: the file's only one)."""
    interp = _interpreter(path, threads)
    runner = interp.get_signature_runner(method) if method else interp.get_signature_runner()
    # litert_torch names the signature inputs args_0.. in the order of the example inputs.
    in_details = runner.get_input_details()
    out_details = runner.get_output_details()
    in_names = sorted(in_details, key=lambda n: int(n.rsplit("_", 1)[-1]))
    out_names = sorted(out_details, key=lambda n: int(n.rsplit("_", 1)[-1]))

    def run(inputs):
        feed = {n: _to_input(x, in_details[n]) for n, x in zip(in_names, inputs, strict=True)}
        result = runner(**feed)
        return [_from_output(result[n], out_details[n]) for n in out_names]

    return run


def _to_input(x: torch.Tensor, detail: dict) -> np.ndarray:
    """Float tensor → the input's dtype; an INT8 input (the converter folds a leading quantize
    into the signature) is quantized with its own scale and zero point."""
    arr = x.detach().contiguous().float().numpy()
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return arr.astype(dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(arr / scale) + zero, info.min, info.max).astype(dtype)


def _from_output(arr: np.ndarray, detail: dict) -> torch.Tensor:
    if np.dtype(detail["dtype"]).kind == "f":
        return torch.from_numpy(arr.astype(np.float32, copy=True))
    scale, zero = detail["quantization"]
    return torch.from_numpy((arr.astype(np.float32) - zero) * scale)
