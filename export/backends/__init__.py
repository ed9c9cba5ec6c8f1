"""One module per runtime, each a short sequence of plain functions (as in ExecuTorch's examples).

Every backend module provides:

* ``SUFFIX``: the artifact's file suffix; ``RUNNABLE``: whether it can execute on this host;
* ``lower(spec, path, precision) -> dict``: write the artifact for one :class:`~export.graphs.GraphSpec`
  and return its op coverage (``{"ops": {op: count}, "delegated": n, "fallback": {op: count}, ...}``);
* ``load(path, threads) -> GraphRunner``: a callable taking the graph's inputs (tensors, in order)
  and returning its outputs (tensors, in order). Non-runnable backends raise instead.

A backend whose artifact can hold several graphs sharing their weights (ExecuTorch: one method per
graph; LiteRT: one signature per graph) also provides ``lower_methods(specs, path, precision) ->
{graph: coverage}`` and takes ``load(path, threads, method=graph)``; the bundle then writes the
motion graphs of all canvases into one artifact.

Imports of the runtimes are deferred into the functions, so ``edgevfi`` works without them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from types import ModuleType

from torch import Tensor

GraphRunner = Callable[[Sequence[Tensor]], list[Tensor]]

#: command-line name → module (also the bundle's backend key)
BACKENDS: dict[str, str] = {
    "et": "export.backends.executorch",
    "litert": "export.backends.litert",
    "coreml": "export.backends.coreml",
    "onnx": "export.backends.onnx",
}


class BackendError(ValueError):
    """An unknown backend, a missing runtime or an artifact a runtime refuses."""


def get(name: str) -> ModuleType:
    """The backend module for ``name``; ``BackendError`` naming the known ones otherwise."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    return importlib.import_module(BACKENDS[name])


def parse_backends(text: str) -> list[str]:
    """``"et,onnx"`` → ``["et", "onnx"]``, each checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise BackendError("no backend given")
    for n in names:
        get(n)
    return list(dict.fromkeys(names))
