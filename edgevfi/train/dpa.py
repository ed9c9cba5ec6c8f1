"""Training the difficulty pre-assessor (:mod:`edgevfi.models.dpa`) on automatically made labels.

Labels (:func:`make_labels`): the fast and the accurate shipped models interpolate real training
triplets (the same video sampler as model training, never the val set); per patch of
``patch`` pixels we keep the fast model's mean squared error and the accurate model's. No human
annotation and no perceptual network is needed: the paper regresses a perceptual difficulty level of
the fast model's output; offline we use the fast model's log-MSE (the PSNR it reaches) as that
level, and the squared error the accurate model removes as the routing target.

Loss (:func:`dpa_loss`), following the paper's two terms:

* difficulty: L1 between the attention-pooled frame difficulty and the fast model's frame log10 MSE,
  plus L1 per patch (the patch labels are available here, so they are used);
* benefit: L1 per patch on the scaled squared error removed;
* auxiliary (the paper's ``‖S_mean − S_lpips‖``): the mean of the patch difficulty map against the
  dissimilarity of the two input frames. LPIPS needs downloaded weights, so the log10 MSE between
  the input frames stands in for it — the same quantity our difficulty is measured in.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from edgevfi.models.base import TwoStageModel
from edgevfi.models.dpa import BENEFIT_SCALE, DifficultyAssessor, frame_difficulty

log = logging.getLogger(__name__)

#: label patches are this many frame pixels: the assessor sees frames at half size, stride 8
PATCH = 16
EPS = 1e-5


def patch_mse(pred: Tensor, gt: Tensor, patch: int = PATCH) -> Tensor:
    """Mean squared error per ``patch``² block, (B, 1, H/patch, W/patch); the frame must divide."""
    se = ((pred - gt) ** 2).mean(1, keepdim=True)
    return F.avg_pool2d(se, patch)


@torch.no_grad()
def make_labels(
    fast: TwoStageModel,
    accurate: TwoStageModel,
    dataset,
    n: int,
    out: str | Path,
    start: int = 0,
    log_every: int = 50,
) -> Path:
    """Run both models on items ``start .. start+n`` of ``dataset`` and write the label file.

    The ``.npz`` holds ``img0``/``img1`` (uint8 N×H×W×3, the exact frames the models saw),
    ``mse_fast``/``mse_acc`` (float32 N×h×w, per ``PATCH`` block), and the items' clip names.
    Written to a temp file and renamed.
    """
    fast, accurate = fast.eval(), accurate.eval()
    img0s, img1s, mf, ma, clips = [], [], [], [], []
    t0 = time.perf_counter()
    for k in range(n):
        item = dataset[start + k]
        # Quantised to 8 bit first: the assessor is trained on exactly the frames the labels come from.
        a = (item["img0"] * 255).round().clamp(0, 255).to(torch.uint8)
        b = (item["img1"] * 255).round().clamp(0, 255).to(torch.uint8)
        g = item["gt"][None]
        x0, x1 = a[None].float() / 255, b[None].float() / 255
        t = item["t"]
        mf.append(patch_mse(fast(x0, x1, t).clamp(0, 1), g)[0, 0].numpy())
        ma.append(patch_mse(accurate(x0, x1, t).clamp(0, 1), g)[0, 0].numpy())
        img0s.append(a.permute(1, 2, 0).numpy())
        img1s.append(b.permute(1, 2, 0).numpy())
        clips.append(str(item.get("clip", "")))
        if log_every and (k + 1) % log_every == 0:
            log.info("labels %d/%d (%.2f s/item)", k + 1, n, (time.perf_counter() - t0) / (k + 1))
    out = Path(out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(
            tmp,
            img0=np.stack(img0s),
            img1=np.stack(img1s),
            mse_fast=np.stack(mf).astype(np.float32),
            mse_acc=np.stack(ma).astype(np.float32),
            clips=np.array(clips),
        )
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


class LabelSet:
    """Label file(s) in memory; ``batch(idx, rng)`` returns augmented tensors for training."""

    def __init__(self, paths: list[str | Path]) -> None:
        parts = [np.load(p) for p in paths]
        self.img0 = np.concatenate([p["img0"] for p in parts])
        self.img1 = np.concatenate([p["img1"] for p in parts])
        self.mse_fast = np.concatenate([p["mse_fast"] for p in parts])
        self.mse_acc = np.concatenate([p["mse_acc"] for p in parts])
        self.clips = np.concatenate([p["clips"] for p in parts])

    def subset(self, keep: np.ndarray) -> LabelSet:
        """The items selected by a boolean mask or index array."""
        out = object.__new__(LabelSet)
        for k in ("img0", "img1", "mse_fast", "mse_acc", "clips"):
            setattr(out, k, getattr(self, k)[keep])
        return out

    def split_by_clip(self, every: int = 5) -> tuple[LabelSet, LabelSet]:
        """(train, held-out): every ``every``-th clip (sorted by name) is held out whole."""
        names = sorted(set(self.clips.tolist()))
        held = set(names[::every])
        mask = np.array([c in held for c in self.clips.tolist()])
        return self.subset(~mask), self.subset(mask)

    def __len__(self) -> int:
        return len(self.img0)

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        x0 = torch.from_numpy(self.img0[idx]).permute(0, 3, 1, 2).float() / 255
        x1 = torch.from_numpy(self.img1[idx]).permute(0, 3, 1, 2).float() / 255
        mf = torch.from_numpy(self.mse_fast[idx])[:, None]
        ma = torch.from_numpy(self.mse_acc[idx])[:, None]
        if rng is not None:
            # Flips move the labels with the pixels; swapping the frames keeps the middle frame.
            if rng.random() < 0.5:
                x0, x1, mf, ma = (v.flip(-1) for v in (x0, x1, mf, ma))
            if rng.random() < 0.5:
                x0, x1, mf, ma = (v.flip(-2) for v in (x0, x1, mf, ma))
            if rng.random() < 0.5:
                x0, x1 = x1, x0
        return {"img0": x0, "img1": x1, "mse_fast": mf, "mse_acc": ma}


def assessor_inputs(img0: Tensor, img1: Tensor) -> tuple[Tensor, Tensor]:
    """Frames at label resolution → the assessor's half-size inputs (area average, as at run time)."""
    return F.avg_pool2d(img0, 2), F.avg_pool2d(img1, 2)


