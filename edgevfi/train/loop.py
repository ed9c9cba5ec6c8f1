"""The training loop: resumable, logged, validated, CPU or CUDA with the same code.

A run folder holds ``config.json`` (the run's current settings; ``config_changes.json`` lists what a
resume with different settings changed, and at which step), ``last.pt`` (model, optimizer, step, RNG:
everything needed to resume bit-exactly; loaded with ``weights_only=True``), ``best.safetensors``
(best validation PSNR so far), ``log.txt`` and ``losses.csv`` / ``val.csv``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from edgevfi import models
from edgevfi.checkpoint import save_checkpoint
from edgevfi.io import atomic_output, sha256_file
from edgevfi.models.base import TwoStageModel, default_canvas, scaled_canvas
from edgevfi.models.blocks import MOTION_FIELDS
from edgevfi.ops.tiles import resize_to
from edgevfi.train import losses as L


@dataclass
class TrainConfig:
    """Everything a run needs; saved as ``config.json`` in the run folder."""

    model: str = "apr-s"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    init: str | None = None  # checkpoint to start from (fine-tuning)
    # Checkpoint whose motion stage (the shared FlowPyramid, ``flow.*``) seeds this model's: a new
    # family then starts from trained motion instead of re-learning it (the slowest part on CPU).
    init_motion: str | None = None
    out: str = "runs/apr-s"
    steps: int = 20000
    batch: int = 8
    # Samples per forward/backward (0: the whole batch at once). A smaller value accumulates the
    # gradients of batch / micro_batch chunks before each optimizer step: the larger batches (and
    # the higher rates they allow) of a GPU run, on a CPU's memory and speed per sample.
    micro_batch: int = 0
    crop: int = 256
    lr: float = 2e-4
    lr_min: float = 2e-5
    warmup: int = 500
    weight_decay: float = 1e-4
    census_weight: float = 0.1
    svmv_sv_weight: float = 0.01
    # SVMV's temporal minimum photometric loss (L_tv) on both directions' motion; for APR it is the
    # same self-supervised term with one hypothesis. It gives the motion stage a direct signal
    # early in training, when the synthesis loss alone barely reaches the flow.
    motion_photometric_weight: float = 0.05
    # Distil the motion stage from RIFE 4.25's flow (edgevfi.train.teacher); 0 disables it.
    distill_weight: float = 0.0
    # Extra distillation of the motion blocks before the last one (coarsest first), each on its own
    # grid, relative to distill_weight; APR, train_parts motion only. Unsupervised, the coarse blocks'
    # flow is a free intermediate: on val it was 14 px off RIFE's after block 1 (9.7 px even on
    # small-motion clips), region-sized wrong matches the fine blocks cannot undo.
    distill_stage_weights: tuple[float, ...] = ()
    # 0: the distillation loss is the mean end-point error (EPE). > 0: the robust c·log(1 + EPE/c)
    # with c this many canvas px, whose gradient falls as 1/(1 + EPE/c): a plain EPE mean is ruled
    # by large-motion crops (batch means of 1 to 7.5 px in run 18) and by pixels where RIFE's flow is
    # wrong, while the PSNR gap to RIFE is mostly on small and medium motion.
    distill_robust_px: float = 0.0
    route_weight: float = 0.01
    # Probability that the motion canvas is the crop at half size: deployment downsizes large
    # frames before motion, so the synthesis stage must cope with coarser flow.
    half_canvas_prob: float = 0.5
    # Probability that the motion canvas is the crop *enlarged* by a factor drawn from
    # [1, up_canvas_scale]: since the thirty-fourth session the shipped Runner runs motion on a canvas up
    # to twice a smaller frame, upsampled pixels whose matching the stage never trained on (only 1× and
    # ½× crops). One draw picks half, enlarged or 1× (in that order), so 0 keeps earlier runs' data.
    up_canvas_prob: float = 0.0
    up_canvas_scale: float = 2.0
    # "all" trains the whole model end to end; "motion" trains only the motion stage (``flow.*``) on
    # its own terms (RIFE distillation + L_tv), without running the synthesis: measured on val, the
    # synthesis fed RIFE's flow is within 0.13 dB of RIFE while our own flow costs 2.7 dB
    # (benchmarks/motion_oracle.py), so the motion stage is where the steps pay. "new-motion" is
    # "motion" restricted to the tensors ``init`` did not have (a model grown by ``model_overrides``
    # with ``init``, e.g. a fourth motion block): what was trained stays exactly as it was.
    # "synthesis" is the converse: everything but ``flow.*`` on the reconstruction terms, the motion
    # stage frozen, so a synthesis trained on an early, poorer flow can adapt to the flow it is fed now.
    # "motion-e2e" trains ``flow.*`` alone but runs the whole model: the reconstruction terms reach the
    # flow through the frozen synthesis beside the motion terms, so the flow is fitted to what this
    # synthesis needs (TOFlow's task-oriented flow) rather than only to RIFE's, which it is 2.2 px off.
    train_parts: str = "all"
    # Weight of the reconstruction terms (Charbonnier + census) wherever the synthesis runs.
    rec_weight: float = 1.0
    # Learning-rate multiplier for the tensors ``init`` did not have (a grown model): fine-tuning
    # rates suit trained weights but leave new, zero-initialised blocks near where they started.
    new_lr_scale: float = 1.0
    # Name prefixes of trained tensors that take ``new_lr_scale`` too: inputs that started at zero
    # in an earlier run and stayed near it (the warped cost volumes' ``cost_in`` convs of run 14 had
    # a mean |w| of 0.0012 after 12,300 steps at fine-tuning rates, the image convs beside them 0.05).
    fast_prefixes: tuple[str, ...] = ()
    device: str = "cpu"
    threads: int = 0
    # Threads that make the next steps' training items while a step runs (0: made in the loop).
    loader_threads: int = 0
    seed: int = 0
    log_every: int = 20
    val_every: int = 500
    val_limit: int | None = None
    checkpoint_minutes: float = 5.0
    data: str = "../shared/data"
    val: str | None = "../shared/data/val"
    max_side: int = 640
    cache: str = "cache/frames"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
        d = dict(d)
        for name, f in cls.__dataclass_fields__.items():
            # YAML 1.1 (PyYAML) reads "2e-5", with no dot, as a string.
            if f.type == "float" and isinstance(d.get(name), str):
                try:
                    d[name] = float(d[name])
                except ValueError:
                    raise ValueError(f"training setting {name}: {d[name]!r} is not a number") from None
        return cls(**d)

    def __post_init__(self) -> None:
        if self.batch < 1 or self.micro_batch < 0:
            raise ValueError(f"batch must be >= 1 and micro_batch >= 0 (got {self.batch}, {self.micro_batch})")
        probs = (self.half_canvas_prob, self.up_canvas_prob)
        if min(probs) < 0 or sum(probs) > 1:
            raise ValueError(
                f"half_canvas_prob {self.half_canvas_prob} and up_canvas_prob {self.up_canvas_prob} must be "
                ">= 0 and sum to at most 1"
            )
        if self.up_canvas_scale < 1:
            raise ValueError(f"up_canvas_scale must be >= 1, got {self.up_canvas_scale}")

    @property
    def motion_only(self) -> bool:
        """Whether this run trains the motion stage alone, without running the synthesis."""
        return self.train_parts in ("motion", "new-motion")


def _write_json(path: Path, obj: Any) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2))


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine from ``lr`` to ``lr_min`` (the APR-VFI schedule)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * p))


def _rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
        "numpy_pos": int(np.random.get_state()[2]),
    }


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    random.setstate((s["python_version"], tuple(s["python"]), s["python_gauss"]))
    np.random.set_state(("MT19937", s["numpy"].numpy().astype(np.uint32), s["numpy_pos"], 0, 0.0))


def training_canvas(crop_hw: tuple[int, int], cfg: TrainConfig, multiple: int, gen: torch.Generator) -> tuple[int, int]:
    """The motion canvas of one batch: the crop at half size, enlarged, or as it is (one draw)."""
    H, W = crop_hw
    u = torch.rand((), generator=gen).item()
    if u < cfg.half_canvas_prob:
        return default_canvas((H, W), max(H, W) // 2, multiple)
    if u < cfg.half_canvas_prob + cfg.up_canvas_prob:
        # A second draw only on this branch: runs without enlarged canvases keep their random stream.
        scale = 1 + (cfg.up_canvas_scale - 1) * torch.rand((), generator=gen).item()
        return scaled_canvas((H, W), int(scale * max(H, W)), multiple)
    return default_canvas((H, W), max(H, W), multiple)


def compute_loss(
    model: TwoStageModel,
    batch: dict[str, Tensor],
    cfg: TrainConfig,
    gen: torch.Generator,
    teacher: Any | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """One batch's loss: the seeds' terms for the model's family."""
    img0, img1, gt, t = batch["img0"], batch["img1"], batch["gt"], batch["t"]
    H, W = img0.shape[-2:]
    canvas = training_canvas((H, W), cfg, model.config.canvas_multiple, gen)
    family = model.config.family
    if cfg.motion_only:
        a, b = resize_to(img0, canvas), resize_to(img1, canvas)
        if cfg.distill_stage_weights:
            # APR's motion is the pyramid's last flow split by direction; the earlier ones come free.
            B = img0.shape[0]
            stages = [{"m0": f[:B], "m1": f[B:]} for f in model.flow.stage_flows(a, b)]
            aux = {**stages[-1], "stages": stages[:-1]}
        else:
            m0, m1 = model.motion(a, b)
            aux = {"m0": m0, "m1": m1}
        loss = torch.zeros((), device=img0.device)
        parts: dict[str, float] = {}
    else:
        pred, m0, m1 = model.forward_with_motion(img0, img1, t, canvas)
        aux = {"m0": m0, "m1": m1}
        rec = L.charbonnier(pred, gt)
        cen = L.census_loss(pred, gt)
        loss = cfg.rec_weight * (rec + cfg.census_weight * cen)
        parts = {"rec": rec.item(), "census": cen.item()}
    if teacher is not None and cfg.distill_weight:
        targets = teacher(img0, img1)
        distill = _distill_loss(aux, targets, canvas, cfg.distill_robust_px)
        loss = loss + cfg.distill_weight * distill
        parts["distill"] = distill.item()
        if "stages" in aux:
            stages = sum(
                w * _distill_loss(stage, targets, canvas, cfg.distill_robust_px)
                for w, stage in zip(cfg.distill_stage_weights, aux["stages"], strict=True)
            )
            loss = loss + cfg.distill_weight * stages
            parts["distill_stages"] = stages.item()
    if family in ("svmv", "apr") and cfg.motion_photometric_weight:
        tv = _motion_photometric(model, aux, img0, img1, gt, t, canvas)
        loss = loss + cfg.motion_photometric_weight * tv
        parts["tv"] = tv.item()
    if family == "svmv" and cfg.svmv_sv_weight:
        sv = L.svmv_spatial_variance_loss(_offsets_on_motion_grid(model, aux["m0"], canvas))
        loss = loss + cfg.svmv_sv_weight * sv
        parts["sv"] = sv.item()
    # The route loss reaches only the router, which motion-e2e keeps frozen.
    routed = family == "apr" and cfg.train_parts in ("all", "synthesis") and model.last_route_probs is not None
    if routed and cfg.route_weight:
        i0, i1, cov0, cov1 = model.last_warped
        # Holes (nothing splatted from one frame) are cheap to fill: excluded from the labels.
        valid = ((cov0 > 0.5) & (cov1 > 0.5)).to(i0.dtype)
        labels = L.apr_route_labels(i0, i1, valid, model.config.keep_ratios, model.config.patch)
        route = L.apr_route_loss(model.last_route_probs, labels)
        loss = loss + cfg.route_weight * route
        parts["route"] = route.item()
    parts["loss"] = loss.item()
    return loss, parts


