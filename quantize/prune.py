"""Structured pruning of the synthesis stage with Torch-Pruning (DepGraph), into a plain smaller config.

Why the synthesis stage only: per output frame the tiled Runner calls synthesis once per window
and motion once per pair (at 720p, ~15 synthesis windows: > 90 % of a frame's MACs), and the motion
pyramid's constant cost-volume kernels are sized by its channels. So the residual stream
(``width``: encoder, t-embedding, every refine block, decoder input) and each refine block's inner
width are pruned; the decoder's fixed pixel-shuffle widths, the router and motion are kept.

Importance comes from real data: first-order Taylor (|weight × gradient|, summed over DepGraph's
coupled group) of the reconstruction loss on training triplets. Channel counts stay multiples of 8
(XNNPACK / NPU friendly). A pruned model is always re-expressed as an ordinary config (``width`` and
one ``inner`` per block) and loaded strictly into a freshly built model, so its checkpoint is a normal
safetensors + JSON config checkpoint that every tool loads, exports and quantizes unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgevfi.models import build
from edgevfi.models.base import TwoStageModel
from edgevfi.models.blocks import Upsample2x
from edgevfi.profile import count_macs

#: Top-level modules whose channels may be pruned (others keep every channel).
PRUNE_SCOPE = ("encode", "time", "refine")
ROUND_TO = 8


def _upsample_pruner():
    """Torch-Pruning handler for :class:`Upsample2x`: output channel c is proj channels 4c … 4c+3
    (pixel shuffle), which DepGraph cannot see through on its own."""
    import torch_pruning as tp

    class UpsamplePruner(tp.pruner.function.BasePruningFunc):
        def prune_out_channels(self, layer: Upsample2x, idxs: Sequence[int]) -> Upsample2x:
            drop = [4 * i + k for i in idxs for k in range(4)]
            tp.prune_conv_out_channels(layer.proj, drop)
            return layer

        def prune_in_channels(self, layer: Upsample2x, idxs: Sequence[int]) -> Upsample2x:
            tp.prune_conv_in_channels(layer.proj, list(idxs))
            return layer

        def get_out_channels(self, layer: Upsample2x) -> int:
            return layer.proj.out_channels // 4

        def get_in_channels(self, layer: Upsample2x) -> int:
            return layer.proj.in_channels

    return UpsamplePruner()


def _synth_example(model: TwoStageModel, size: int = 64) -> tuple[Tensor, ...]:
    """Small synthesis inputs with the model's motion channels (DepGraph only traces shapes)."""
    with torch.no_grad():
        m0, _ = model.motion(torch.rand(1, 3, size, size), torch.rand(1, 3, size, size))
    mot = F.interpolate(m0, size=(size, size), mode="bilinear", align_corners=False)
    zero = torch.zeros(1, 2)
    return (torch.rand(1, 3, size, size), torch.rand(1, 3, size, size), mot, mot, zero, zero, torch.full((1,), 0.5))


def _accumulate_gradients(model: TwoStageModel, triplets: Sequence[tuple[Tensor, Tensor, Tensor, float]]) -> None:
    """Gradients of the mean Charbonnier loss over ``triplets`` (the Taylor importance's data)."""
    model.zero_grad(set_to_none=True)
    for img0, img1, gt, t in triplets:
        pred = model(img0, img1, t)
        loss = torch.sqrt((pred - gt) ** 2 + 1e-6).mean() / len(triplets)
        loss.backward()


def _block_ratio_dict(model: TwoStageModel, block_ratios: Sequence[float] | None) -> dict | None:
    """Per-block ratios keyed by the layers that own each block's inner width (not the residual stream)."""
    if block_ratios is None:
        return None
    return {(block.down[0], block.body[0]): r for block, r in zip(model.refine, block_ratios, strict=True)}


def pruned_config(model: TwoStageModel):
    """The config describing ``model``'s (pruned) widths: ``width`` and one ``inner`` per block."""
    width = model.encode.proj[0].out_channels
    inner = tuple(block.down[0].out_channels for block in model.refine)
    return dataclasses.replace(model.config, width=width, inner=inner[0] if len(set(inner)) == 1 else inner)


