"""PT2E quantization-aware training of the static graphs (ExecuTorch and LiteRT routes).

The graph is prepared for QAT with the backend's quantizer (fake quantization, the same float scope
as PTQ) and fine-tuned to reproduce the FP32 graph's own outputs on the recorded real inputs
(self-distillation: no labels needed, and the INT8 graph is pulled towards the model it replaces,
not towards a new optimum). Motion outputs are compared in canvas units (displacement ÷ canvas size),
image outputs in [0, 1]. Then ``convert_pt2e`` gives the Q/DQ graph the backends lower.

NNCF's eager-mode QAT model does not survive ``torch.export`` (shared quantizers on concatenations,
``../shared/deps.md``), so QAT works on the exported graph, as ExecuTorch's documentation does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from export.graphs import GraphSpec
from quantize.ptq import export_graph, pt2e_quantizer
from quantize.scope import scoped


def _outputs(x) -> tuple[Tensor, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def qat_pt2e_graph(
    spec: GraphSpec,
    backend: str,
    samples: Sequence[tuple[Tensor, ...]],
    steps: int,
    lr: float = 1e-5,
    keep_float: Sequence[str] = (),
    seed: int = 0,
    log=print,
) -> tuple[torch.fx.GraphModule, dict]:
    """QAT-fine-tuned, converted INT8 graph (Q/DQ form) of ``spec`` for ``et`` or ``litert``, and
    the training record (loss at the start and the end)."""
    from torchao.quantization.pt2e import move_exported_model_to_eval, move_exported_model_to_train
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

    torch.manual_seed(seed)
    quantizer = scoped(pt2e_quantizer(backend, qat=True), keep_float, float_boundary=backend == "litert")
    prepared = prepare_qat_pt2e(export_graph(spec), quantizer)
    with torch.no_grad():
        targets = [_outputs(spec.module(*s)) for s in samples]
    # Displacements are in canvas pixels: compare them on the [0, 1] scale of the images.
    scale = float(max(spec.example_inputs[0].shape[-2:])) if spec.name == "motion" else 1.0

    def loss_of(i: int) -> Tensor:
        outs = _outputs(prepared(*samples[i]))
        return sum(F.l1_loss(o / scale, t / scale) for o, t in zip(outs, targets[i], strict=True))

    move_exported_model_to_train(prepared)
    with torch.no_grad():  # observers see every sample once before the weights move
        first = sum(float(loss_of(i)) for i in range(len(samples))) / len(samples)
    params = [p for p in prepared.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=lr)
    order = random.Random(seed)
    for _ in range(steps):
        loss = loss_of(order.randrange(len(samples)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    move_exported_model_to_eval(prepared)
    with torch.no_grad():
        end = sum(float(loss_of(i)) for i in range(len(samples))) / len(samples)
    log(f"qat {backend}/{spec.name}: {steps} steps, L1 vs FP32 {first:.5f} → {end:.5f}")
    moved = max((float((p.detach() - p0).abs().max()) for p, p0 in zip(params, start, strict=True)), default=0.0)
    converted = convert_pt2e(prepared, fold_quantize=backend != "litert")
    record = {"steps": steps, "lr": lr, "l1_vs_fp32_start": round(first, 6), "l1_vs_fp32_end": round(end, 6)}
    return converted, {**record, "max_weight_change": moved}
