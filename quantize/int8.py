"""INT8 bundles: calibrate on real frames, quantize each backend's graphs, lower, write a bundle.

:func:`write_int8_bundle` is :func:`export.bundle.write_bundle` with the INT8 routes of
:mod:`quantize.ptq` plugged in as the lowering step, so an INT8 bundle has the same layout and
manifest as an FP32 one (plus, per backend, how it was quantized and what stayed float) and runs
through the same Runner, ``edgevfi check``, ``eval`` and ``interpolate``.
"""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from edgevfi.models.base import TwoStageModel
from export import backends
from export.bundle import write_bundle
from export.graphs import DEFAULT_CANVAS, DEFAULT_TILE, GraphSpec, resolve_fine_canvases
from quantize.budget import BudgetResult, fit_budget
from quantize.calibration import CalibrationPairs, record_graph_inputs
from quantize.ptq import ROUTES, pt2e_quantizer, quantize_onnx_file, quantize_pt2e_graph, quantized_spec
from quantize.scope import FLOAT_SCOPE, relative_path, stays_float

INT8_BACKENDS = tuple(ROUTES)


def check_int8_backends(names: Sequence[str]) -> None:
    """``ValueError`` (one line) for a backend that is unknown or has no INT8 route."""
    for name in names:
        backends.get(name)
        if name not in INT8_BACKENDS:
            raise ValueError(f"no INT8 route for backend {name!r} (INT8 backends: {', '.join(INT8_BACKENDS)})")


def onnx_float_nodes(path: Path, keep_float: Sequence[str] = ()) -> list[str]:
    """Names of the ONNX nodes inside the float scope, read from the dynamo exporter's
    ``pkg.torch.onnx.name_scopes`` metadata (nodes without it are kept float, to be safe)."""
    import onnx

    names = []
    for node in onnx.load(str(path)).graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = meta.get("pkg.torch.onnx.name_scopes")
        if scopes is None:
            names.append(node.name)
            continue
        parts = ast.literal_eval(scopes)
        module = relative_path(parts[-2]) if len(parts) >= 2 else ""
        if stays_float(module, keep_float):
            names.append(node.name)
    return names


def pt2e_int8_module(
    spec: GraphSpec,
    route: str,
    samples: Sequence[tuple[Tensor, ...]],
    keep_float: Sequence[str] = (),
    qat_steps: int = 0,
    qat_record: dict | None = None,
    qat_lr: float | None = None,
) -> torch.nn.Module:
    """``spec`` as a PT2E Q/DQ module for ``route``: PTQ on ``samples``, or QAT for ``qat_steps``
    (its training record put in ``qat_record[spec.name]``)."""
    if not qat_steps:
        return quantize_pt2e_graph(spec, route, samples, keep_float)
    from quantize.qat import qat_pt2e_graph

    lr = {} if qat_lr is None else {"lr": qat_lr}
    module, record = qat_pt2e_graph(spec, route, samples, qat_steps, keep_float=keep_float, **lr)
    if qat_record is not None:
        qat_record[spec.name] = record
    return module


def lower_int8_group(
    backend: str,
    specs: dict[str, GraphSpec],
    path: Path,
    samples: dict[str, Sequence[tuple[Tensor, ...]]],
    keep_float: Sequence[str] = (),
    qat_steps: int = 0,
    qat_record: dict | None = None,
    qat_lr: float | None = None,
) -> dict[str, dict]:
    """:func:`lower_int8` for the graphs of one artifact (``write_bundle``'s ``lower``): one graph, or
    every motion graph as the methods of one ``.pte`` (ExecuTorch) or the signatures of one
    ``.tflite`` (LiteRT). Returns op coverage per graph."""
    options = (keep_float, qat_steps, qat_record, qat_lr)
    if len(specs) == 1:
        ((name, spec),) = specs.items()
        return {name: lower_int8(backend, spec, path, samples[name], *options)}
    if backend == "et":
        from export.backends import executorch as et

        programs = {}
        for name, spec in specs.items():
            module = pt2e_int8_module(spec, "et", samples[name], *options)
            programs[name] = torch.export.export(module, spec.example_inputs, strict=False)
        return et.write_methods(programs, path)
    if backend == "litert":
        from litert_torch.quantize.quant_config import QuantConfig

        from export.backends import litert

        quantized = {}
        for name, spec in specs.items():
            quantized[name] = quantized_spec(spec, pt2e_int8_module(spec, "litert", samples[name], *options))
        config = QuantConfig(pt2e_quantizer=pt2e_quantizer("litert"))
        litert.convert_signatures(quantized, path, config)
        return litert.signature_coverage(quantized, config)
    raise ValueError(f"{backend!r} artifacts hold one graph each, got {', '.join(specs)}")


