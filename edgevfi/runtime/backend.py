"""The small interface every runtime plugs in behind, and the eager PyTorch implementation.

A backend only knows how to run the two graphs on tensors it is given. Everything else — canvas
resizing, tile planning, motion-compensated cropping, blending — lives once in
:class:`edgevfi.runtime.runner.Runner`, so eager PyTorch, ExecuTorch, LiteRT and ONNX Runtime are
always compared on identical tiling.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from edgevfi.models.base import TwoStageModel, static_canvas


@runtime_checkable
class Backend(Protocol):
    """What the Runner needs from a runtime.

    ``canvas_hw`` and ``tile`` are ``None`` when the backend accepts any size (eager), else the
    static shapes its graphs were exported with. ``max_batch`` is how many tiles ``synthesize``
    takes at once. ``refine_canvas`` names a canvas to rerun motion on after a first pass (the
    motion-adaptive canvas), or returns the first canvas when there is none (static backends).
    """

    name: str
    displacement_channels: int
    align: int
    halo: int
    canvas_hw: tuple[int, int] | None
    tile: int | None
    max_batch: int

    def default_canvas(self, frame_hw: tuple[int, int]) -> tuple[int, int]: ...

    def refine_canvas(
        self, frame_hw: tuple[int, int], canvas_hw: tuple[int, int], m0: Tensor, m1: Tensor
    ) -> tuple[int, int]: ...

    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]: ...

    def synthesize(
        self,
        src0: Tensor,
        src1: Tensor,
        mot0: Tensor,
        mot1: Tensor,
        shift0: Tensor,
        shift1: Tensor,
        t: Tensor,
    ) -> Tensor: ...


class EagerBackend:
    """Runs a :class:`TwoStageModel` in PyTorch (CPU or CUDA), under ``torch.inference_mode``.

    By default it takes any size (canvas per frame, shrunken windows for small frames). Given
    ``canvas_hw`` and ``tile`` it runs the exact static shapes of an exported bundle, which makes it
    the parity reference for that bundle; ``fine_canvases`` are then that bundle's fine canvases
    (the same static motion-adaptive rule as :class:`export.bundle.BundleBackend`).
    """

    def __init__(
        self,
        model: TwoStageModel,
        device: str | torch.device = "cpu",
        max_batch: int = 2,
        canvas_hw: tuple[int, int] | None = None,
        tile: int | None = None,
        fine_canvases: tuple[tuple[int, int], ...] = (),
        canvas_upscale: float | None = None,
    ) -> None:
        if fine_canvases and canvas_hw is None:
            raise ValueError("fine canvases belong to static shapes: give canvas_hw too")
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        self.name = "torch"
        self.displacement_channels = model.displacement_channels
        self.align = model.config.align
        self.halo = model.config.halo
        self.canvas_hw = canvas_hw
        self.fine_canvases = tuple(fine_canvases)
        #: how far the static rule's fine canvas may exceed the frame: a bundle's manifest value for its
        #: parity reference (None: the model's ``fine_canvas_upscale``)
        self.canvas_upscale = model.config.fine_canvas_upscale if canvas_upscale is None else float(canvas_upscale)
        #: displacement (canvas px) the motion stage can find: the static rule's reach
        self.motion_reach = model.motion_reach
        self.tile = tile
        self.max_batch = max_batch

    def default_canvas(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        return self.model.canvas_for(frame_hw)

    def refine_canvas(
        self, frame_hw: tuple[int, int], canvas_hw: tuple[int, int], m0: Tensor, m1: Tensor
    ) -> tuple[int, int]:
        # At a bundle's static shapes (the parity reference) the canvases are the bundle's.
        if self.canvas_hw is None:
            return self.model.refine_canvas(frame_hw, canvas_hw, m0, m1)
        c = self.model.config
        dc, reach = self.displacement_channels, self.motion_reach
        return static_canvas(
            frame_hw, canvas_hw, self.fine_canvases, m0, m1, dc, reach, c.canvas_multiple, upscale=self.canvas_upscale
        )

    @torch.inference_mode()
    def motion(self, img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
        m0, m1 = self.model.motion(img0.to(self.device), img1.to(self.device))
        return m0.cpu(), m1.cpu()

    @torch.inference_mode()
    def synthesize(self, src0, src1, mot0, mot1, shift0, shift1, t) -> Tensor:
        args = [x.to(self.device) for x in (src0, src1, mot0, mot1, shift0, shift1, t)]
        return self.model.synthesize(*args).cpu()
