"""What stays in float: the ONE ignored-scope list of every INT8 route.

Coordinate arithmetic — flow scaling, sampling grids, warping and splatting, the cost volume and
its soft-argmax, displacement bookkeeping, normalisation by splatted weights, routing indices —
must stay float: an 8-bit grid of displacements is a fraction of a pixel off everywhere, and
constant buffers (grids, correlation/downsampling kernels) are not weights to quantize.

In every model family this arithmetic is written in the forward code of two places only: the
model itself (its ``motion``/``synthesize``: warping, splatting, routing) and its motion pyramid
(``flow``: cost volume, soft-argmax, flow up/down-scaling, backward warping). Learned layers live in
child modules (convs, PReLU, residual blocks, encoders, decoders); the one learned layer kept float
is the 1×1 embedding of t. So the scope is a list of module
paths whose *own* ops stay float, plus any layers an accuracy budget pushed back to float
(``extra``, matched as path prefixes).

Paths are relative to the model (``""`` is the model's own code, ``"flow"`` the pyramid's,
``"refine.2.out"`` a layer); node-level checks read ``nn_module_stack`` of exported graphs, and the
ONNX route reads the same paths from the exporter's ``namespace`` metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch.fx import Node

#: Module paths (relative to the model) whose own forward code is coordinate arithmetic, and
#: APR's embedding of the output time t (``time``): t is a coordinate too, and calibration
#: statistics (NNCF averages per-sample ranges) would clip the rarer t of ×8/×16 slow motion.
FLOAT_SCOPE: tuple[str, ...] = ("", "flow", "time")

# Exported graphs wrap the model as ``self.model`` (export.graphs.MotionGraph/SynthGraph).
_GRAPH_PREFIX = "model"


def relative_path(path: str) -> str:
    """``"model.refine.0.out.0"`` → ``"refine.0.out.0"``; the wrapper itself → ``""``."""
    if path in ("", _GRAPH_PREFIX):
        return ""
    return path.removeprefix(_GRAPH_PREFIX + ".")


def node_module_path(node: Node) -> str:
    """Innermost module path of an exported-graph node, relative to the model (``""`` for its own code)."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    # torch.export spells paths like "L['self'].model.flow" in some versions.
    path = path.replace("L['self'].", "").replace("L['self']", "")
    return relative_path(path)


def stays_float(path: str, extra: Iterable[str] = ()) -> bool:
    """Whether the ops of module ``path`` stay float: the scope's own code, or inside an ``extra`` layer."""
    if path in FLOAT_SCOPE:
        return True
    return any(path == p or path.startswith(p + ".") for p in extra)


def quantizable_layers(model: torch.nn.Module) -> list[str]:
    """Paths of the learned layers a route may quantize: every conv outside the float scope."""
    return [name for name, sub in model.named_modules() if isinstance(sub, torch.nn.Conv2d) and not stays_float(name)]


def scope_summary(extra: Sequence[str] = ()) -> dict[str, list[str]]:
    """The float scope as recorded in bundle manifests and reports."""
    return {"float_scope": [p or "<model>" for p in FLOAT_SCOPE], "kept_float": list(extra)}


def _annotation_refs(annotation) -> list:
    """Edges/nodes that an annotation's shared specs point at."""
    from torchao.quantization.pt2e.quantizer import SharedQuantizationSpec

    specs = [*annotation.input_qspec_map.values(), annotation.output_qspec]
    return [s.edge_or_node for s in specs if isinstance(s, SharedQuantizationSpec)]


#: ops that only move values (a converter propagates a quantizer's scale straight through them)
PASSTHROUGH_OPS = frozenset(
    {
        "view",
        "reshape",
        "pixel_unshuffle",
        "pixel_shuffle",
        "cat",
        "slice",
        "permute",
        "clone",
        "squeeze",
        "unsqueeze",
        "flatten",
        "contiguous",
        "expand",
        "alias",
        "_to_copy",
        "pad",
        "constant_pad_nd",
    }
)


def _op_base(node: Node) -> str:
    return getattr(node.target, "__name__", str(node.target)).split(".")[0]