def dpa_loss(
    model: DifficultyAssessor, batch: dict[str, Tensor], aux_weight: float = 0.1
) -> tuple[Tensor, dict[str, float]]:
    """The paper's difficulty + auxiliary loss, plus the per-patch benefit regression."""
    a0, a1 = assessor_inputs(batch["img0"], batch["img1"])
    diff, benefit, att = model(a0, a1)
    mf, ma = batch["mse_fast"], batch["mse_acc"]
    target_d = torch.log10(mf + EPS)
    target_frame = torch.log10(mf.flatten(1).mean(1) + EPS)
    target_b = (mf - ma) * BENEFIT_SCALE
    l_frame = (frame_difficulty(diff, att) - target_frame).abs().mean()
    l_patch = (diff - target_d).abs().mean()
    l_benefit = (benefit - target_b).abs().mean()
    input_mse = ((batch["img0"] - batch["img1"]) ** 2).flatten(1).mean(1)
    l_aux = (diff.flatten(1).mean(1) - torch.log10(input_mse + EPS)).abs().mean()
    loss = l_frame + l_patch + l_benefit + aux_weight * l_aux
    return loss, {
        "frame": float(l_frame.detach()),
        "patch": float(l_patch.detach()),
        "benefit": float(l_benefit.detach()),
        "aux": float(l_aux.detach()),
        "loss": float(loss.detach()),
    }


@dataclass
class DPATrainConfig:
    steps: int = 3000
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    aux_weight: float = 0.1
    seed: int = 0
    log_every: int = 100


def train_assessor(
    model: DifficultyAssessor,
    labels: LabelSet,
    cfg: DPATrainConfig,
    held_out: LabelSet | None = None,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Adam with cosine decay; returns the final held-out metrics (if given) and the loss curve."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps))
    )
    curve = []
    model.train()
    for step in range(1, cfg.steps + 1):
        idx = rng.choice(len(labels), size=min(cfg.batch, len(labels)), replace=False)
        loss, parts = dpa_loss(model, labels.batch(idx, rng), cfg.aux_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % cfg.log_every == 0 or step == cfg.steps:
            row = {"step": step, **parts}
            if held_out is not None:
                row.update({f"held_{k}": v for k, v in evaluate_assessor(model, held_out).items()})
                model.train()
            curve.append(row)
            if on_log:
                on_log(step, row)
    model.eval()
    return {"curve": curve, "config": asdict(cfg)}


@torch.no_grad()
def evaluate_assessor(model: DifficultyAssessor, labels: LabelSet, batch: int = 32) -> dict[str, float]:
    """Held-out loss and rank correlations: predicted vs true pair gain and per-patch benefit."""
    from edgevfi.models.dpa import pair_gain_db

    model.eval()
    losses, pred_gain, true_gain, pb, tb = [], [], [], [], []
    for s in range(0, len(labels), batch):
        b = labels.batch(np.arange(s, min(len(labels), s + batch)))
        loss, _ = dpa_loss(model, b)
        losses.append(float(loss) * len(b["img0"]))
        diff, benefit, _ = model(*assessor_inputs(b["img0"], b["img1"]))
        pred_gain.append(pair_gain_db(diff, benefit))
        mf = b["mse_fast"].flatten(1).mean(1)
        ma = b["mse_acc"].flatten(1).mean(1)
        true_gain.append(10 * torch.log10((mf + EPS) / (ma + EPS)))
        pb.append(benefit.flatten())
        tb.append(((b["mse_fast"] - b["mse_acc"]) * BENEFIT_SCALE).flatten())
    return {
        "loss": sum(losses) / len(labels),
        "gain_spearman": spearman(torch.cat(pred_gain), torch.cat(true_gain)),
        "benefit_spearman": spearman(torch.cat(pb), torch.cat(tb)),
    }


def spearman(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation of two 1-D tensors."""
    ra = a.argsort().argsort().double()
    rb = b.argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-12))


def write_log(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
