"""A model + checkpoint → its static-shape graphs (``../shared/DESIGN.md`` §3).

* ``motion``: both frames resized to one fixed canvas → the two motion tensors.
* ``motion_HxW`` (optional, one per *fine canvas*): the same motion stage on a larger fixed canvas,
  which the Runner runs as a second pass when the pair's motion fits the pyramid's reach there
  (:func:`edgevfi.models.base.static_canvas`, the motion-adaptive canvas for static shapes).
* ``synth``: one fixed-size tile (window incl. halo) of both sources, their motion, the integer
  shifts and ``t`` → the tile at time ``t``.

Which warping implementation a backend gets is data (:data:`WARP_VARIANTS`), with the measured
reason: the scatter reference where the runtime runs scatter-add well, the gather/scatter-free
separable splatting where it does not (or where it lets the whole graph be delegated).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edgevfi import models
from edgevfi.models.base import TwoStageModel, round_up
from edgevfi.ops.warp import SPLAT_IMPLS
from edgevfi.runtime.tiles import DEFAULT_TILE  # re-exported: the bundles' default window

#: backend → (warp implementation of its synth graph, why). ``torch`` is the eager reference.
WARP_VARIANTS: dict[str, tuple[str, str]] = {
    "torch": ("scatter", "eager reference"),
    "onnx": ("scatter", "the dynamo exporter lowers scatter-add exactly and onnxruntime runs it (reference path)"),
    "et": (
        "separable",
        "scatter-add is a single-threaded portable kernel in ExecuTorch; the separable splatting (R=12) is "
        "delegated to XNNPACK, faster at the same val PSNR (benchmarks/warp_variants.py)",
    ),
    "litert": (
        "separable",
        "LiteRT converts scatter-add but fails at run time (deps.md); separable R=12 matches scatter on val, "
        "the 2-D window at R=4 did not (benchmarks/warp_variants.py)",
    ),
    "coreml": ("separable", "Core ML rejects index_add / bitwise and (deps.md); separable as LiteRT"),
}

#: backend → APR routing of a routed model's synth graph, and why ("all"-mode models stay "all").
ROUTE_VARIANTS: dict[str, tuple[str, str]] = {
    "torch": ("topk", "static top-k: fixed shapes, only k patches per block run"),
    "onnx": ("topk", "onnxruntime runs TopK / Gather / ScatterND"),
    "et": ("topk", "ExecuTorch runs topk / index_select / index_copy (portable kernels)"),
    "litert": ("router", "no scatter at run time: every patch runs, gated by the router (same output)"),
    "coreml": ("router", "Core ML rejects index_copy: every patch runs, gated by the router (same output)"),
}

#: the motion canvas of exported bundles: 16:9 with its long side at the models' 512 limit
DEFAULT_CANVAS: tuple[int, int] = (288, 512)


@dataclass(frozen=True)
class GraphSpec:
    """One static graph: a module to export, example inputs, and the I/O names."""

    name: str
    module: nn.Module
    example_inputs: tuple[Tensor, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def io(self) -> dict[str, list[dict]]:
        """Input/output names, shapes and dtypes, as recorded in a bundle manifest."""
        with torch.no_grad():
            outs = self.module(*self.example_inputs)
        outs = outs if isinstance(outs, tuple) else (outs,)

        def describe(names, tensors):
            return [
                {"name": n, "shape": list(x.shape), "dtype": str(x.dtype).removeprefix("torch.")}
                for n, x in zip(names, tensors, strict=True)
            ]

        return {"inputs": describe(self.input_names, self.example_inputs), "outputs": describe(self.output_names, outs)}


class MotionGraph(nn.Module):
    """``motion`` stage with fixed canvas inputs."""

    def __init__(self, model: TwoStageModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.motion(img0, img1)


class SynthGraph(nn.Module):
    """``synthesize`` stage on one fixed-size window."""

    def __init__(self, model: TwoStageModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, src0: Tensor, src1: Tensor, mot0: Tensor, mot1: Tensor, shift0: Tensor, shift1: Tensor, t: Tensor
    ) -> Tensor:
        return self.model.synthesize(src0, src1, mot0, mot1, shift0, shift1, t)


def with_warp(model: TwoStageModel, warp_impl: str, route_mode: str | None = None) -> TwoStageModel:
    """The same weights with another splatting implementation (``scatter``, ``window`` or ``separable``) and, for a
    routed APR model, another routing implementation (``router`` or ``topk``)."""
    changes = {}
    if hasattr(model.config, "warp_impl") and model.config.warp_impl != warp_impl:
        changes["warp_impl"] = warp_impl
    if route_mode and getattr(model.config, "route_mode", "all") not in ("all", route_mode):
        changes["route_mode"] = route_mode
    if not changes:
        return model
    return models.with_config(model, **changes)


def variant_for(model: TwoStageModel, backend: str, warp: str | None = None) -> TwoStageModel:
    """``model`` as ``backend`` runs it: its warp and routing variants (see the two tables)."""
    return with_warp(model, warp or WARP_VARIANTS[backend][0], ROUTE_VARIANTS[backend][0])


def _only_children_used(model: nn.Module, run) -> nn.Module:
    """A copy of ``model`` keeping only the child modules that ``run`` calls (at any depth).

    ExecuTorch refuses unused lifted constants (e.g. the motion stage's cost-volume offsets in the
    synth graph), and dropping what a graph never calls also keeps artifacts small. Non-persistent
    buffers become persistent in the copy: ExecuTorch cannot lift them (``Missing input spec``).
    """
    owner = {}
    for name, child in model.named_children():
        for sub in child.modules():
            owner[id(sub)] = name
    used: set[str] = set()
    hooks = [
        sub.register_forward_pre_hook(lambda m, _a: used.add(owner[id(m)]))
        for sub in model.modules()
        if id(sub) in owner
    ]
    try:
        with torch.no_grad():
            run(model)
    finally:
        for h in hooks:
            h.remove()
    slim = copy.copy(model)
    slim._modules = {k: copy.deepcopy(v) for k, v in model._modules.items() if k in used}
    for sub in slim.modules():
        sub._non_persistent_buffers_set = set()
    return slim


def example_synth_inputs(
    model: TwoStageModel, tile: int, batch: int = 1, seed: int = 0, motion_px: float = 3.0
) -> tuple[Tensor, ...]:
    """Seeded synth inputs: images in [0, 1], smooth motion of a few pixels, integer shifts, t."""
    g = torch.Generator().manual_seed(seed)
    channels = _motion_channels(model)
    src0 = torch.rand(batch, 3, tile, tile, generator=g)
    src1 = torch.rand(batch, 3, tile, tile, generator=g)
    coarse = torch.randn(batch, 2 * channels, max(1, tile // 32), max(1, tile // 32), generator=g) * motion_px
    mot = nn.functional.interpolate(coarse, size=(tile, tile), mode="bilinear", align_corners=False)
    shift0 = torch.randint(-4, 5, (batch, 2), generator=g).float()
    shift1 = torch.randint(-4, 5, (batch, 2), generator=g).float()
    t = torch.rand(batch, generator=g) * 0.8 + 0.1
    return src0, src1, mot[:, :channels], mot[:, channels:], shift0, shift1, t


def example_motion_inputs(canvas: tuple[int, int], seed: int = 0) -> tuple[Tensor, Tensor]:
    """Seeded motion inputs: a smooth random texture and a shifted copy of it (real motion)."""
    g = torch.Generator().manual_seed(seed)
    H, W = canvas
    base = torch.rand(1, 3, H // 8 + 2, W // 8 + 2, generator=g)
    big = nn.functional.interpolate(base, size=(H + 16, W + 16), mode="bicubic", align_corners=False).clamp(0, 1)
    fine = torch.rand(1, 3, H + 16, W + 16, generator=g) * 0.2
    tex = (0.8 * big + fine).clamp(0, 1)
    return tex[..., 8 : 8 + H, 8 : 8 + W].contiguous(), tex[..., 5 : 5 + H, 11 : 11 + W].contiguous()


def motion_graph_name(canvas: tuple[int, int], base: tuple[int, int]) -> str:
    """The graph that runs motion on ``canvas``: ``motion`` on the bundle's canvas ``base``, else
    ``motion_<H>x<W>`` (a fine canvas)."""
    return "motion" if tuple(canvas) == tuple(base) else f"motion_{canvas[0]}x{canvas[1]}"


def is_motion_graph(name: str) -> bool:
    return name == "motion" or name.startswith("motion_")


def fine_canvases_for(model: TwoStageModel, canvas: tuple[int, int] = DEFAULT_CANVAS) -> tuple[tuple[int, int], ...]:
    """The fine canvases a bundle of ``model`` gets by default: the canvas's aspect at 768, 960 and
    1280 px (the last two: 540p and ≥ 720p 16:9 video at full resolution), those within the model's
    ``fine_canvas_side`` and above ``canvas``; none for a model without the motion-adaptive canvas."""
    c = model.config
    side = int(getattr(c, "fine_canvas_side", 0))
    if side <= max(canvas) or model.motion_reach <= 0:
        return ()
    H, W = canvas
    out = []
    for long_side in (768, 960, 1280):
        if max(canvas) < long_side <= side:
            scale = long_side / max(H, W)
            out.append((round_up(round(H * scale), c.canvas_multiple), round_up(round(W * scale), c.canvas_multiple)))
    return tuple(out)


def resolve_fine_canvases(
    model: TwoStageModel, canvas: tuple[int, int], fine_canvases: tuple[tuple[int, int], ...] | None
) -> tuple[tuple[int, int], ...]:
    """``fine_canvases`` (``None``: :func:`fine_canvases_for`) as a tuple of (H, W), each a multiple
    of the model's canvas multiple and larger than ``canvas``; ``ValueError`` otherwise."""
    if fine_canvases is None:
        return fine_canvases_for(model, canvas)
    m = model.config.canvas_multiple
    out: list[tuple[int, int]] = []
    for fc in fine_canvases:
        fc = (int(fc[0]), int(fc[1]))
        if fc[0] % m or fc[1] % m or fc[0] < canvas[0] or fc[1] < canvas[1] or fc == tuple(canvas):
            raise ValueError(
                f"fine canvas {fc[0]}x{fc[1]}: its sides must be multiples of {m}, at least those of the "
                f"canvas {canvas[0]}x{canvas[1]}, and not both equal"
            )
        if fc in out:
            raise ValueError(f"fine canvas {fc[0]}x{fc[1]} given twice")
        if model.motion_reach <= 0:
            raise ValueError(f"{model.config.family}: no motion stage, so no fine canvas")
        out.append(fc)
    return tuple(out)


