"""ExecuTorch: ``torch.export`` → edge dialect → XNNPACK partitioner → ``.pte``; run with ``executorch.runtime``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from export.backends import GraphRunner
from export.graphs import GraphSpec

SUFFIX = ".pte"
RUNNABLE = True

# Structural nodes that are not computation (they cost nothing whether delegated or not).
_STRUCTURAL = {"getitem", "executorch_call_delegate"}


def export_program(spec: GraphSpec) -> torch.export.ExportedProgram:
    return torch.export.export(spec.module, spec.example_inputs, strict=False)


def _op_name(node) -> str:
    """``aten.add.Tensor`` for edge and ATen ops, the function name otherwise."""
    name = str(node.target)
    if name.startswith("<EdgeOpOverload: "):
        return name.removeprefix("<EdgeOpOverload: ").split(">")[0]
    return getattr(node.target, "__name__", name)


def _compute_ops(graph_module) -> Counter:
    return Counter(
        _op_name(n) for n in graph_module.graph.nodes if n.op == "call_function" and _op_name(n) not in _STRUCTURAL
    )


def lower_to_edge(program: torch.export.ExportedProgram | dict[str, torch.export.ExportedProgram]):
    """Edge dialect with XNNPACK partitions; a dict of programs becomes one multi-method program."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])


def op_coverage(program: torch.export.ExportedProgram, edge, method: str = "forward") -> dict:
    """Compute ops before partitioning vs those left outside XNNPACK (portable kernels)."""
    from executorch.exir import to_edge

    total = _compute_ops(to_edge(program).exported_program().graph_module)
    lowered_gm = edge.exported_program(method).graph_module
    fallback = _compute_ops(lowered_gm)
    delegates = sum(1 for n in lowered_gm.graph.nodes if _op_name(n) == "executorch_call_delegate")
    n_total = sum(total.values())
    # Views and copies the edge passes introduce can appear only after partitioning: clamp at 0.
    n_fallback = sum(fallback.values())
    return {
        "runtime": "XNNPACK delegate, portable kernels for the rest",
        "ops": dict(sorted(total.items())),
        "total": n_total,
        "delegated": max(0, n_total - n_fallback),
        "delegate_calls": delegates,
        "fallback": dict(sorted(fallback.items())),
    }


def lower(spec: GraphSpec, path: Path, precision: str = "fp32") -> dict:
    if precision != "fp32":
        raise ValueError(f"ExecuTorch FP32 export does not take precision {precision!r}")
    return write_program(export_program(spec), path)


def write_program(program: torch.export.ExportedProgram, path: Path) -> dict:
    """Lower an exported program (FP32, or INT8 in Q/DQ form) to XNNPACK and write the ``.pte``."""
    edge = lower_to_edge(program)
    coverage = op_coverage(program, edge)
    path.write_bytes(edge.to_executorch().buffer)
    return coverage


def write_methods(programs: dict[str, torch.export.ExportedProgram], path: Path) -> dict[str, dict]:
    """Lower several exported programs into one ``.pte``, one method each (named by the dict's keys).

    The graphs of one model at several input shapes (the motion graph per canvas) hold the same
    weights, and the XNNPACK delegate stores each weight once per program, however many methods
    use it: four motion graphs cost about one copy of the weights, not four. Returns the op
    coverage per method.
    """
    edge = lower_to_edge(programs)
    coverage = {name: op_coverage(p, edge, name) for name, p in programs.items()}
    path.write_bytes(edge.to_executorch().buffer)
    return coverage


def lower_methods(specs: dict[str, GraphSpec], path: Path, precision: str = "fp32") -> dict[str, dict]:
    """:func:`lower` for several graphs sharing weights, as the methods of one ``.pte``."""
    if precision != "fp32":
        raise ValueError(f"ExecuTorch FP32 export does not take precision {precision!r}")
    return write_methods({name: export_program(spec) for name, spec in specs.items()}, path)


def load(path: Path, threads: int = 0, method: str | None = None) -> GraphRunner:
    """``method``: the method to run in a program holding several (``None``: ``forward``)."""
    from executorch.runtime import Runtime

    if threads:
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

        _unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(str(path)).load_method(method or "forward")

    def run(inputs):
        return [o.clone() for o in method.execute([x.contiguous().float() for x in inputs])]

    return run
