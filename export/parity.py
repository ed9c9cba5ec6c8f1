"""Parity of a bundle's backends against the FP32 PyTorch reference (``edgevfi check``).

Two levels, for every runnable backend of a bundle:

* **graphs**: each static graph on a fixed, seeded input set vs the eager graph of the same
  variant: max-abs difference, gate ``≤ 1e-4``. Image outputs are in [0, 1]; motion outputs are
  displacements in canvas pixels, so their gate applies to the displacement divided by the canvas
  size (the same [0, 1] coordinate scale) — the raw pixel figure is reported beside it;
* **end to end**: frames through the same tiled Runner (same canvas, tile, overlap) with the bundle
  and with eager PyTorch: PSNR of the backend vs the reference (gate ``≥ 50 dB``) and PSNR vs ground
  truth of both (gate ``|Δ| ≤ 0.01 dB``), on real triplets (``--data``) and on generated frames
  of odd sizes with a known middle frame.

The reference is eager PyTorch on this machine's CPU unless a reference file made with
``--make-reference`` (e.g. on CUDA) is given; the report names the device it came from.
Core ML artifacts are converted and spec-validated only (Linux cannot run them); the report says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from edgevfi import models
from edgevfi.checkpoint import load_checkpoint
from edgevfi.data.triplets import TripletFolder
from edgevfi.metrics import psnr, quantize_8bit
from edgevfi.models.base import TwoStageModel
from edgevfi.runtime import Runner
from edgevfi.runtime.backend import EagerBackend
from export import backends
from export.bundle import (
    Bundle,
    BundleBackend,
    BundleError,
    canvas_upscale_of,
    fine_canvases_of,
    load_bundle,
    motion_canvases,
    sha256_file,
    tool_versions,
)
from export.graphs import build_graphs, example_motion_inputs, example_synth_inputs, is_motion_graph, variant_for

GRAPH_TOL = 1e-4
E2E_MIN_PSNR = 50.0
GT_DELTA = 0.01
SEEDS = (0, 1, 2)
#: generated frame sizes (H, W): odd, non-aligned, one smaller than a tile, one spanning many
GENERATED_SIZES = ((97, 131), (181, 263), (333, 517))


def source_model(bundle: Bundle, checkpoint: str | Path | None = None) -> TwoStageModel:
    """The FP32 model the bundle was exported from, found by the manifest's sha256.

    Tries ``checkpoint``, the manifest's recorded path, then the shipped weights of the model name.
    """
    src = bundle.manifest["source"]
    want = src.get("sha256")
    name = bundle.manifest["model"]["name"]
    candidates = [Path(p) for p in (checkpoint, src.get("checkpoint")) if p]
    shipped = models.shipped_weights(name) if name in models.list_models() else None
    if shipped:
        candidates.append(shipped)
    for path in candidates:
        if path.is_file() and (want is None or sha256_file(path) == want):
            return with_bundle_settings(load_checkpoint(path).eval(), bundle)
    short = f"sha256 {want[:12]}…" if want else "no sha256 recorded"
    if checkpoint is not None:
        raise BundleError(f"{checkpoint}: sha256 differs from the bundle's source checkpoint ({short})")
    raise BundleError(f"cannot find the bundle's source checkpoint ({short}); pass --checkpoint")


#: Config fields that change a bundle's output without changing its tensors: a bundle may be exported with
#: another setting than its checkpoint holds (``edgevfi export --motion-consensus off``, ``--halo 16``: the
#: motion graphs' values, the tile plan).
GRAPH_SETTINGS = ("motion_consensus", "halo")


def with_bundle_settings(model: TwoStageModel, bundle: Bundle) -> TwoStageModel:
    """``model`` under the settings of :data:`GRAPH_SETTINGS` the bundle's manifest records, when they differ."""
    recorded = bundle.manifest["model"].get("config", {})
    changes = {
        k: recorded[k] for k in GRAPH_SETTINGS if k in recorded and recorded[k] != getattr(model.config, k, recorded[k])
    }
    return models.with_config(model, **changes) if changes else model


