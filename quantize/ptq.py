"""INT8 post-training quantization of the static graphs, one route per backend, all through NNCF.

* ``et``: NNCF ``quantize_pt2e`` with ExecuTorch's ``XNNPACKQuantizer`` on the ``torch.export``
  graph (per-channel symmetric weights, per-tensor activations) → the XNNPACK partitioner.
* ``litert``: NNCF ``quantize_pt2e`` with litert-torch's ``PT2EQuantizer``, Q/DQ left unfolded
  (``fold_quantize=False``), which ``litert_torch.convert`` turns into a static INT8 model.
* ``onnx``: NNCF on the exported ONNX graph (QDQ), run by onnxruntime.

Every route keeps :data:`quantize.scope.FLOAT_SCOPE` (and any layers an accuracy budget adds) in
float. Calibration inputs are the graphs' real inputs (:mod:`quantize.calibration`).
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from export.graphs import GraphSpec
from quantize.scope import scoped

#: backend → how its INT8 graphs are made (recorded in bundle manifests)
ROUTES: dict[str, str] = {
    "et": "NNCF quantize_pt2e + ExecuTorch XNNPACKQuantizer (per-channel weights) → XNNPACK .pte",
    "litert": "NNCF quantize_pt2e + litert-torch PT2EQuantizer (per-channel weights), Q/DQ unfolded → INT8 .tflite",
    "onnx": "NNCF post-training quantization of the ONNX graph (QDQ, per-channel weights) → onnxruntime",
    "coreml": "NNCF quantize_pt2e + XNNPACKQuantizer's symmetric config (per-channel weights, per-tensor"
    " activations), Q/DQ folded → coremltools → INT8 quantize/dequantize + constexpr weights (iOS17 .mlpackage;"
    " converted and spec-validated, not executed on Linux)",
}


def nncf_module():
    """Import NNCF with its extension build disabled (it stalls compiling on CPU-only machines)."""
    os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(tempfile.gettempdir(), "edgevfi-torch-extensions"))
    import nncf

    return nncf


def pt2e_quantizer(backend: str, qat: bool = False):
    """The backend's own PT2E quantizer with symmetric per-channel INT8 weights."""
    if backend in ("et", "coreml"):
        # Core ML's quantize/dequantize ops take exactly this scheme (int8 weights per channel,
        # activations per tensor with a zero point), and coremltools converts the folded Q/DQ graph.
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=qat))
    if backend == "litert":
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

        return PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=qat))
    raise ValueError(f"no PT2E INT8 route for backend {backend!r} (et, litert, coreml)")


def export_graph(spec: GraphSpec) -> torch.fx.GraphModule:
    """The graph as ``torch.export`` sees it (the module PT2E quantizers annotate), on a copy of the
    weights: the exported module shares parameter storage with ``spec.module``, so training or
    bias-correcting it in place would silently change the FP32 model it came from."""
    module = copy.deepcopy(spec.module).eval()
    return torch.export.export(module, spec.example_inputs, strict=False).module()


def quantize_pt2e_graph(
    spec: GraphSpec,
    backend: str,
    samples: Sequence[tuple[Tensor, ...]],
    keep_float: Sequence[str] = (),
    fast_bias_correction: bool | None = True,
    fold: bool | None = None,
) -> torch.fx.GraphModule:
    """Calibrated INT8 graph module (Q/DQ form) of ``spec`` for ``backend`` (``et`` or ``litert``).

    ``fold`` (default: the backend's choice) stores weights already quantized; QAT asks for
    unfolded weights so that it can train them and fold them itself."""
    nncf = nncf_module()
    from nncf.experimental.torch.fx import quantize_pt2e

    # LiteRT's converter moves a boundary quantizer up into the float arithmetic before it (it
    # then ran splatting's normalising division in int8 and failed on a zero divisor): its
    # learned layers fed by float-scope ops read float activations instead.
    quantizer = scoped(pt2e_quantizer(backend), keep_float, float_boundary=backend == "litert")
    dataset = nncf.Dataset(list(samples), lambda item: tuple(item))
    with torch.no_grad():
        return quantize_pt2e(
            export_graph(spec),
            quantizer,
            dataset,
            subset_size=len(samples),
            fast_bias_correction=fast_bias_correction,
            fold_quantize=(backend != "litert") if fold is None else fold,
        )


def quantized_spec(spec: GraphSpec, module: torch.nn.Module) -> GraphSpec:
    """``spec`` with its module replaced by the quantized one."""
    return GraphSpec(spec.name, module, spec.example_inputs, spec.input_names, spec.output_names)


def quantize_onnx_file(
    src: Path,
    dst: Path,
    spec: GraphSpec,
    samples: Sequence[tuple[Tensor, ...]],
    ignored_nodes: Sequence[str],
    fast_bias_correction: bool = True,
) -> None:
    """NNCF PTQ of an FP32 ONNX file; ``ignored_nodes`` (ONNX node names) stay float."""
    import onnx

    nncf = nncf_module()
    model = onnx.load(str(src))
    names = [i.name for i in model.graph.input]

    def feed(item):
        return {n: x.detach().contiguous().float().numpy() for n, x in zip(names, item, strict=True)}

    quantized = nncf.quantize(
        model,
        nncf.Dataset(list(samples), feed),
        subset_size=len(samples),
        fast_bias_correction=fast_bias_correction,
        ignored_scope=nncf.IgnoredScope(names=list(ignored_nodes), validate=False),
    )
    onnx.save(quantized, str(dst))
