"""Training loop: a short run on generated data lowers the loss and resumes bit-exactly."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY

from edgevfi.train.loop import TrainConfig, Trainer


class MovingTextures:
    """Generated triplets: a smooth texture translating by (dx, dy) per frame; item = f(idx)."""

    def __getitem__(self, idx: int) -> dict:
        g = torch.Generator().manual_seed(idx)
        dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=g))
        tex = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(64, 64), mode="bicubic")
        tex = tex.clamp(0, 1)[0]

        def crop(k: int) -> torch.Tensor:
            return tex[:, 8 + k * dy : 56 + k * dy, 8 + k * dx : 56 + k * dx]

        return {"img0": crop(0), "gt": crop(1), "img1": crop(2), "t": 0.5}


def _config(tmp_path, steps: int, model: str = "apr-s") -> TrainConfig:
    family = "apr" if model.startswith("apr") else "svmv"
    return TrainConfig(
        model=model,
        model_overrides=dict(TINY[family]),
        out=str(tmp_path / "run"),
        steps=steps,
        batch=2,
        crop=48,
        lr=2e-3,
        warmup=2,
        log_every=5,
        val=None,
        threads=1,
        seed=0,
    )


def _fixed_batch_loss(model: torch.nn.Module) -> float:
    data = MovingTextures()
    items = [data[10_000 + i] for i in range(4)]
    batch = {k: torch.stack([it[k] for it in items]) for k in ("img0", "img1", "gt")}
    with torch.no_grad():
        pred = model(batch["img0"], batch["img1"], torch.full((4,), 0.5))
    return float((pred - batch["gt"]).abs().mean())


@pytest.mark.parametrize("model", ["apr-s", "svmv-s"])
def test_short_run_lowers_loss(tmp_path, model):
    trainer = Trainer(_config(tmp_path, 20, model), dataset=MovingTextures())
    before = _fixed_batch_loss(trainer.model.eval())
    trainer.model.train()
    trainer.train()
    assert trainer.step == 20
    after = _fixed_batch_loss(trainer.model.eval())
    assert after < 0.9 * before, (before, after)
    assert (tmp_path / "run" / "last.pt").exists() and (tmp_path / "run" / "losses.csv").exists()


def test_resume_is_bit_exact(tmp_path):
    straight = Trainer(_config(tmp_path / "a", 12, "svmv-s"), dataset=MovingTextures())
    straight.train()
    interrupted = Trainer(_config(tmp_path / "b", 12, "svmv-s"), dataset=MovingTextures())
    interrupted.train(steps=5)
    del interrupted
    resumed = Trainer(_config(tmp_path / "b", 12, "svmv-s"), dataset=MovingTextures())
    assert resumed.step == 5
    resumed.train()
    for (k, v), (_, w) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
