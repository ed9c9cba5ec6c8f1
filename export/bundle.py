"""Bundles (``../shared/DESIGN.md`` §5): a folder with ``manifest.json`` and one artifact per graph per backend.

The manifest records the model and its config, the static shapes (canvas, tile, halo), each
backend's graphs with their I/O names/shapes/dtypes, op coverage and MACs, the precision, the
source checkpoint's sha256, tool versions, and the sha256 of every file. Loading verifies the hashes,
so a tampered or truncated artifact is refused with a one-line :class:`BundleError`.

A bundle is written into a temp folder beside its target and renamed only when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from edgevfi.io import sha256_file
from edgevfi.models.base import SplattingConfig, TwoStageModel, static_canvas
from edgevfi.models.blocks import exported_cost_volumes
from export import backends
from export.backends import GraphRunner
from export.graphs import (
    DEFAULT_CANVAS,
    DEFAULT_TILE,
    ROUTE_VARIANTS,
    WARP_VARIANTS,
    GraphSpec,
    build_graphs,
    is_motion_graph,
    motion_graph_name,
    resolve_fine_canvases,
)

FORMAT = "edgevfi-bundle"
VERSION = 1
TOOLS = (
    "edgevfi",
    "torch",
    "executorch",
    "litert-torch",
    "ai-edge-litert",
    "coremltools",
    "onnx",
    "onnxscript",
    "onnxruntime",
    "onnxsim",
    "nncf",
    "torchao",
)


class BundleError(ValueError):
    """A bundle that is missing, incomplete, tampered with, or lacks the requested backend."""


def tool_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in TOOLS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def graph_macs(spec: GraphSpec) -> int:
    """Multiply–accumulates of one call of the graph (convolutions and matmuls), its cost volumes
    counted in their exported form (eager inference sums their taps outside any matmul)."""
    with torch.no_grad(), exported_cost_volumes(spec.module), FlopCounterMode(display=False) as fc:
        spec.module(*spec.example_inputs)
    return int(fc.get_total_flops() // 2)


#: Source folders whose code decides what a graph computes and how it is lowered.
GRAPH_CODE = ("edgevfi/models", "edgevfi/ops", "export")


def graph_code_sha256() -> str:
    """sha256 over the Python sources that shape exported graphs (:data:`GRAPH_CODE`), recorded in
    manifests: a bundle made by other code (say, another cost-volume form) is told apart from one
    the current code would export, even from the same weights."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder in GRAPH_CODE:
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")