def _motion_channels(model: TwoStageModel) -> int:
    with torch.no_grad():
        m0, _ = model.motion(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))
    return m0.shape[1]


def build_graphs(
    model: TwoStageModel,
    backend: str,
    canvas: tuple[int, int] = DEFAULT_CANVAS,
    tile: int = DEFAULT_TILE,
    batch: int = 1,
    warp: str | None = None,
    fine_canvases: tuple[tuple[int, int], ...] = (),
) -> dict[str, GraphSpec]:
    """The static graphs of ``model`` for ``backend``: its warp variant from :data:`WARP_VARIANTS`
    unless ``warp`` overrides it, and one more motion graph per fine canvas."""
    if backend not in WARP_VARIANTS:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(WARP_VARIANTS)})")
    c = model.config
    if tile % c.align or canvas[0] % c.canvas_multiple or canvas[1] % c.canvas_multiple:
        raise ValueError(
            f"tile {tile} must be a multiple of {c.align} and canvas {canvas} of {c.canvas_multiple} for {c.family}"
        )
    warp = warp or WARP_VARIANTS[backend][0]
    if warp not in SPLAT_IMPLS:
        raise ValueError(f"unknown warp implementation {warp!r} ({', '.join(SPLAT_IMPLS)})")
    fine_canvases = resolve_fine_canvases(model, canvas, fine_canvases)
    variant = with_warp(model.eval(), warp, ROUTE_VARIANTS[backend][0])
    specs = {}
    for c in (canvas, *fine_canvases):
        name = motion_graph_name(c, canvas)
        inputs = example_motion_inputs(c)
        module = MotionGraph(_only_children_used(variant, lambda m, inputs=inputs: m.motion(*inputs))).eval()
        specs[name] = GraphSpec(name, module, inputs, ("img0", "img1"), ("m0", "m1"))
    synth_inputs = example_synth_inputs(variant, tile, batch)
    synth = SynthGraph(_only_children_used(variant, lambda m: m.synthesize(*synth_inputs))).eval()
    return {
        **specs,
        "synth": GraphSpec(
            "synth",
            synth,
            synth_inputs,
            ("src0", "src1", "mot0", "mot1", "shift0", "shift1", "t"),
            ("out",),
        ),
    }


class AssessGraph(nn.Module):
    """``assess`` stage of a routed bundle: both frames at the assess canvas → three patch maps."""

    def __init__(self, assessor: nn.Module) -> None:
        super().__init__()
        self.assessor = assessor

    def forward(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.assessor(img0, img1)


def build_assess_graph(assessor: nn.Module, canvas: tuple[int, int]) -> GraphSpec:
    """The difficulty assessor as a static graph at the assess ``canvas`` (H, W)."""
    if getattr(assessor.config, "align", "warp") == "deform":
        raise ValueError("the deformable-convolution assessor is an eager reference; export align='warp'")
    inputs = example_motion_inputs(canvas)
    return GraphSpec(
        "assess", AssessGraph(assessor.eval()).eval(), inputs, ("img0", "img1"), ("difficulty", "benefit", "attention")
    )