def lower_int8(
    backend: str,
    spec: GraphSpec,
    path: Path,
    samples: Sequence[tuple[Tensor, ...]],
    keep_float: Sequence[str] = (),
    qat_steps: int = 0,
    qat_record: dict | None = None,
    qat_lr: float | None = None,
) -> dict:
    """Quantize ``spec`` for ``backend`` on ``samples`` (PTQ, or PT2E QAT for ``qat_steps`` on
    ET/LiteRT, its training record put in ``qat_record``) and write the INT8 artifact; returns op coverage."""

    def pt2e(route: str) -> torch.nn.Module:
        return pt2e_int8_module(spec, route, samples, keep_float, qat_steps, qat_record, qat_lr)

    if backend == "coreml":
        if qat_steps:
            raise ValueError("QAT is built for the PT2E routes (et, litert), not 'coreml'")
        return lower_coreml_int8(spec, path, pt2e("coreml"))
    if qat_steps and backend not in ("et", "litert"):
        raise ValueError(f"QAT is built for the PT2E routes (et, litert), not {backend!r}")
    if backend == "et":
        from export.backends import executorch as et

        module = pt2e("et")
        program = torch.export.export(module, spec.example_inputs, strict=False)
        return et.write_program(program, path)
    if backend == "litert":
        from litert_torch.quantize.quant_config import QuantConfig

        from export.backends import litert

        module = pt2e("litert")
        litert.convert(quantized_spec(spec, module), path, QuantConfig(pt2e_quantizer=pt2e_quantizer("litert")))
        return litert.op_coverage(path)
    if backend == "onnx":
        from export.backends import onnx as ox

        with tempfile.TemporaryDirectory() as tmp:
            fp32 = Path(tmp) / "fp32.onnx"
            ox.export_onnx(spec, fp32)
            quantize_onnx_file(fp32, path, spec, samples, onnx_float_nodes(fp32, keep_float))
        return ox.op_coverage(path)
    raise ValueError(f"no INT8 route for backend {backend!r} (INT8 backends: {', '.join(INT8_BACKENDS)})")


def lower_coreml_int8(spec: GraphSpec, path: Path, module: torch.nn.Module) -> dict:
    """Convert a folded Q/DQ graph with coremltools, save, spec-validate, and check it is INT8.

    Core ML predictions cannot run on Linux: the package is converted and its spec validated (I/O,
    iOS17 target), and its MIL program must hold activation ``quantize``/``dequantize`` ops and
    int8 ``constexpr_affine_dequantize`` weights — an FP32 fallback would fail here, not on a phone.
    """
    from export.backends import coreml

    coverage = coreml.write_package(coreml.convert(quantized_spec(spec, module), "fp32"), spec, path, "int8")
    ops = coverage["ops"]
    if not ops.get("quantize") or not ops.get("constexpr_affine_dequantize"):
        raise ValueError(f"Core ML {spec.name}: conversion lost the INT8 ops (MIL ops: {ops})")
    coverage["int8_ops"] = {k: ops[k] for k in ("quantize", "dequantize", "constexpr_affine_dequantize") if k in ops}
    return coverage