def generated_triplets(seed: int = 0) -> list[dict[str, Any]]:
    """Frames of odd sizes cut from a smooth random texture moving by an even number of pixels,
    so the true middle frame is the texture moved by exactly half."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k, (H, W) in enumerate(GENERATED_SIZES):
        dy, dx = 2 * int(torch.randint(-6, 7, (1,), generator=g)), 2 * int(torch.randint(-8, 9, (1,), generator=g))
        m = 20
        coarse = torch.rand(1, 3, (H + 2 * m) // 12 + 2, (W + 2 * m) // 12 + 2, generator=g)
        tex = torch.nn.functional.interpolate(coarse, size=(H + 2 * m, W + 2 * m), mode="bicubic").clamp(0, 1)
        tex = (0.85 * tex + 0.15 * torch.rand(1, 3, H + 2 * m, W + 2 * m, generator=g)).clamp(0, 1)

        frames = [
            tex[0, :, m + oy : m + oy + H, m + ox : m + ox + W].contiguous()
            for oy, ox in ((0, 0), (dy, dx), (dy // 2, dx // 2))
        ]
        out.append({"path": f"generated/{k}_{W}x{H}", "img0": frames[0], "img1": frames[1], "gt": frames[2]})
    return out


def _graph_inputs(model: TwoStageModel, bundle: Bundle, graph: str) -> list[tuple[Tensor, ...]]:
    m = bundle.manifest
    if is_motion_graph(graph):
        return [example_motion_inputs(motion_canvases(m)[graph], seed) for seed in SEEDS]
    return [example_synth_inputs(model, int(m["tile"]), 1, seed) for seed in SEEDS]


def reference_outputs(model: TwoStageModel, bundle: Bundle, backend: str, device: str = "cpu") -> dict[str, list]:
    """Eager outputs of each graph (variant of ``backend``) on the seeded inputs."""
    m = bundle.manifest
    warp = m["backends"][backend]["warp_impl"]
    specs = build_graphs(
        model, backend, canvas=tuple(m["canvas"]), tile=int(m["tile"]), warp=warp, fine_canvases=fine_canvases_of(m)
    )
    out: dict[str, list] = {}
    for name, spec in specs.items():
        mod = spec.module.to(device)
        rows = []
        for inputs in _graph_inputs(model, bundle, name):
            with torch.no_grad():
                o = mod(*[x.to(device) for x in inputs])
            rows.append([x.cpu() for x in (o if isinstance(o, tuple) else (o,))])
        mod.cpu()
        out[name] = rows
    return out


def _motion_scale(bundle: Bundle, graph: str, channels: int, out: Tensor) -> Tensor:
    """Per-channel divisor: canvas width/height for displacement pairs, 1 for the other channels."""
    H, W = motion_canvases(bundle.manifest)[graph]
    scale = torch.ones(out.shape[1])
    scale[:channels:2] = W
    scale[1:channels:2] = H
    return scale.view(1, -1, 1, 1)


def graph_parity(bundle: Bundle, runtime: BundleBackend, model: TwoStageModel, reference: dict) -> dict:
    """Max-abs difference of each graph of ``runtime`` vs ``reference`` on the seeded inputs."""
    channels = int(bundle.manifest["displacement_channels"])
    result = {}
    for graph, ref_rows in reference.items():
        run = runtime.graphs[graph]
        worst, worst_px = 0.0, 0.0
        for inputs, ref in zip(_graph_inputs(model, bundle, graph), ref_rows, strict=True):
            outs = run(list(inputs))
            for o, r in zip(outs, ref, strict=True):
                diff = (o.float() - r.float()).abs()
                if is_motion_graph(graph):
                    worst_px = max(worst_px, float(diff.max()))
                    diff = diff / _motion_scale(bundle, graph, channels, diff)
                worst = max(worst, float(diff.max()))
        row = {"max_abs": worst, "tol": GRAPH_TOL, "pass": worst <= GRAPH_TOL}
        if is_motion_graph(graph):
            row["max_abs_canvas_px"] = worst_px
            row["units"] = "displacement / canvas size"
        result[graph] = row
    return result


def _eager_runner(model: TwoStageModel, bundle: Bundle, backend: str, device: str = "cpu") -> Runner:
    m = bundle.manifest
    warp = m["backends"][backend]["warp_impl"]
    eager = EagerBackend(
        variant_for(model, backend, warp),
        device=device,
        max_batch=1,
        canvas_hw=tuple(m["canvas"]),
        tile=int(m["tile"]),
        fine_canvases=fine_canvases_of(m),
        canvas_upscale=canvas_upscale_of(m),
    )
    return Runner(eager, overlap=int(m["overlap"]))


def end_to_end(runtime: BundleBackend, items: list[dict[str, Any]], reference: dict[str, Tensor]) -> list[dict]:
    """PSNR of the bundle's frames vs the reference frames and, for both, vs ground truth."""
    runner = Runner(runtime, overlap=runtime.overlap)
    rows = []
    for item in items:
        t0 = time.perf_counter()
        (out,) = runner.interpolate(item["img0"], item["img1"], [0.5])
        seconds = time.perf_counter() - t0
        ref = reference[item["path"]]
        gt = item["gt"]
        p_backend = psnr(quantize_8bit(out[0]), gt)
        p_eager = psnr(quantize_8bit(ref), gt)
        vs_ref = psnr(out[0].clamp(0, 1), ref.clamp(0, 1))
        rows.append(
            {
                "path": item["path"],
                "size": [int(gt.shape[-1]), int(gt.shape[-2])],
                "psnr_vs_reference": round(min(vs_ref, 999.0), 3),
                "psnr_gt": round(p_backend, 4),
                "psnr_gt_reference": round(p_eager, 4),
                "delta_gt": round(p_backend - p_eager, 4),
                "seconds": round(seconds, 3),
            }
        )
    return rows


