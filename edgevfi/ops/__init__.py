"""Differentiable image ops: backward warping, forward splatting (reference, window, separable), resizing."""

from edgevfi.ops.warp import (
    backward_warp,
    flow_consensus,
    forward_splat,
    forward_splat_variant,
    forward_splat_with_weight,
    resize,
    resize_flow,
    separable_splat_sum,
    separable_splat_with_weight,
    separable_window_warp,
    splat_sum,
    splat_sum_variant,
    window_splat,
    window_splat_sum,
    window_splat_with_weight,
    window_warp,
)

__all__ = [
    "backward_warp",
    "flow_consensus",
    "forward_splat",
    "forward_splat_variant",
    "forward_splat_with_weight",
    "resize",
    "resize_flow",
    "separable_splat_sum",
    "separable_splat_with_weight",
    "separable_window_warp",
    "splat_sum",
    "splat_sum_variant",
    "window_splat",
    "window_splat_sum",
    "window_splat_with_weight",
    "window_warp",
]