def quantization_record(
    backend: str,
    calib: CalibrationPairs,
    counts: dict[str, int],
    keep_float: Sequence[str],
    budget: BudgetResult | None = None,
    qat: dict | None = None,
) -> dict:
    """What a bundle manifest records about one backend's INT8 graphs."""
    record = {
        "quantization": {
            "route": ROUTES[backend],
            "weights": "int8 symmetric per output channel",
            "activations": "int8 per tensor (calibrated)",
            "calibration": {"source": calib.source, **{f"{g}_samples": n for g, n in counts.items()}},
            "float_scope": [p or "<model>" for p in FLOAT_SCOPE],
            "kept_float": list(keep_float),
        }
    }
    if budget is not None:
        record["quantization"]["budget"] = budget.to_dict()
    if qat:
        record["quantization"]["qat"] = {
            "method": "QAT from NNCF PTQ: the calibrated Q/DQ graph as straight-through fake quantization at NNCF's"
            " ranges, weights self-distilled to the FP32 graph on the calibration inputs",
            **qat,
        }
    return record


def write_int8_bundle(
    model: TwoStageModel,
    out: str | Path,
    backend_names: Sequence[str],
    calib: CalibrationPairs,
    *,
    model_name: str,
    source: Path | None = None,
    canvas: tuple[int, int] = DEFAULT_CANVAS,
    fine_canvases: tuple[tuple[int, int], ...] | None = None,
    tile: int = DEFAULT_TILE,
    overlap: int = 32,
    warp: str | None = None,
    keep_float: Sequence[str] = (),
    max_synth: int = 64,
    max_drop: float | None = None,
    budget_triplets: Sequence[tuple[Tensor, Tensor, Tensor, float]] = (),
    qat_steps: int = 0,
    qat_lr: float | None = None,
    log=print,
) -> Path:
    """An INT8 bundle of ``model`` for ``backend_names`` (a subset of :data:`INT8_BACKENDS`).

    With ``max_drop``, each backend's float list is extended by :func:`quantize.budget.fit_budget`
    on ``budget_triplets`` (held-out triplets with ground truth) until its simulated drop fits.
    """
    check_int8_backends(backend_names)
    fine_canvases = resolve_fine_canvases(model, canvas, fine_canvases)
    samples = record_graph_inputs(
        model.eval(), calib, canvas, tile, overlap, max_synth=max_synth, fine_canvases=fine_canvases
    )
    counts = {g: len(v) for g, v in samples.items()}
    log(f"calibration: {calib.source} → " + " / ".join(f"{n} {g} inputs" for g, n in counts.items()))
    if qat_steps and any(name not in ("et", "litert") for name in backend_names):
        raise ValueError("QAT (--qat-steps) is built for the PT2E routes: et, litert")
    keep = {name: list(keep_float) for name in backend_names}
    qat: dict[str, dict] = {}
    budgets: dict[str, BudgetResult] = {}
    if max_drop is not None:
        if not budget_triplets:
            raise ValueError("an accuracy budget needs held-out triplets with ground truth")
        for name in backend_names:
            budgets[name] = fit_budget(model, name, samples, budget_triplets, max_drop, canvas, tile, overlap, log=log)
            keep[name] += [g for g in budgets[name].keep_float if g not in keep[name]]
            if not budgets[name].fits:
                log(f"budget: {name} misses {max_drop} dB even with {budgets[name].keep_float} in float")
    return write_bundle(
        model,
        out,
        list(backend_names),
        model_name=model_name,
        source=source,
        canvas=canvas,
        fine_canvases=fine_canvases,
        tile=tile,
        overlap=overlap,
        precision="int8",
        warp=warp,
        lower=lambda backend, specs, path: lower_int8_group(
            backend, specs, path, samples, keep[backend], qat_steps, qat.setdefault(backend, {}), qat_lr
        ),
        backend_info=lambda backend: quantization_record(
            backend, calib, counts, keep[backend], budgets.get(backend), qat.get(backend)
        ),
        log=log,
    )
