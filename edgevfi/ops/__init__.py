"""Differentiable image ops: backward warping, forward splatting (reference and gather-free), resizing."""

from edgevfi.ops.warp import (
    backward_warp,
    forward_splat,
    forward_splat_with_weight,
    resize,
    resize_flow,
    splat_sum,
    window_splat,
    window_splat_sum,
    window_splat_with_weight,
    window_warp,
)

__all__ = [
    "backward_warp",
    "forward_splat",
    "forward_splat_with_weight",
    "resize",
    "resize_flow",
    "splat_sum",
    "window_splat",
    "window_splat_sum",
    "window_splat_with_weight",
    "window_warp",
]
