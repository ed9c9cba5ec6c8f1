"""Routed bundles (VFI-DPA): a fast and an accurate bundle plus the assessor's ``assess`` graph.

Layout::

    manifest.json        format "edgevfi-routed-bundle": the two sub-bundles, the assess graph per
                         backend (file, I/O, MACs, coverage), assess canvas, calibration, sha256s
    fast/                an ordinary bundle (``edgevfi export``) of the fast model
    accurate/            an ordinary bundle of the accurate model, same canvas and tile
    assess/<backend>/assess<suffix>

Both sub-bundles share the motion canvas, tile, halo and overlap, so the one Runner tiles a frame
identically whichever model makes a window. Written in a temp folder and renamed when complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from edgevfi.io import sha256_file
from edgevfi.models.base import TwoStageModel
from edgevfi.models.dpa import DifficultyAssessor, assess_canvas
from edgevfi.runtime.routing import Router
from export import backends
from export.bundle import (
    Bundle,
    BundleBackend,
    BundleError,
    check_new_folder,
    graph_macs,
    load_bundle,
    publish,
    read_manifest,
    require_backend,
    tool_versions,
    verify_files,
    write_bundle,
)
from export.graphs import DEFAULT_CANVAS, DEFAULT_TILE, build_assess_graph

FORMAT = "edgevfi-routed-bundle"
VERSION = 1


def write_routed_bundle(
    fast: TwoStageModel,
    accurate: TwoStageModel,
    assessor: DifficultyAssessor,
    out: str | Path,
    backend_names: list[str],
    *,
    names: tuple[str, str],
    sources: tuple[Path | None, Path | None] = (None, None),
    assessor_source: Path | None = None,
    calibration: dict[str, float] | None = None,
    canvas: tuple[int, int] = DEFAULT_CANVAS,
    tile: int = DEFAULT_TILE,
    overlap: int = 32,
    log=print,
) -> Path:
    """Export ``fast``, ``accurate`` and the assessor for every backend into the folder ``out``."""
    out = check_new_folder(out)
    mods = {name: backends.get(name) for name in backend_names}
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        common = {"canvas": canvas, "tile": tile, "overlap": overlap, "log": log}
        write_bundle(fast, tmp / "fast", backend_names, model_name=names[0], source=sources[0], **common)
        write_bundle(accurate, tmp / "accurate", backend_names, model_name=names[1], source=sources[1], **common)
        a_canvas = assess_canvas(canvas, assessor.config.canvas_scale)
        spec = build_assess_graph(assessor, a_canvas)
        entries: dict[str, Any] = {}
        for name, mod in mods.items():
            rel = f"assess/{name}/assess{mod.SUFFIX}"
            (tmp / rel).parent.mkdir(parents=True)
            t0 = time.perf_counter()
            coverage = mod.lower(spec, tmp / rel, "fp32")
            log(f"{name}/assess: lowered in {time.perf_counter() - t0:.1f} s")
            entries[name] = {"file": rel, **spec.io(), "macs": graph_macs(spec), "coverage": coverage}
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "fast": "fast",
            "accurate": "accurate",
            "assessor": {
                "config": assessor.config.to_dict(),
                "source": str(assessor_source) if assessor_source else None,
                "sha256": sha256_file(assessor_source) if assessor_source else None,
                "calibration": calibration or {},
            },
            "assess_canvas": list(a_canvas),
            "assess": entries,
            "tools": tool_versions(),
            "files": {rel["file"]: sha256_file(tmp / rel["file"]) for rel in entries.values()},
        }
        publish(tmp, manifest, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def is_routed(path: str | Path) -> bool:
    """Whether ``path`` holds a routed bundle (a readable manifest with the routed format)."""
    mf = Path(path) / "manifest.json"
    try:
        return json.loads(mf.read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


@dataclass
class RoutedBundle:
    root: Path
    manifest: dict[str, Any]
    fast: Bundle
    accurate: Bundle


def load_routed_bundle(path: str | Path, backend: str | None = None) -> RoutedBundle:
    """Read and verify a routed bundle (its own files and both sub-bundles')."""
    root = Path(path)
    manifest = read_manifest(root)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BundleError(f"{root}: not a version-{VERSION} routed bundle")
    require_backend(root, manifest["assess"], backend)
    verify_files(root, manifest["files"], f"assess/{backend}/" if backend else "")
    fast = load_bundle(root / manifest["fast"], backend)
    accurate = load_bundle(root / manifest["accurate"], backend)
    return RoutedBundle(root, manifest, fast, accurate)


class AssessBundleBackend:
    """An :class:`~edgevfi.runtime.routing.AssessBackend` running a routed bundle's ``assess`` graph."""

    def __init__(self, routed: RoutedBundle, backend: str, threads: int = 0) -> None:
        entry = routed.manifest["assess"].get(backend)
        if entry is None:
            raise BundleError(f"{routed.root}: routed bundle has no {backend} assess graph")
        self.name = backend
        self.canvas_hw = (int(routed.manifest["assess_canvas"][0]), int(routed.manifest["assess_canvas"][1]))
        self._run = backends.get(backend).load(routed.root / entry["file"], threads)

    def assess(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        d, b, a = self._run([img0.contiguous(), img1.contiguous()])
        return d, b, a


def routed_backends(
    routed: RoutedBundle,
    backend: str,
    threads: int = 0,
    budget: float = 0.3,
    granularity: str = "tile",
    threshold: float | None = None,
) -> tuple[BundleBackend, Router]:
    """The fast bundle backend and a :class:`Router` over the accurate one, ready for ``Runner``."""
    fast = BundleBackend(routed.fast, backend, threads)
    accurate = BundleBackend(routed.accurate, backend, threads)
    assess = AssessBundleBackend(routed, backend, threads)
    router = Router(
        assess,
        accurate,
        budget=budget,
        granularity=granularity,
        threshold=threshold,
        calibration=routed.manifest["assessor"].get("calibration"),
    )
    return fast, router
