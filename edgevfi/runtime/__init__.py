"""Tiled inference: one Runner, backends behind a small interface."""

from edgevfi.runtime.backend import Backend, EagerBackend
from edgevfi.runtime.runner import PairMotion, Runner
from edgevfi.runtime.tiles import TilePlan

__all__ = ["Backend", "EagerBackend", "PairMotion", "Runner", "TilePlan"]