def collect_items(data: str | Path | None, limit: int | None = None) -> list[dict[str, Any]]:
    items = generated_triplets()
    if data:
        for it in TripletFolder(Path(data), limit):
            it = dict(it)
            it["path"] = str(Path(it["path"]).relative_to(Path(data))) if Path(it["path"]) != Path(data) else "."
            items.append(it)
    return items


def eager_frames(runner: Runner, items: list[dict[str, Any]]) -> dict[str, Tensor]:
    out = {}
    for item in items:
        (frame,) = runner.interpolate(item["img0"], item["img1"], [0.5])
        out[item["path"]] = frame[0].cpu()
    return out


# ------------------------------------------------------------------ reference files (--make-reference)


@contextlib.contextmanager
def strict_fp32() -> Iterator[None]:
    """Turn off TF32 for cuDNN convolutions and CUDA matmuls inside the block (restored after)."""
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul


def make_reference(
    bundle: Bundle,
    model: TwoStageModel,
    path: str | Path,
    device: str = "cpu",
    data: str | Path | None = None,
    limit: int | None = None,
) -> dict:
    """Write the FP32 reference of ``model`` (graph outputs per warp variant + frames) to ``path``.

    On CUDA the reference is computed in strict FP32: PyTorch lets cuDNN run convolutions in TF32 by
    default (10-bit mantissa). A first H200 reference made with that default sat 1.0e-4 from the
    exported synthesis graph, at the gate, where CPU eager and the exported graphs agree within 2e-7.
    """
    arrays: dict[str, np.ndarray] = {}
    variants = {}
    with strict_fp32():
        for backend, entry in bundle.manifest["backends"].items():
            warp = entry["warp_impl"]
            if warp in variants:
                continue
            variants[warp] = backend
            for graph, rows in reference_outputs(model, bundle, backend, device).items():
                for i, outs in enumerate(rows):
                    for j, o in enumerate(outs):
                        arrays[f"graph/{warp}/{graph}/{i}/{j}"] = o.numpy()
            frames = eager_frames(_eager_runner(model, bundle, backend, device), collect_items(data, limit))
            for name, frame in frames.items():
                arrays[f"frame/{warp}/{name}"] = frame.numpy()
    meta = {
        "device": device,
        "tf32": False,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "cpu",
        "model_sha256": bundle.manifest["source"]["sha256"],
        "canvas": bundle.manifest["canvas"],
        "fine_canvases": bundle.manifest.get("fine_canvases", []),
        "tile": bundle.manifest["tile"],
        "seeds": list(SEEDS),
        "data": str(data) if data else None,
        "tools": tool_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sha256": {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in arrays.items()},
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return meta


def read_reference(path: str | Path, bundle: Bundle) -> tuple[dict, dict[str, np.ndarray]]:
    """Load a reference file, verify every array's hash and that it belongs to this bundle's model."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no such reference file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as e:
        raise BundleError(f"{path}: unreadable reference file ({e})") from None
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    for k, v in arrays.items():
        if hashlib.sha256(v.tobytes()).hexdigest() != meta["sha256"].get(k):
            raise BundleError(f"{path}: array {k} does not match its recorded sha256")
    if meta["model_sha256"] != bundle.manifest["source"]["sha256"]:
        raise BundleError(f"{path}: reference was made from another checkpoint than this bundle's")
    if any(meta.get(k, []) != bundle.manifest.get(k, []) for k in ("canvas", "tile", "fine_canvases")):
        raise BundleError(f"{path}: reference was made for other static shapes than this bundle's")
    return meta, arrays


# ------------------------------------------------------------------ the check


def check(
    bundle_path: str | Path,
    *,
    backend_names: list[str] | None = None,
    data: str | Path | None = None,
    limit: int | None = None,
    reference: str | Path | None = None,
    checkpoint: str | Path | None = None,
    threads: int = 0,
    log=print,
) -> dict:
    """Parity report of every (requested) backend in a bundle; see the module docstring."""
    # Each load verifies hashes: of the requested backends' files, or of every file.
    for name in backend_names or [None]:
        bundle = load_bundle(bundle_path, name)
    if bundle.manifest["precision"] == "int8":
        raise BundleError(
            f"{bundle_path}: an INT8 bundle is not meant to match FP32 to 1e-4; gate its accuracy drop with "
            "`edgevfi validate` (--max-drop)"
        )
    names = backend_names or bundle.backends
    model = source_model(bundle, checkpoint)
    items = collect_items(data, limit)
    ref_meta, ref_arrays = read_reference(reference, bundle) if reference else (None, None)
    report: dict[str, Any] = {
        "bundle": str(bundle_path),
        "model": bundle.manifest["model"]["name"],
        "canvas": bundle.manifest["canvas"],
        "tile": bundle.manifest["tile"],
        "reference": (
            {"device": ref_meta["device"], "device_name": ref_meta["device_name"], "file": str(reference)}
            if ref_meta
            else {"device": "cpu", "note": "eager PyTorch FP32 on this CPU (no reference file given)"}
        ),
        "gates": {"graph_max_abs": GRAPH_TOL, "e2e_min_psnr": E2E_MIN_PSNR, "gt_delta_db": GT_DELTA},
        "data": str(data) if data else None,
        "tools": tool_versions(),
        "backends": {},
    }
    for name in names:
        entry = bundle.manifest["backends"][name]
        mod = backends.get(name)
        row: dict[str, Any] = {"warp_impl": entry["warp_impl"], "coverage": {}}
        for graph, g in entry["graphs"].items():
            cov = g["coverage"]
            row["coverage"][graph] = {k: cov.get(k) for k in ("total", "delegated", "fallback", "runtime")}
        if not mod.RUNNABLE:
            row["executed"] = False
            row["validation"] = {graph: g["coverage"].get("validation") for graph, g in entry["graphs"].items()}
            row["pass"] = all(v is not None for v in row["validation"].values())
            row["note"] = "converted and spec-validated only; Core ML cannot run on Linux"
            report["backends"][name] = row
            log(f"{name}: spec-validated (not executed on Linux)")
            continue
        warp = entry["warp_impl"]
        if ref_arrays is not None:
            graph_ref = _graph_reference_from_file(ref_arrays, warp, list(entry["graphs"]))
            prefix = f"frame/{warp}/"
            frames = {k[len(prefix) :]: torch.from_numpy(v) for k, v in ref_arrays.items() if k.startswith(prefix)}
            missing = [it["path"] for it in items if it["path"] not in frames]
            if missing:
                raise BundleError(f"{reference}: has no reference frame for {missing[0]} (made with other --data?)")
        else:
            graph_ref = reference_outputs(model, bundle, name)
            frames = eager_frames(_eager_runner(model, bundle, name), items)
        row["executed"] = True
        runtime = BundleBackend(bundle, name, threads)
        row["graphs"] = graph_parity(bundle, runtime, model, graph_ref)
        row["e2e"] = end_to_end(runtime, items, frames)
        e2e = row["e2e"]
        row["summary"] = {
            "min_psnr_vs_reference": min(r["psnr_vs_reference"] for r in e2e),
            "max_abs_delta_gt": max(abs(r["delta_gt"]) for r in e2e),
            "mean_psnr_gt": round(sum(r["psnr_gt"] for r in e2e) / len(e2e), 4),
            "mean_psnr_gt_reference": round(sum(r["psnr_gt_reference"] for r in e2e) / len(e2e), 4),
        }
        row["pass"] = (
            all(g["pass"] for g in row["graphs"].values())
            and row["summary"]["min_psnr_vs_reference"] >= E2E_MIN_PSNR
            and row["summary"]["max_abs_delta_gt"] <= GT_DELTA
        )
        log(
            f"{name}: graphs "
            + ", ".join(f"{g} {v['max_abs']:.2e}" for g, v in row["graphs"].items())
            + f"; e2e min {row['summary']['min_psnr_vs_reference']:.1f} dB vs reference, "
            f"max |Δ gt| {row['summary']['max_abs_delta_gt']:.4f} dB → {'pass' if row['pass'] else 'FAIL'}"
        )
        report["backends"][name] = row
    report["pass"] = all(r["pass"] for r in report["backends"].values())
    return report


def _graph_reference_from_file(arrays: dict[str, np.ndarray], warp: str, graphs: list[str]) -> dict[str, list]:
    out: dict[str, list] = {}
    for graph in graphs:
        rows = []
        i = 0
        while f"graph/{warp}/{graph}/{i}/0" in arrays:
            j, outs = 0, []
            while f"graph/{warp}/{graph}/{i}/{j}" in arrays:
                outs.append(torch.from_numpy(arrays[f"graph/{warp}/{graph}/{i}/{j}"]))
                j += 1
            rows.append(outs)
            i += 1
        out[graph] = rows
    return out


def markdown(report: dict) -> str:
    """The parity report as Markdown tables."""
    ref = report["reference"]
    lines = [
        f"# Parity: {report['model']} bundle `{report['bundle']}`",
        "",
        f"Reference: {ref.get('note') or ref['device'] + ' (' + ref.get('device_name', '') + ')'}. "
        f"Canvas {report['canvas'][1]}×{report['canvas'][0]}, tile {report['tile']}. "
        f"Gates: graph max-abs ≤ {GRAPH_TOL:g}, end-to-end ≥ {E2E_MIN_PSNR:g} dB vs reference, "
        f"|Δ PSNR vs GT| ≤ {GT_DELTA} dB.",
        "",
        "| backend | warp | motion max-abs | synth max-abs | min e2e PSNR vs ref (dB) | max abs Δ GT (dB) "
        "| PSNR GT backend / ref (dB) | pass |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in report["backends"].items():
        if not r.get("executed"):
            lines.append(f"| {name} | {r['warp_impl']} | – | – | – | – | – | spec-validated, not executed (Linux) |")
            continue
        s = r["summary"]
        motion = [g for n, g in r["graphs"].items() if is_motion_graph(n)]
        lines.append(
            f"| {name} | {r['warp_impl']} | {max(g['max_abs'] for g in motion):.1e} "
            f"({max(g['max_abs_canvas_px'] for g in motion):.1e} px) | {r['graphs']['synth']['max_abs']:.1e} "
            f"| {s['min_psnr_vs_reference']:.1f} | {s['max_abs_delta_gt']:.4f} "
            f"| {s['mean_psnr_gt']:.3f} / {s['mean_psnr_gt_reference']:.3f} | {'yes' if r['pass'] else '**no**'} |"
        )
    lines += ["", "## Op coverage", "", "| backend | graph | ops | delegated | left outside the delegate |"]
    lines += ["| --- | --- | ---: | ---: | --- |"]
    for name, r in report["backends"].items():
        for graph, c in r["coverage"].items():
            fb = ", ".join(f"{k} ×{v}" for k, v in (c.get("fallback") or {}).items()) or "none"
            deleg = "n/a (not executed)" if c.get("delegated") is None else str(c["delegated"])
            lines.append(f"| {name} | {graph} | {c.get('total')} | {deleg} | {fb} |")
    lines += ["", f"Overall: {'PASS' if report['pass'] else 'FAIL'}", ""]
    return "\n".join(lines)
