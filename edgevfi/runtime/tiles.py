"""Tile planning: which fixed-size windows cover a frame and how their outputs are blended.

A window is ``tile`` pixels square. Its outer ``halo`` pixels give the synthesis network context
and are thrown away; neighbouring windows' trusted cores overlap by ``overlap`` pixels and are
cross-faded there with a raised-cosine ramp, which sums to exactly one, so there are no seams.
Windows start at ``-halo + k * stride`` so that their origins share one grid with the full-frame
pass (which pads the frame by ``halo``): with ``stride`` a multiple of the model's alignment, every
patch and every stride-2 convolution sees the same pixels in a tile as in the full frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from edgevfi.ops.tiles import Region

#: Default window, halo included. 448 rather than 384: a 720p frame takes 8 windows instead of 15 (1.61 instead
#: of 2.21 Mpixel synthesized), a third less time at equal output (``benchmarks/tile_size.py``).
DEFAULT_TILE = 448


@dataclass(frozen=True)
class TilePlan:
    """Fixed-size windows covering a ``frame_hw`` frame; see the module docstring."""

    frame_hw: tuple[int, int]
    tile: int = DEFAULT_TILE
    halo: int = 32
    overlap: int = 32
    align: int = 32

    def __post_init__(self) -> None:
        H, W = self.frame_hw
        if H < 1 or W < 1:
            raise ValueError(f"frame size must be positive, got {W}x{H}")
        if self.halo < 0 or self.overlap < 0:
            raise ValueError(f"halo and overlap must be >= 0, got {self.halo} and {self.overlap}")
        if self.tile % self.align:
            raise ValueError(f"tile {self.tile} is not a multiple of the model alignment {self.align}")
        if self.stride <= 0 or self.stride % self.align:
            raise ValueError(
                f"tile {self.tile} − 2·halo {self.halo} − overlap {self.overlap} = stride {self.stride} "
                f"must be a positive multiple of {self.align}"
            )

    @property
    def core(self) -> int:
        return self.tile - 2 * self.halo

    @property
    def stride(self) -> int:
        return self.core - self.overlap

    def _starts(self, size: int) -> list[int]:
        n = 1 if size <= self.core else 1 + math.ceil((size - self.core) / self.stride)
        return [-self.halo + k * self.stride for k in range(n)]

    @cached_property
    def grid(self) -> tuple[list[int], list[int]]:
        return self._starts(self.frame_hw[0]), self._starts(self.frame_hw[1])

    def windows(self) -> list[Region]:
        ys, xs = self.grid
        return [(y, x, self.tile, self.tile) for y in ys for x in xs]

    def _ramp(self, n_tiles: int, index: int) -> Tensor:
        """1-D blend weight of window ``index`` of ``n_tiles`` along one axis (length ``tile``)."""
        w = torch.zeros(self.tile)
        w[self.halo : self.tile - self.halo] = 1.0
        o = self.overlap
        if o:
            # Raised cosine: up(u) + down(u) == 1 for the two windows sharing the overlap.
            u = (torch.arange(o, dtype=torch.float64) + 0.5) / o
            up = (0.5 - 0.5 * torch.cos(math.pi * u)).float()
            if index > 0:
                w[self.halo : self.halo + o] = up
            if index < n_tiles - 1:
                w[self.tile - self.halo - o : self.tile - self.halo] = up.flip(0)
        return w

    def blend_weight(self, iy: int, ix: int) -> Tensor:
        """(tile, tile) weight of window (iy, ix) in the blend; zero on the halo."""
        ys, xs = self.grid
        return self._ramp(len(ys), iy)[:, None] * self._ramp(len(xs), ix)[None, :]

    def indexed_windows(self) -> list[tuple[int, int, Region]]:
        ys, xs = self.grid
        return [(iy, ix, (y, x, self.tile, self.tile)) for iy, y in enumerate(ys) for ix, x in enumerate(xs)]

    def to_dict(self) -> dict:
        """Plain description (golden files for the Kotlin planner, bundle manifests)."""
        ys, xs = self.grid
        return {
            "frame_hw": list(self.frame_hw),
            "tile": self.tile,
            "halo": self.halo,
            "overlap": self.overlap,
            "align": self.align,
            "ys": ys,
            "xs": xs,
        }