def _distill_loss(
    aux: dict, targets: tuple[Tensor, Tensor, Tensor, Tensor], canvas: tuple[int, int], robust_px: float = 0.0
) -> Tensor:
    """Mean end-point error (canvas px) of both motion tensors against the teacher's valid flow.

    With ``robust_px`` = c > 0, each pixel's error e counts as c·log(1 + e/c) (≈ e below c px).
    """
    from edgevfi.train.teacher import flow_to_motion_grid

    f01, v0, f10, v1 = targets
    distill = 0.0
    for m, f, v in ((aux["m0"], f01, v0), (aux["m1"], f10, v1)):
        hw = m.shape[-2:]
        target = flow_to_motion_grid(f, hw, canvas)
        valid = F.interpolate(v, size=hw, mode="area") > 0.99
        err = ((m[:, :2] - target) ** 2).sum(1, keepdim=True).add(1e-6).sqrt()
        if robust_px > 0:
            err = robust_px * torch.log1p(err / robust_px)
        distill = distill + (err * valid).sum() / valid.sum().clamp_min(1)
    return 0.5 * distill


def _offsets_on_motion_grid(model, m: Tensor, canvas: tuple[int, int]) -> Tensor:
    """(B, M, 2, h, w) displacement hypotheses in pixels of the motion tensor's own grid."""
    M = model.hypotheses
    hm, wm = m.shape[-2:]
    offsets = m[:, : 2 * M].reshape(m.shape[0], M, 2, hm, wm)
    return offsets * torch.tensor([wm / canvas[1], hm / canvas[0]], device=m.device).view(1, 1, 2, 1, 1)