def prune_synthesis(
    model: TwoStageModel,
    ratio: float,
    triplets: Sequence[tuple[Tensor, Tensor, Tensor, float]],
    *,
    block_ratios: Sequence[float] | None = None,
    round_to: int = ROUND_TO,
) -> TwoStageModel:
    """A copy of ``model`` with ``ratio`` of the synthesis channels removed (Taylor importance).

    ``ratio`` applies to every coupled group (the residual stream and each block's inner width);
    ``block_ratios`` (one per refine block) overrides it for the inner widths of each block, so
    widths differ per block. The result is a fresh model built from :func:`pruned_config` holding
    the surviving weights.
    """
    import torch_pruning as tp

    for r in (ratio, *(block_ratios or ())):
        if not 0.0 <= r < 1.0:
            raise ValueError(f"pruning ratio must be in [0, 1), got {r}")
    if not hasattr(model, "encode") or not hasattr(model, "refine"):
        raise ValueError(f"{type(model).__name__} has no synthesis encoder/refine blocks to prune")
    # Rebuilt rather than deep-copied: a model keeps non-leaf tensors of its last forward for losses.
    work = build(model.config).eval()
    work.load_state_dict(model.state_dict())
    if block_ratios is not None and len(block_ratios) != len(work.refine):
        raise ValueError(f"{len(block_ratios)} block ratios for {len(work.refine)} refine blocks")
    if ratio == 0.0 and not any(block_ratios or ()):
        return work
    if triplets:
        _accumulate_gradients(work, triplets)
    ignored = [
        m
        for name, m in work.named_modules()
        if isinstance(m, nn.Conv2d | nn.Linear | Upsample2x) and not name.startswith(PRUNE_SCOPE)
    ]
    example = _synth_example(work)
    pruner = tp.pruner.MetaPruner(
        work,
        example_inputs=example,
        forward_fn=lambda m, x: m.synthesize(*x),
        importance=tp.importance.GroupTaylorImportance() if triplets else tp.importance.GroupMagnitudeImportance(),
        pruning_ratio=ratio,
        pruning_ratio_dict=_block_ratio_dict(work, block_ratios),
        ignored_layers=ignored,
        round_to=round_to,
        customized_pruners={Upsample2x: _upsample_pruner()},
        root_module_types=[nn.Conv2d, nn.Linear, Upsample2x],
    )
    with warnings.catch_warnings():
        # Motion-stage scalars (soft-argmax temperature, residual β) are outside every pruned group.
        warnings.filterwarnings("ignore", message="Unwrapped parameters")
        pruner.step()
    work.zero_grad(set_to_none=True)
    fresh = build(pruned_config(work)).eval()
    # Strict load: any channel the config cannot describe (or a shape DepGraph got wrong) fails here.
    fresh.load_state_dict(work.state_dict(), strict=True)
    return fresh


def mac_ratio(pruned: TwoStageModel, original: TwoStageModel, frame_hw: tuple[int, int] = (720, 1280)) -> float:
    """Total MACs at ``frame_hw`` (motion + full-frame synthesis) of ``pruned`` over ``original``."""
    return count_macs(pruned, frame_hw)["total"] / count_macs(original, frame_hw)["total"]


def sweep(
    model: TwoStageModel,
    ratios: Sequence[float],
    triplets: Sequence[tuple[Tensor, Tensor, Tensor, float]],
    out_dir: Path,
    val: str | Path | None,
    limit: int | None = None,
    frame_hw: tuple[int, int] = (720, 1280),
    log=print,
) -> list[dict]:
    """Prune at each ratio; save each checkpoint; MACs and val PSNR of each → ``pareto.{json,md,png}``."""
    from edgevfi.checkpoint import save_checkpoint
    from edgevfi.evaluate import evaluate
    from edgevfi.profile import count_params
    from edgevfi.runtime import EagerBackend, Runner

    out_dir.mkdir(parents=True, exist_ok=True)
    base_macs = count_macs(model, frame_hw)["total"]
    rows = []
    for ratio in (0.0, *ratios):
        pruned = prune_synthesis(model, ratio, triplets)
        path = save_checkpoint(
            pruned, out_dir / f"pruned-{round(100 * ratio):02d}.safetensors", extra={"pruned_ratio": ratio}
        )
        macs = count_macs(pruned, frame_hw)["total"]
        row = {
            "ratio": ratio,
            "checkpoint": str(path),
            "width": pruned.config.width,
            "inner": pruned.config.inner,
            "params": count_params(pruned),
            "macs": macs,
            "mac_ratio": macs / base_macs,
        }
        if val is not None:
            row["val_psnr"] = evaluate(Runner(EagerBackend(pruned)), val, path.stem, limit=limit)["mean_psnr"]
        rows.append(row)
        log(
            f"ratio {ratio:.2f}: width {row['width']}, inner {row['inner']}, {row['mac_ratio']:.2f}× MACs"
            + (f", val {row['val_psnr']:.3f} dB" if "val_psnr" in row else "")
        )
    (out_dir / "pareto.json").write_text(json.dumps(rows, indent=2))
    (out_dir / "pareto.md").write_text(pareto_markdown(rows, frame_hw))
    if val is not None:
        _plot(rows, out_dir / "pareto.png")
    return rows


def pareto_markdown(rows: Sequence[dict], frame_hw: tuple[int, int]) -> str:
    base = rows[0].get("val_psnr")
    lines = [
        f"| ratio | width | inner | params | GMAC @{frame_hw[1]}x{frame_hw[0]} | × MACs | val PSNR | drop |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ps = r.get("val_psnr")
        drop = f"{base - ps:+.3f}" if ps is not None and base is not None else "–"
        lines.append(
            f"| {r['ratio']:.2f} | {r['width']} | {r['inner']} | {r['params'] / 1e6:.2f} M | {r['macs'] / 1e9:.2f} | "
            f"{r['mac_ratio']:.2f} | {'–' if ps is None else f'{ps:.3f}'} | {drop} |"
        )
    return "\n".join(lines) + "\n"


def _plot(rows: Sequence[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([r["mac_ratio"] for r in rows], [r["val_psnr"] for r in rows], "o-")
    for r in rows:
        ax.annotate(f"{r['ratio']:.2f}", (r["mac_ratio"], r["val_psnr"]), fontsize=8)
    ax.set(xlabel="MACs relative to the unpruned model", ylabel="val PSNR (dB)", title="pruning: MACs vs quality")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