def write_bundle(
    model: TwoStageModel,
    out: str | Path,
    backend_names: list[str],
    *,
    model_name: str,
    source: Path | None = None,
    canvas: tuple[int, int] = DEFAULT_CANVAS,
    fine_canvases: tuple[tuple[int, int], ...] | None = None,
    tile: int = DEFAULT_TILE,
    overlap: int = 32,
    precision: str = "fp32",
    warp: str | None = None,
    lower: Callable[[str, GraphSpec, Path], dict] | None = None,
    backend_info: Callable[[str], dict] | None = None,
    log=print,
) -> Path:
    """Export ``model`` for every backend in ``backend_names`` into the bundle folder ``out``.

    ``fine_canvases`` adds a motion graph per canvas (``motion_<H>x<W>``) for the motion-adaptive
    second pass (:meth:`BundleBackend.refine_canvas`); ``None``: the model's default
    (:func:`~export.graphs.fine_canvases_for`), ``()``: none.
    ``warp`` overrides the per-backend warp variant of :data:`~export.graphs.WARP_VARIANTS`.
    ``lower(backend, specs, path) -> {graph: coverage}`` replaces each backend's own FP32/FP16
    lowering of the graphs ``specs`` (name → spec) into the artifact ``path`` (the INT8 routes of
    :mod:`quantize` plug in here); ``specs`` holds one graph, or every motion graph for a backend
    with shared-weight artifacts (:func:`artifact_groups`). ``backend_info(backend)`` adds entries
    (e.g. how it was quantized) to that backend's manifest record.
    """
    out = check_new_folder(out)
    mods = {name: backends.get(name) for name in backend_names}
    model = model.eval()
    fine_canvases = resolve_fine_canvases(model, canvas, fine_canvases)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        entries: dict[str, Any] = {}
        for name, mod in mods.items():
            (tmp / name).mkdir()
            specs = build_graphs(model, name, canvas=canvas, tile=tile, warp=warp, fine_canvases=fine_canvases)
            graphs = {}
            for stem, group in artifact_groups(mod, specs).items():
                rel = f"{name}/{stem}{mod.SUFFIX}"
                t0 = time.perf_counter()
                if lower is not None:
                    coverages = lower(name, group, tmp / rel)
                elif len(group) > 1:
                    coverages = mod.lower_methods(group, tmp / rel, precision)
                else:
                    coverages = {g: mod.lower(spec, tmp / rel, precision) for g, spec in group.items()}
                log(f"{name}/{'+'.join(group)}: lowered in {time.perf_counter() - t0:.1f} s")
                for gname, spec in group.items():
                    method = {"method": gname} if len(group) > 1 else {}
                    graphs[gname] = {"file": rel, **method, **spec.io(), "macs": graph_macs(spec)}
                    graphs[gname]["coverage"] = coverages[gname]
            impl, reason = WARP_VARIANTS[name]
            if warp and warp != impl:
                impl, reason = warp, f"--warp {warp} (default for {name}: {impl}, {reason})"
            entry = {"warp_impl": impl, "warp_reason": reason, "runnable": mod.RUNNABLE, "graphs": graphs}
            if impl != "scatter" and isinstance(model.config, SplattingConfig):
                # The residual-motion range (px per axis) of the gather/scatter-free splatting.
                entry["warp_radius"] = model.config.splat_radius_for(impl)
            if getattr(model.config, "route_mode", "all") != "all":
                entry["route_mode"], entry["route_reason"] = ROUTE_VARIANTS[name]
            if backend_info is not None:
                entry.update(backend_info(name))
            entries[name] = entry
        c = model.config
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": {"name": model_name, "config": c.to_dict()},
            "source": {
                "checkpoint": str(source) if source else None,
                "sha256": sha256_file(source) if source else None,
                "code_sha256": graph_code_sha256(),
            },
            "precision": precision,
            "canvas": list(canvas),
            # The motion-adaptive second pass: its canvases, and the rule's inputs (static_canvas).
            "fine_canvases": [list(fc) for fc in fine_canvases],
            "motion_reach": model.motion_reach,
            "canvas_multiple": c.canvas_multiple,
            "fine_canvas_upscale": c.fine_canvas_upscale,
            "tile": tile,
            "halo": c.halo,
            "overlap": overlap,
            "align": c.align,
            "max_batch": 1,
            "displacement_channels": model.displacement_channels,
            "backends": entries,
            "tools": tool_versions(),
            "files": {str(p.relative_to(tmp)): sha256_file(p) for p in _files_under(tmp)},
        }
        publish(tmp, manifest, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def artifact_groups(mod: ModuleType, specs: dict[str, GraphSpec]) -> dict[str, dict[str, GraphSpec]]:
    """File stem → the graphs lowered into that artifact: every motion graph into one (``motion``)
    where the backend stores several graphs with shared weights (``lower_methods``), else one each."""
    motion = {g: s for g, s in specs.items() if is_motion_graph(g)}
    if len(motion) > 1 and hasattr(mod, "lower_methods"):
        rest = {g: {g: s} for g, s in specs.items() if g not in motion}
        return {"motion": motion, **rest}
    return {g: {g: s} for g, s in specs.items()}


def check_new_folder(out: str | Path) -> Path:
    """``out`` as a Path: it must not exist yet and its parent must."""
    out = Path(out)
    if out.exists():
        raise BundleError(f"{out}: already exists (choose a new --out folder)")
    if not out.parent.exists():
        raise BundleError(f"{out}: parent folder {out.parent} does not exist")
    return out


def publish(tmp: Path, manifest: dict[str, Any], out: Path) -> None:
    """Write ``manifest.json`` last, then rename the finished temp folder to ``out``."""
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)


