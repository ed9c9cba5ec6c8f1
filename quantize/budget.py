"""Accuracy budget for INT8 (``--max-drop``): keep the most sensitive layers in float until it fits.

The search runs the PT2E quantized graphs in PyTorch (Q/DQ simulation of the backend's quantizer;
the ONNX route is ranked with the XNNPACK quantizer's simulation, the same symmetric INT8 scheme)
through the tiled Runner on held-out triplets with ground truth (never the val set):

1. drop with everything outside the float scope quantized; done if within budget;
2. per-layer-group sensitivity: the drop with only that group kept float;
3. groups join the float list in order of the drop they recover until the drop fits.

The result names what stayed float, the drop it reaches, and what it costs: the share of the
model's MACs left in float (latency is measured by the benchmarks on the written artifacts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from edgevfi.metrics import psnr, quantize_8bit
from edgevfi.models.base import TwoStageModel
from edgevfi.runtime import Runner
from edgevfi.runtime.backend import EagerBackend
from export.graphs import build_graphs, variant_for
from quantize.ptq import quantize_pt2e_graph
from quantize.scope import quantizable_layers, stays_float


def layer_groups(model: TwoStageModel) -> list[str]:
    """Quantizable layers grouped into blocks (``flow.blocks.1``, ``refine.3``, ``decode``, ...)."""
    groups: list[str] = []
    for path in quantizable_layers(model):
        parts = path.split(".")
        if parts[0] == "flow":
            head = parts[:3] if len(parts) > 2 and parts[1] == "blocks" else parts[:2]
        elif len(parts) > 1 and parts[1].isdigit():
            head = parts[:2]
        else:
            head = parts[:1]
        group = ".".join(head)
        if group not in groups:
            groups.append(group)
    return groups


class SimulatedBackend(EagerBackend):
    """The static graphs as PT2E Q/DQ modules, run in PyTorch (CPU)."""

    def __init__(self, model: TwoStageModel, graphs: dict[str, torch.nn.Module], canvas, tile) -> None:
        super().__init__(model, max_batch=1, canvas_hw=canvas, tile=tile)
        self.graphs = graphs

    @torch.no_grad()
    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        m0, m1 = self.graphs["motion"](img0, img1)
        return m0, m1

    @torch.no_grad()
    def synthesize(self, src0, src1, mot0, mot1, shift0, shift1, t) -> Tensor:
        return self.graphs["synth"](src0, src1, mot0, mot1, shift0, shift1, t)


def mean_psnr(runner: Runner, triplets: Sequence[tuple[Tensor, Tensor, Tensor, float]]) -> float:
    """Mean PSNR (8-bit rounded) of ``runner`` on ``(img0, img1, gt, t)`` triplets."""
    scores = []
    for img0, img1, gt, t in triplets:
        (out,) = runner.interpolate(img0, img1, [t])
        scores.append(psnr(quantize_8bit(out[0]), gt[0] if gt.dim() == 4 else gt))
    return sum(scores) / len(scores)


@dataclass
class BudgetResult:
    """Outcome of :func:`fit_budget`."""

    max_drop: float
    fp32_psnr: float
    drops: dict[str, float] = field(default_factory=dict)  # "all int8" and each tried float list
    sensitivity: dict[str, float] = field(default_factory=dict)  # group → drop with it kept float
    keep_float: list[str] = field(default_factory=list)
    drop: float = 0.0
    float_mac_share: float = 0.0
    fits: bool = True

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def float_mac_share(model: TwoStageModel, keep_float: Sequence[str], canvas, tile) -> float:
    """Share of the graphs' MACs (motion + one window) in quantizable layers kept float."""
    from torch.utils.flop_counter import FlopCounterMode

    layers = [p for p in quantizable_layers(model) if stays_float(p, keep_float)]
    total = kept = 0
    for spec in build_graphs(model, "torch", canvas, tile).values():
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            spec.module(*spec.example_inputs)
        counts = fc.get_flop_counts()
        root = type(spec.module).__name__  # FlopCounterMode names modules from the graph wrapper
        kept += sum(sum(counts.get(f"{root}.model.{p}", {}).values()) for p in layers)
        total += fc.get_total_flops()
    return kept / max(total, 1)


def fit_budget(
    model: TwoStageModel,
    backend: str,
    samples: dict[str, list[tuple[Tensor, ...]]],
    triplets: Sequence[tuple[Tensor, Tensor, Tensor, float]],
    max_drop: float,
    canvas: tuple[int, int],
    tile: int,
    overlap: int = 32,
    groups: Sequence[str] | None = None,
    log=print,
) -> BudgetResult:
    """The float list that brings the simulated INT8 drop on ``triplets`` within ``max_drop``;
    candidates are ``groups`` (default: every :func:`layer_groups` block)."""
    route = backend if backend in ("et", "litert") else "et"
    specs = build_graphs(model, backend, canvas, tile)
    variant = variant_for(model.eval(), backend)
    fp32 = mean_psnr(Runner(EagerBackend(variant, max_batch=1, canvas_hw=canvas, tile=tile), overlap=overlap), triplets)

    def drop_with(keep: Sequence[str]) -> float:
        graphs = {g: quantize_pt2e_graph(specs[g], route, samples[g], keep) for g in ("motion", "synth")}
        sim = Runner(SimulatedBackend(variant, graphs, canvas, tile), overlap=overlap)
        return fp32 - mean_psnr(sim, triplets)

    result = BudgetResult(max_drop=max_drop, fp32_psnr=round(fp32, 4))
    base = drop_with([])
    result.drops["<all int8>"] = round(base, 4)
    log(f"budget: FP32 {fp32:.3f} dB, all-INT8 drop {base:+.3f} dB (budget {max_drop} dB)")
    if base <= max_drop:
        result.drop = round(base, 4)
        return result
    for group in groups or layer_groups(model):
        result.sensitivity[group] = round(drop_with([group]), 4)
        log(f"budget: {group} kept float → drop {result.sensitivity[group]:+.3f} dB")
    keep: list[str] = []
    drop = base
    for group in sorted(result.sensitivity, key=result.sensitivity.get):
        keep.append(group)
        drop = drop_with(keep)
        result.drops[",".join(keep)] = round(drop, 4)
        log(f"budget: float {','.join(keep)} → drop {drop:+.3f} dB")
        if drop <= max_drop:
            break
    result.keep_float, result.drop = keep, round(drop, 4)
    result.fits = drop <= max_drop
    result.float_mac_share = round(float_mac_share(model, keep, canvas, tile), 4)
    return result