def _motion_photometric(model, aux: dict, img0: Tensor, img1: Tensor, gt: Tensor, t: Tensor, canvas) -> Tensor:
    """SVMV's L_tv for both directions (0→1 with gt at t, 1→0 with gt at 1 − t)."""

    hm, wm = aux["m0"].shape[-2:]

    def down(x: Tensor) -> Tensor:
        return F.interpolate(x, size=(hm, wm), mode="bilinear", align_corners=False, antialias=True)

    i0, i1, it = down(img0), down(img1), down(gt)
    u0 = _offsets_on_motion_grid(model, aux["m0"], canvas)
    u1 = _offsets_on_motion_grid(model, aux["m1"], canvas)
    tt = t.view(-1, 1, 1, 1, 1)
    return 0.5 * (
        L.svmv_temporal_min_loss(i0, i1, it, u0, u0 * tt) + L.svmv_temporal_min_loss(i1, i0, it, u1, u1 * (1 - tt))
    )


def with_motion_stage(model: TwoStageModel, checkpoint: str | Path) -> TwoStageModel:
    """``model`` with its motion stage (``flow.*``) replaced by ``checkpoint``'s, config included.

    Every family shares :class:`~edgevfi.models.blocks.FlowPyramid`; the donor's motion fields
    (widths, depth, warped cost volumes) replace the model's, so a grown motion stage moves whole
    rather than losing its new tensors. Every tensor is loaded strictly. Raises ``ValueError`` when
    the checkpoint has no motion stage or the model's other tensors do not fit the donor's motion
    stage (e.g. an SVMV head sized to other motion widths).
    """
    from edgevfi.checkpoint import load_checkpoint

    donor = load_checkpoint(checkpoint)
    source = {k: v for k, v in donor.state_dict().items() if k.startswith("flow.")}
    if not source:
        raise ValueError(f"{checkpoint}: no motion stage (flow.*) to copy")
    fields = {f: getattr(donor.config, f) for f in MOTION_FIELDS if hasattr(donor.config, f)}
    if not all(hasattr(model.config, f) for f in fields):
        raise ValueError(f"{checkpoint}: a {model.config.family} model has no motion stage to replace")
    config = replace(model.config, **fields)
    rebuilt = models.build(config) if config != model.config else model
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("flow.")}
    try:
        rebuilt.load_state_dict({**own, **source})
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise ValueError(f"{checkpoint}: motion stage does not fit {model.config.family} ({first})") from None
    return rebuilt.train(model.training)