def read_manifest(root: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a bundle folder; ``BundleError`` if missing or unreadable."""
    mf = root / "manifest.json"
    if not root.is_dir():
        raise BundleError(f"{root}: no such bundle folder")
    if not mf.is_file():
        raise BundleError(f"{root}: not a bundle (no manifest.json)")
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{mf}: unreadable manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{mf}: not an EdgeVFI bundle manifest")
    return manifest


def require_backend(root: Path, available: dict[str, Any], backend: str | None) -> None:
    """``backend`` (if given) must be known and among the bundle's ``available`` backends."""
    if backend is None:
        return
    backends.get(backend)
    if backend not in available:
        have = ", ".join(available) or "none"
        raise BundleError(f"{root}: bundle has no {backend} artifacts (it has: {have})")


def verify_files(root: Path, files: dict[str, str], prefix: str = "") -> None:
    """Check the sha256 of every listed file under ``prefix``: missing or altered files are refused."""
    for rel, digest in files.items():
        if not rel.startswith(prefix):
            continue
        p = root / rel
        if not p.is_file():
            raise BundleError(f"{p}: missing from the bundle")
        if sha256_file(p) != digest:
            raise BundleError(f"{p}: sha256 does not match the manifest (tampered or truncated)")


def canvas_upscale_of(manifest: dict[str, Any]) -> float:
    """How far the bundle's static rule lets a fine canvas exceed the frame (1.0 for bundles made before the key)."""
    return float(manifest.get("fine_canvas_upscale", 1.0))


def fine_canvases_of(manifest: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    """The fine canvases (H, W) a manifest records; none for bundles written before they existed."""
    return tuple((int(h), int(w)) for h, w in manifest.get("fine_canvases", []))


def motion_canvases(manifest: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Motion graph name → its static canvas (H, W): ``motion`` and one per fine canvas."""
    base = (int(manifest["canvas"][0]), int(manifest["canvas"][1]))
    return {"motion": base, **{motion_graph_name(fc, base): fc for fc in fine_canvases_of(manifest)}}


@dataclass
class Bundle:
    """A loaded, verified manifest."""

    root: Path
    manifest: dict[str, Any]

    @property
    def backends(self) -> list[str]:
        return list(self.manifest["backends"])

    def graph_file(self, backend: str, graph: str) -> Path:
        return self.root / self.manifest["backends"][backend]["graphs"][graph]["file"]

    def graph_method(self, backend: str, graph: str) -> str | None:
        """The method holding ``graph`` in an artifact with several (``None``: the file's only graph)."""
        return self.manifest["backends"][backend]["graphs"][graph].get("method")

    def load_graph(self, backend: str, graph: str, threads: int = 0) -> GraphRunner:
        """``graph`` of ``backend`` ready to run (its method, in a shared-weight artifact)."""
        method = self.graph_method(backend, graph)
        extra = {"method": method} if method else {}
        return backends.get(backend).load(self.graph_file(backend, graph), threads, **extra)


def load_bundle(path: str | Path, backend: str | None = None) -> Bundle:
    """Read ``manifest.json`` and verify the sha256 of every file (of ``backend`` only, if given)."""
    root = Path(path)
    mf = root / "manifest.json"
    manifest = read_manifest(root)
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{mf}: not an EdgeVFI bundle manifest")
    if manifest.get("version") != VERSION:
        raise BundleError(f"{mf}: bundle version {manifest.get('version')} is not supported (expected {VERSION})")
    require_backend(root, manifest["backends"], backend)
    verify_files(root, manifest["files"], f"{backend}/" if backend else "")
    return Bundle(root, manifest)


def load_manifest_only(path: str | Path) -> Bundle:
    """A bundle's manifest without verifying (or needing) its artifacts.

    Enough for what runs eager PyTorch alone, such as ``edgevfi check --make-reference`` on a lent
    GPU machine that only the manifest and the source checkpoint travel to.
    """
    root = Path(path)
    manifest = read_manifest(root)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BundleError(f"{root / 'manifest.json'}: not an EdgeVFI bundle manifest of version {VERSION}")
    return Bundle(root, manifest)


class BundleBackend:
    """A :class:`~edgevfi.runtime.backend.Backend` running a bundle's graphs in one runtime."""

    def __init__(self, bundle: Bundle, backend: str, threads: int = 0, fine_canvases: bool = True) -> None:
        m = bundle.manifest
        entry = m["backends"].get(backend)
        if entry is None:
            raise BundleError(f"{bundle.root}: bundle has no {backend} artifacts (it has: {', '.join(m['backends'])})")
        mod = backends.get(backend)
        if not mod.RUNNABLE:
            mod.load(bundle.graph_file(backend, "motion"))  # raises the backend's own explanation
        self.name = backend
        self.displacement_channels = int(m["displacement_channels"])
        self.align = int(m["align"])
        self.halo = int(m["halo"])
        self.canvas_hw = (int(m["canvas"][0]), int(m["canvas"][1]))
        #: larger static canvases with their own motion graph (``fine_canvases=False``: not used)
        self.fine_canvases = fine_canvases_of(m) if fine_canvases else ()
        self.motion_reach = float(m.get("motion_reach", 0.0))
        self.canvas_multiple = int(m.get("canvas_multiple", 32))
        #: how far a fine canvas may exceed the frame (bundles made before the key: 1, never above)
        self.canvas_upscale = canvas_upscale_of(m)
        self.tile = int(m["tile"])
        self.overlap = int(m["overlap"])
        self.max_batch = int(m["max_batch"])
        #: graph name → runner (inputs in order → outputs in order)
        names = ["motion", *(motion_graph_name(fc, self.canvas_hw) for fc in self.fine_canvases), "synth"]
        self.graphs = {g: bundle.load_graph(backend, g, threads) for g in names}

    def default_canvas(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        return self.canvas_hw

    def refine_canvas(
        self, frame_hw: tuple[int, int], canvas_hw: tuple[int, int], m0: Tensor, m1: Tensor
    ) -> tuple[int, int]:
        dc, reach, multiple = self.displacement_channels, self.motion_reach, self.canvas_multiple
        return static_canvas(
            frame_hw, canvas_hw, self.fine_canvases, m0, m1, dc, reach, multiple, upscale=self.canvas_upscale
        )

    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        graph = motion_graph_name((img0.shape[-2], img0.shape[-1]), self.canvas_hw)
        if graph not in self.graphs:
            raise ValueError(f"{self.name} bundle has no motion graph for a {img0.shape[-2]}x{img0.shape[-1]} canvas")
        m0, m1 = self.graphs[graph]([img0, img1])
        return m0, m1

    def synthesize(self, src0, src1, mot0, mot1, shift0, shift1, t) -> Tensor:
        return self.graphs["synth"]([src0, src1, mot0, mot1, shift0, shift1, t])[0]
