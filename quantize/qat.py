"""Quantization-aware training of the static graphs (ExecuTorch and LiteRT routes), from NNCF's PTQ.

QAT starts where PTQ ends: NNCF ``quantize_pt2e`` calibrates the graph (activation ranges from the
real inputs, fast bias correction), then every quantize → dequantize pair of that graph becomes a
fake quantization with a straight-through gradient (:func:`fake_quant_view`) at *the same scales and
zero points*, and the weights and biases are fine-tuned to reproduce the FP32 graph's own outputs on
the recorded real inputs (self-distillation: no labels, and the INT8 graph is pulled towards the
model it replaces). The trained weights go back into NNCF's Q/DQ graph, which is folded as PTQ's
would be. At zero steps the result *is* the PTQ graph, so QAT can only be compared like for like.

Motion outputs are compared in canvas units (displacement ÷ canvas size), image outputs in [0, 1].

NNCF's eager-mode QAT model does not survive ``torch.export`` (shared quantizers on concatenations,
``../shared/deps.md``), and torchao's ``prepare_qat_pt2e`` starts from plain min/max observers
without bias correction (measured: its val drop was 3.6× PTQ's), hence this route.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import Tensor

from export.graphs import GraphSpec, is_motion_graph
from quantize.ptq import quantize_pt2e_graph

#: Adam step size of QAT's weight fine-tuning (small: the weights start at NNCF's bias-corrected PTQ)
DEFAULT_QAT_LR = 1e-5


def _outputs(x) -> tuple[Tensor, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _fq_per_tensor(x: Tensor, scale, zero_point, quant_min: int, quant_max: int) -> Tensor:
    return torch.fake_quantize_per_tensor_affine(x, float(scale), int(zero_point), quant_min, quant_max)


def _fq_per_channel(x: Tensor, scale: Tensor, zero_point: Tensor, axis: int, quant_min: int, quant_max: int) -> Tensor:
    return torch.fake_quantize_per_channel_affine(
        x, scale.float(), zero_point.to(torch.int32), axis, quant_min, quant_max
    )


def _qdq_ops() -> dict:
    qd = torch.ops.quantized_decomposed
    return {
        qd.quantize_per_tensor.default: (qd.dequantize_per_tensor.default, _fq_per_tensor),
        qd.quantize_per_tensor.tensor: (qd.dequantize_per_tensor.tensor, _fq_per_tensor),
        qd.quantize_per_channel.default: (qd.dequantize_per_channel.default, _fq_per_channel),
    }


def fake_quant_view(qdq: fx.GraphModule) -> fx.GraphModule:
    """A trainable copy of a Q/DQ graph: each ``dequantize(quantize(x, s, z, …))`` becomes a fake
    quantization of ``x`` with the same ``s, z`` and a straight-through gradient. Parameter names
    are kept, so trained weights load back into ``qdq``."""
    graph_module = copy.deepcopy(qdq)
    graph = graph_module.graph
    ops = _qdq_ops()
    replaced = 0
    for quant in list(graph.nodes):
        if quant.op != "call_function" or quant.target not in ops:
            continue
        dequant_op, fake_quant = ops[quant.target]
        for user in list(quant.users):
            if user.op != "call_function" or user.target != dequant_op:
                raise ValueError(f"quantize node {quant.name} feeds {user.target}, not a dequantize")
            with graph.inserting_before(user):
                node = graph.call_function(fake_quant, (quant.args[0], *quant.args[1:-1]))
            node.meta = dict(user.meta)
            user.replace_all_uses_with(node)
            graph.erase_node(user)
            replaced += 1
        graph.erase_node(quant)
    if not replaced:
        raise ValueError("the graph holds no quantize/dequantize pairs (was it folded?)")
    graph.lint()
    graph_module.recompile()
    return graph_module


def fold_weights(qdq: fx.GraphModule) -> fx.GraphModule:
    """Store the quantized weights as int8 constants, as ``convert_pt2e(fold_quantize=True)`` does."""
    from torchao.quantization.pt2e.constant_fold import constant_fold
    from torchao.quantization.pt2e.quantize_pt2e import _quant_node_constraint

    constant_fold(qdq, _quant_node_constraint)
    return fx.GraphModule(qdq, qdq.graph)


def qat_pt2e_graph(
    spec: GraphSpec,
    backend: str,
    samples: Sequence[tuple[Tensor, ...]],
    steps: int,
    lr: float = DEFAULT_QAT_LR,
    keep_float: Sequence[str] = (),
    seed: int = 0,
    batch_size: int = 4,
    log=print,
) -> tuple[torch.fx.GraphModule, dict]:
    """QAT-fine-tuned INT8 graph (Q/DQ form, NNCF's ranges) of ``spec`` for ``et`` or ``litert``,
    and the training record (held-out L1 to the FP32 outputs before = PTQ, and of the kept step)."""
    torch.manual_seed(seed)
    qdq = quantize_pt2e_graph(spec, backend, samples, keep_float, fold=False)
    trainable = fake_quant_view(qdq)
    with torch.no_grad():
        targets = [_outputs(spec.module(*s)) for s in samples]
    # Displacements are in canvas pixels: compare them on the [0, 1] scale of the images.
    scale = float(max(spec.example_inputs[0].shape[-2:])) if is_motion_graph(spec.name) else 1.0

    def loss_of(i: int) -> Tensor:
        outs = _outputs(trainable(*samples[i]))
        return sum(F.l1_loss(o / scale, t / scale) for o, t in zip(outs, targets[i], strict=True))

    def mean_loss(indices: Sequence[int]) -> float:
        with torch.no_grad():
            return sum(float(loss_of(i)) for i in indices) / len(indices)

    params = dict(trainable.named_parameters())
    for p in params.values():
        p.requires_grad_(True)
    start = {k: p.detach().clone() for k, p in params.items()}
    # A quarter of the windows is held out to choose the weights: the steps are kept only while
    # they lower the held-out L1, so QAT returns NNCF's PTQ graph unless it measurably improves on it.
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    held = order[: max(1, len(order) // 4)] if len(order) > 1 else order
    train = order[len(held) :] or order
    first = mean_loss(held)
    best, best_step, best_state = first, 0, start
    opt = torch.optim.Adam(list(params.values()), lr=lr)
    draw = random.Random(seed + 1)
    check_every = max(1, steps // 8)
    for step in range(1, steps + 1):
        batch = [draw.choice(train) for _ in range(min(batch_size, len(train)))]
        loss = sum(loss_of(i) for i in batch) / len(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % check_every == 0 or step == steps:
            now = mean_loss(held)
            if now < best:
                best, best_step = now, step
                best_state = {k: p.detach().clone() for k, p in params.items()}
    log(
        f"qat {backend}/{spec.name}: {steps} steps from NNCF PTQ, held-out L1 vs FP32 {first:.5f} → {best:.5f}"
        f" (kept step {best_step})"
    )
    moved = max((float((best_state[k] - start[k]).abs().max()) for k in params), default=0.0)
    with torch.no_grad():
        for k, p in qdq.named_parameters():
            p.copy_(best_state[k])
    converted = qdq if backend == "litert" else fold_weights(qdq)
    record = {
        "steps": steps,
        "lr": lr,
        "batch": batch_size,
        "init": "NNCF quantize_pt2e (ranges + fast bias correction)",
        "held_out_windows": len(held),
        "l1_vs_fp32_start": round(first, 6),
        "l1_vs_fp32_end": round(best, 6),
        "kept_step": best_step,
    }
    return converted, {**record, "max_weight_change": moved}