class Trainer:
    """Runs (or resumes) one training run described by a :class:`TrainConfig`."""

    def __init__(self, cfg: TrainConfig, dataset: Any | None = None) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = torch.device(cfg.device)
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        #: tensors the model has that ``init`` had not (a grown model); ``train_parts: new-motion`` trains these
        self.new_tensors: list[str] = []
        if cfg.init and cfg.model_overrides:
            from edgevfi.checkpoint import grow_checkpoint

            self.model, self.new_tensors = grow_checkpoint(cfg.init, cfg.model_overrides)
        elif cfg.init:
            from edgevfi.checkpoint import load_checkpoint

            self.model = load_checkpoint(cfg.init)
        else:
            self.model = models.create(cfg.model, **cfg.model_overrides)
        if cfg.init_motion:
            self.model = with_motion_stage(self.model, cfg.init_motion)
        self.model.to(self.device).train()
        self._check_stage_weights()
        self.opt = torch.optim.AdamW(self._param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.step = 0
        self.best = -math.inf
        self.last_val: tuple[int, float] | None = None  # (step, PSNR) of the latest validation
        self.dataset = dataset if dataset is not None else self._default_dataset()
        self.teacher = None
        if cfg.distill_weight:
            from edgevfi.train.teacher import RIFEFlowTeacher

            self.teacher = RIFEFlowTeacher(self.device)
        self._log_file = open(self.out / "log.txt", "a")
        if (self.out / "last.pt").exists():
            self._resume()
            self.record_setting_changes()
        else:
            _write_json(self.out / "config.json", asdict(cfg))
            # The start weights' digests as they were when the run began: the files at these paths
            # may be replaced later (a shipped checkpoint is its own successor's init).
            starts = {f"{k}_sha256": sha256_file(getattr(cfg, k)) for k in ("init", "init_motion") if getattr(cfg, k)}
            _write_json(self.out / "init.json", starts)

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters this run optimises (``train_parts``); the others stay frozen."""
        parts = self.cfg.train_parts
        if parts == "all":
            return list(self.model.parameters())
        motion_terms = self.cfg.distill_weight or self.cfg.motion_photometric_weight
        new = set(self.new_tensors)
        if parts == "synthesis":
            if motion_terms:
                raise ValueError(
                    "train_parts: synthesis freezes the motion stage: set distill_weight and "
                    "motion_photometric_weight to 0"
                )
        elif self.cfg.motion_only:
            if not motion_terms:
                raise ValueError(f"train_parts: {parts} needs distill_weight or motion_photometric_weight > 0")
        elif parts != "motion-e2e":
            raise ValueError(f"unknown train_parts {parts!r} (all, motion, motion-e2e, new-motion, synthesis)")
        chosen = []
        for name, p in self.model.named_parameters():
            motion = name.startswith("flow.")
            p.requires_grad_(not motion if parts == "synthesis" else motion and (parts != "new-motion" or name in new))
            if p.requires_grad:
                chosen.append(p)
        if not chosen:
            why = {
                "new-motion": "no new motion tensors: grow the model with init + model_overrides",
                "motion": "no flow.*",
                "motion-e2e": "no flow.*",
                "synthesis": "nothing but flow.*",
            }[parts]
            raise ValueError(f"train_parts {parts}: nothing to train ({why})")
        return chosen

    def _param_groups(self) -> list[dict[str, Any]]:
        """The trained parameters as optimiser groups, each with its ``lr_scale``: ``new_lr_scale`` for
        the grown model's new tensors and those named by ``fast_prefixes``, 1 for the rest."""
        params = self.trained_parameters()
        new_names, prefixes = set(self.new_tensors), tuple(self.cfg.fast_prefixes)
        scaled_ids = {id(p) for n, p in self.model.named_parameters() if n in new_names or n.startswith(prefixes)}
        if self.cfg.new_lr_scale == 1.0 or not scaled_ids:
            return [{"params": params, "lr_scale": 1.0}]
        groups = [
            {"params": [p for p in params if id(p) not in scaled_ids], "lr_scale": 1.0},
            {"params": [p for p in params if id(p) in scaled_ids], "lr_scale": self.cfg.new_lr_scale},
        ]
        return [g for g in groups if g["params"]]

    def _check_stage_weights(self) -> None:
        weights = self.cfg.distill_stage_weights
        if not weights:
            return
        if self.model.config.family != "apr" or not self.cfg.distill_weight or not self.cfg.motion_only:
            raise ValueError("distill_stage_weights needs an APR model, distill_weight > 0 and train_parts motion")
        blocks = len(self.model.flow.blocks)
        if len(weights) != blocks - 1:
            raise ValueError(
                f"distill_stage_weights: {len(weights)} weights for a {blocks}-block motion pyramid "
                f"(one per block before the last: {blocks - 1})"
            )

    def _default_dataset(self) -> Any:
        from edgevfi.data.video import build_training_set

        return build_training_set(
            Path(self.cfg.data),
            crop=self.cfg.crop,
            seed=self.cfg.seed,
            max_side=self.cfg.max_side,
            cache_dir=Path(self.cfg.cache),
        )

    def log(self, msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, flush=True)
        self._log_file.write(line + "\n")
        self._log_file.flush()

    # --- checkpoints ---------------------------------------------------------------------
    def save(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "best": self.best,
            "rng": _rng_state(),
            "gen": self.gen.get_state(),
        }
        tmp = self.out / "last.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.out / "last.pt")

    def _resume(self) -> None:
        state = torch.load(self.out / "last.pt", map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        try:
            self.opt.load_state_dict(state["optimizer"])
        except ValueError:
            raise ValueError(
                f"{self.out / 'last.pt'}: its optimizer state does not fit the parameters this run trains "
                "(train_parts changed?); start a new run (another out) from these weights with init"
            ) from None
        self.step = int(state["step"])
        self.best = float(state["best"])
        _set_rng_state(state["rng"])
        self.gen.set_state(state["gen"])
        self.log(f"resumed at step {self.step} (best val {self.best:.3f} dB)")

    def record_setting_changes(self) -> None:
        """Keep ``config.json`` true when a run is resumed with other settings (e.g. a shorter cosine).

        The old values are not lost: each change is appended to ``config_changes.json`` with the step
        it took effect at, so a model card can tell the run's real schedule.
        """
        path = self.out / "config.json"
        new = json.loads(json.dumps(asdict(self.cfg)))  # tuples as lists, as config.json stores them
        if not path.exists():  # nothing to compare with: the run's old settings are unknown
            _write_json(path, new)
            return
        old = json.loads(path.read_text())
        # A setting that TrainConfig gained after the run started is absent from its config.json; the
        # run used that setting's default until now, so the default is its old value.
        defaults = json.loads(json.dumps(asdict(TrainConfig())))
        before = {k: old.get(k, defaults[k]) for k in new}
        changed = {k: [before[k], v] for k, v in new.items() if before[k] != v}
        if not changed:
            if set(new) - set(old):  # only new keys, at their defaults: complete config.json
                _write_json(path, new)
            return
        for k, (a, b) in changed.items():
            self.log(f"setting {k} changed on resume at step {self.step}: {a!r} -> {b!r}")
        history_path = self.out / "config_changes.json"
        history = json.loads(history_path.read_text()) if history_path.exists() else []
        history.append({"step": self.step, "time": time.strftime("%Y-%m-%d %H:%M:%S"), "changed": changed})
        _write_json(history_path, history)
        _write_json(path, new)

    # --- loop ----------------------------------------------------------------------------
    def batches(self) -> Iterator[dict[str, Tensor]]:
        """Deterministic batches: sample ``i`` of step ``s`` is dataset item ``s * batch + i``.

        With ``loader_threads`` the items of the next steps are made in threads while the current
        step runs (on a GPU the step is shorter than making its items); an item's randomness is
        seeded by its index, so the batches are exactly those made without threads.
        """
        B = self.cfg.batch

        def collate(items: list[dict[str, Any]]) -> dict[str, Tensor]:
            batch = {
                k: torch.stack([torch.as_tensor(it[k]) for it in items]).to(self.device) for k in ("img0", "img1", "gt")
            }
            batch["t"] = torch.tensor([float(it["t"]) for it in items], device=self.device)
            return batch

        if not self.cfg.loader_threads:
            while True:
                yield collate([self.dataset[self.step * B + i] for i in range(B)])
        with ThreadPoolExecutor(self.cfg.loader_threads) as pool:
            pending: deque[list[Future]] = deque()
            step = self.step
            try:
                while True:
                    while len(pending) < 3:  # this step and two ahead
                        pending.append([pool.submit(self.dataset.__getitem__, step * B + i) for i in range(B)])
                        step += 1
                    yield collate([f.result() for f in pending.popleft()])
            finally:
                for futures in pending:
                    for f in futures:
                        f.cancel()

    def train(self, steps: int | None = None) -> dict[str, float]:
        cfg = self.cfg
        end = min(cfg.steps, self.step + steps) if steps else cfg.steps
        last_save = time.monotonic()
        losses_csv = self.out / "losses.csv"
        new_csv = not losses_csv.exists()
        parts: dict[str, float] = {}
        t0 = time.monotonic()
        with open(losses_csv, "a", newline="") as fcsv:
            writer = None
            for batch in self.batches():
                if self.step >= end:
                    break
                for g in self.opt.param_groups:
                    g["lr"] = lr_at(self.step, cfg) * g.get("lr_scale", 1.0)
                self.opt.zero_grad(set_to_none=True)
                parts = self.accumulate_gradients(batch)
                torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], 1.0)
                self.opt.step()
                self.step += 1
                if writer is None:
                    writer = csv.DictWriter(fcsv, fieldnames=["step", "lr", *parts.keys()], extrasaction="ignore")
                    if new_csv:
                        writer.writeheader()
                writer.writerow({"step": self.step, "lr": lr_at(self.step - 1, cfg), **parts})
                if self.step % cfg.log_every == 0:
                    fcsv.flush()
                    rate = cfg.log_every / (time.monotonic() - t0)
                    t0 = time.monotonic()
                    self.log(
                        f"step {self.step} "
                        + " ".join(f"{k}={v:.4f}" for k, v in parts.items())
                        + f" ({rate:.2f} it/s)"
                    )
                # The end of the schedule is always scored: a cosine cut to a length that is not a
                # multiple of val_every would otherwise end unscored (and not kept as best).
                if cfg.val and cfg.val_every and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                    self.validate()
                if time.monotonic() - last_save > cfg.checkpoint_minutes * 60:
                    self.save()
                    last_save = time.monotonic()
        self.save()
        if self.step >= cfg.steps:
            self.save_final()
        return parts

    def accumulate_gradients(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """Backpropagate ``batch``'s loss in chunks of ``micro_batch`` samples; the loss parts' means.

        Each chunk's loss is weighted by its share of the batch, so the summed gradients are those of
        the batch's mean loss (up to the per-chunk draws of :func:`compute_loss`, such as the canvas).
        """
        B = batch["img0"].shape[0]
        size = self.cfg.micro_batch if 0 < self.cfg.micro_batch < B else B
        parts: dict[str, float] = {}
        for start in range(0, B, size):
            chunk = {k: v[start : start + size] for k, v in batch.items()}
            share = chunk["img0"].shape[0] / B
            loss, chunk_parts = compute_loss(self.model, chunk, self.cfg, self.gen, self.teacher)
            (loss * share).backward()  # share 1.0 is exact: a whole batch trains as it always did
            for k, v in chunk_parts.items():
                parts[k] = parts.get(k, 0.0) + share * v
        return parts

    def save_final(self) -> Path:
        """Weights at the end of the schedule as ``final.safetensors``: what a run ships.

        ``best.safetensors`` is the val-picked step; shipping the end of the cosine instead keeps the
        val set out of model selection.
        """
        extra: dict[str, Any] = {"step": self.step}
        if self.last_val is not None and self.last_val[0] == self.step:
            extra["val_psnr"] = self.last_val[1]
        return save_checkpoint(self.model, self.out / "final.safetensors", extra=extra)

    def validate(self) -> float:
        from edgevfi.evaluate import quick_psnr

        if not self.cfg.val or not Path(self.cfg.val).exists():
            return math.nan
        score = quick_psnr(self.model, self.cfg.val, self.cfg.val_limit)
        self.model.train()
        with open(self.out / "val.csv", "a") as f:
            f.write(f"{self.step},{score:.4f}\n")
        self.last_val = (self.step, score)
        if score > self.best:
            self.best = score
            save_checkpoint(self.model, self.out / "best.safetensors", extra={"step": self.step, "val_psnr": score})
        self.log(f"val step {self.step}: {score:.3f} dB (best {self.best:.3f})")
        return score