def float_fed(model: torch.fx.GraphModule, extra: Iterable[str] = ()) -> set[Node]:
    """Nodes whose values are float-scope values: graph inputs, float-scope nodes, and
    pass-through ops (:data:`PASSTHROUGH_OPS`) fed only by such nodes."""
    extra = tuple(extra)
    fed: set[Node] = set()
    for node in model.graph.nodes:
        if node.op == "placeholder" or (node.op == "call_function" and stays_float(node_module_path(node), extra)):
            fed.add(node)
        elif node.op == "call_function" and _op_base(node) in PASSTHROUGH_OPS:
            inputs = [a for a in node.all_input_nodes if a.op != "get_attr"]
            if inputs and all(a in fed for a in inputs):
                fed.add(node)
    return fed


def strip_float_scope(
    model: torch.fx.GraphModule, extra: Iterable[str] = (), float_boundary: bool = False
) -> list[str]:
    """Remove quantization annotations from every node whose module stays float.

    Annotations that share a quantizer with a stripped node are stripped too (repeated until
    none is left dangling), since they would point at an observer that no longer exists.
    ``float_boundary`` also keeps float every value that comes from float-scope nodes through
    pass-through ops, and the inputs of the learned layers reading them (those layers then read
    float activations), for converters that would otherwise move the boundary quantizer up into
    the float arithmetic. Returns the module paths of the stripped nodes.
    """
    key = "quantization_annotation"
    extra = tuple(extra)
    fed = float_fed(model, extra) if float_boundary else set()
    stripped = []
    for node in model.graph.nodes:
        if key in node.meta and (stays_float(node_module_path(node), extra) or node in fed):
            del node.meta[key]
            stripped.append(node_module_path(node))
        elif key in node.meta and fed:
            qmap = node.meta[key].input_qspec_map
            for src in [s for s in qmap if s in fed]:
                del qmap[src]
    changed = True
    while changed:
        changed = False
        for node in model.graph.nodes:
            ann = node.meta.get(key)
            if ann is None:
                continue
            for ref in _annotation_refs(ann):
                producer = ref[0] if isinstance(ref, tuple) else ref
                consumer = ref[1] if isinstance(ref, tuple) else None
                if key not in producer.meta and (consumer is None or key not in consumer.meta):
                    del node.meta[key]
                    stripped.append(node_module_path(node))
                    changed = True
                    break
    return sorted(set(stripped))


def scalars_to_attrs(model: torch.fx.GraphModule, extra: Iterable[str] = ()) -> torch.fx.GraphModule:
    """Scalar operands of float add/mul outside the float scope → tensor constants.

    PT2E quantizers can only annotate tensor inputs; this is what their own
    ``transform_for_annotation`` does, restricted to floating-point nodes that may be quantized.
    """
    add_mul = (torch.ops.aten.add.Tensor, torch.ops.aten.mul.Tensor)
    for node in list(model.graph.nodes):
        if node.op != "call_function" or node.target not in add_mul:
            continue
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor) or not val.dtype.is_floating_point:
            continue
        if stays_float(node_module_path(node), extra):
            continue
        args = list(node.args)
        for i, a in enumerate(args):
            if isinstance(a, (int, float)):
                name = f"_edgevfi_scalar_{node.name}_{i}"
                model.register_buffer(name, torch.tensor(float(a)))
                with model.graph.inserting_before(node):
                    attr = model.graph.get_attr(name)
                attr.meta["val"] = val.fake_mode.from_tensor(torch.tensor(float(a)), static_shapes=True)
                args[i] = attr
        node.args = tuple(args)
    model.recompile()
    return model


def scoped(quantizer, extra: Sequence[str] = (), float_boundary: bool = False):
    """``quantizer`` (any torchao PT2E quantizer) with the float scope applied after its annotation
    (see :func:`strip_float_scope` for ``float_boundary``)."""
    from torchao.quantization.pt2e.quantizer import Quantizer

    class ScopedQuantizer(Quantizer):
        def __init__(self) -> None:
            super().__init__()
            self.base = quantizer
            self.extra = tuple(extra)
            self.global_config = getattr(quantizer, "global_config", None)

        def transform_for_annotation(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            # Not the base quantizer's own transform: it turns *every* scalar operand of add/mul
            # into a float tensor, which makes integer index arithmetic (splatting) float.
            return scalars_to_attrs(model, self.extra)

        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = self.base.annotate(model)
            strip_float_scope(model, self.extra, float_boundary)
            return model

        def validate(self, model: torch.fx.GraphModule) -> None:
            self.base.validate(model)

    return ScopedQuantizer()
