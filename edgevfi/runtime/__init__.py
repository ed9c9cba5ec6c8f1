"""Tiled inference: one Runner, backends behind a small interface."""

from edgevfi.runtime.backend import Backend, EagerBackend
from edgevfi.runtime.routing import Route, Router
from edgevfi.runtime.runner import PairMotion, Runner, blend_windows
from edgevfi.runtime.tiles import TilePlan

__all__ = ["Backend", "EagerBackend", "PairMotion", "Route", "Router", "Runner", "TilePlan", "blend_windows"]
