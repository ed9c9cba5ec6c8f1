"""Difficulty-aware routing (VFI-DPA): the quality–compute curve, in ONE run.

For each triplet folder (default: ``../shared/data/val`` and the training-disjoint OpenCV clips of
``scripts/holdout_triplets.py``), every frame pair runs once through the one tiled Runner with the
fast model on every window and once with the accurate model on every window; every routing policy
then blends its choice of those windows with :func:`~edgevfi.runtime.blend_windows` (exactly what a
routed Runner computes). Policies, at budgets 0 … 1 (share of windows — or of pairs — sent to the
accurate model):

* ``assessor``: the shipped assessor (or each ``--assessor``), per tile by the fast model's predicted
  error (``NAME``) or by the predicted benefit (``NAME:benefit``), per pair by predicted PSNR gain;
* ``random``: the same number of windows/pairs picked at random (mean of 5 seeds);
* ``oracle``: the best possible choice, from the true errors (per tile: squared error removed under
  the window's blend weight; per pair: the true PSNR gain).

Per pair, the budget is spent over the whole set (the top share of pairs); per tile, within each
frame (``round(budget · windows)``). Time per frame comes from the stage times measured in this run
(assess, each motion stage, each window): the sum of the stages a policy runs.

    python benchmarks/routing.py [--data DIR ...] [--assessor PATH ...] [--out out/routing]

Writes ``routing.json``, ``routing.md`` and ``routing.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

from edgevfi import models
from edgevfi.checkpoint import load_assessor
from edgevfi.data.triplets import find_triplets, load_image
from edgevfi.metrics import psnr, quantize_8bit
from edgevfi.runtime import EagerBackend, Route, Router, Runner, blend_windows
from edgevfi.runtime.routing import EagerAssessBackend, top_windows, window_sums

BUDGETS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
ROOT = Path(__file__).resolve().parents[1]


class Timed:
    """Wraps a backend's calls, adding their wall time to a per-stage dict."""

    def __init__(self, inner, times: dict[str, float], prefix: str) -> None:
        self.inner, self.times, self.prefix = inner, times, prefix

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _timed(self, stage: str, fn, *a):
        t0 = time.perf_counter()
        out = fn(*a)
        self.times[stage] = self.times.get(stage, 0.0) + time.perf_counter() - t0
        return out

    def motion(self, *a):
        return self._timed(f"{self.prefix}_motion", self.inner.motion, *a)

    def synthesize(self, *a):
        return self._timed(f"{self.prefix}_synth", self.inner.synthesize, *a)

    def assess(self, *a):
        return self._timed("assess", self.inner.assess, *a)


def triplet_record(runner: Runner, routers: dict[str, Router], folder: Path, times: dict[str, float]) -> dict:
    a, gt, b = (load_image(folder / f"im{i}.png")[None] for i in (1, 2, 3))
    H, W = a.shape[-2:]
    plan = runner.plan((H, W))
    tiles = {}
    for key, route in (("fast", Route.none(plan)), ("accurate", Route.all(plan))):
        pair = runner.prepare(a, b, route=route)
        tiles[key] = {(iy, ix): (region, tile) for iy, ix, region, tile in runner.window_tiles(pair, 0.5, plan)}
    full = {k: blend_windows(plan, ((iy, ix, r, t) for (iy, ix), (r, t) in v.items())) for k, v in tiles.items()}
    se = {k: ((quantize_8bit(v[0]) - gt[0]) ** 2).mean(0) for k, v in full.items()}
    canvas = runner.backend.default_canvas((H, W))
    scores = {}
    for name, router in routers.items():
        s = router.scores(a, b, canvas, plan)
        scores[name] = {"gain": s.gain_db, "tiles": list(s.tile_error)}
        scores[f"{name}:benefit"] = {"gain": s.gain_db, "tiles": list(s.tile_benefit)}
    oracle_tiles = window_sums(se["fast"] - se["accurate"], plan)
    psnrs = {k: psnr(quantize_8bit(v[0]), gt[0]) for k, v in full.items()}
    return {
        "path": str(folder),
        "plan": plan,
        "tiles": tiles,
        "gt": gt[0],
        "psnr": psnrs,
        "scores": scores,
        "oracle": {"gain": psnrs["accurate"] - psnrs["fast"], "tiles": oracle_tiles},
    }


def tile_policy_psnr(rec: dict, route: Route) -> float:
    plan = rec["plan"]
    chosen = (
        (iy, ix, *rec["tiles"]["accurate" if (iy, ix) in route.accurate else "fast"][(iy, ix)])
        for iy, ix, _ in plan.indexed_windows()
    )
    return psnr(quantize_8bit(blend_windows(plan, chosen)[0]), rec["gt"])


def curves(records: list[dict], assessors: list[str], seeds: int = 5) -> dict:
    n = len(records)
    out: dict = {"tile": {}, "pair": {}, "fraction": {}}
    policies = [*assessors, "random", "oracle"]
    for budget in BUDGETS:
        row_t, row_p, frac = {}, {}, {}
        for pol in policies:
            if pol == "random":
                vals, fr = [], []
                for seed in range(seeds):
                    rng = random.Random(seed)
                    for rec in records:
                        k = len(rec["plan"].windows())
                        route = top_windows([rng.random() for _ in range(k)], rec["plan"], budget)
                        vals.append(tile_policy_psnr(rec, route))
                        fr.append(route.fraction)
                row_t[pol] = sum(vals) / len(vals)
                frac[pol] = sum(fr) / len(fr)
                pv = []
                for seed in range(seeds):
                    pick = set(random.Random(100 + seed).sample(range(n), round(budget * n)))
                    pv += [records[i]["psnr"]["accurate" if i in pick else "fast"] for i in range(n)]
                row_p[pol] = sum(pv) / len(pv)
                continue
            src = (lambda rec, pol=pol: rec["oracle"]) if pol == "oracle" else (lambda rec, pol=pol: rec["scores"][pol])
            vals, fr = [], []
            for rec in records:
                route = top_windows(src(rec)["tiles"], rec["plan"], budget)
                vals.append(tile_policy_psnr(rec, route))
                fr.append(route.fraction)
            row_t[pol] = sum(vals) / n
            frac[pol] = sum(fr) / n
            order = sorted(range(n), key=lambda i: -src(records[i])["gain"])
            pick = set(order[: round(budget * n)])
            row_p[pol] = sum(records[i]["psnr"]["accurate" if i in pick else "fast"] for i in range(n)) / n
        out["tile"][str(budget)] = row_t
        out["pair"][str(budget)] = row_p
        out["fraction"][str(budget)] = frac
    out["fast"] = sum(r["psnr"]["fast"] for r in records) / n
    out["accurate"] = sum(r["psnr"]["accurate"] for r in records) / n
    gap = out["accurate"] - out["fast"]
    out["gap_recovered_at_0.3"] = {
        how: {pol: (out[how]["0.3"][pol] - out["fast"]) / gap if gap else None for pol in policies}
        for how in ("tile", "pair")
    }
    return out


def frame_seconds(times: dict[str, float], counts: dict[str, int], budget: float, how: str) -> dict[str, float]:
    """Mean seconds per frame of always-fast, always-accurate and a routed run at ``budget``."""
    per = {k: times.get(k, 0.0) / max(1, counts.get(k, 1)) for k in times}
    w = counts["windows"] / counts["frames"]
    fast = per["fast_motion"] + w * per["fast_synth"]
    acc = per["accurate_motion"] + w * per["accurate_synth"]
    if how == "pair":
        routed = per["assess"] + (1 - budget) * fast + budget * acc
    else:  # per tile: both motion stages whenever any window is routed; synth per window
        any_acc = 1.0 if budget > 0 else 0.0
        routed = per["assess"] + per["fast_motion"] + any_acc * per["accurate_motion"]
        routed += w * ((1 - budget) * per["fast_synth"] + budget * per["accurate_synth"])
    return {"fast": fast, "accurate": acc, "routed": routed, "assess": per["assess"]}


def markdown(name: str, c: dict, assessors: list[str], secs: dict) -> str:
    pols = [*assessors, "random", "oracle"]
    lines = [
        f"### {name}: always-fast {c['fast']:.3f} dB, always-accurate {c['accurate']:.3f} dB "
        f"(gap {c['accurate'] - c['fast']:+.3f} dB)",
        "",
        "| budget | " + " | ".join(f"tile: {p}" for p in pols) + " | " + " | ".join(f"pair: {p}" for p in pols) + " |",
        "| --- " * (1 + 2 * len(pols)) + "|",
    ]
    for b in BUDGETS:
        t, p = c["tile"][str(b)], c["pair"][str(b)]
        lines.append(
            f"| {b:.1f} | "
            + " | ".join(f"{t[x]:.3f}" for x in pols)
            + " | "
            + " | ".join(f"{p[x]:.3f}" for x in pols)
            + " |"
        )
    rec = c["gap_recovered_at_0.3"]
    lines += [
        "",
        "Share of the fast→accurate gap recovered at budget 0.3: "
        + "; ".join(f"per {how}: " + ", ".join(f"{p} {rec[how][p]:.0%}" for p in pols) for how in ("tile", "pair")),
        "",
        f"Seconds per frame (this run's stage times, mean frame of this set): always-fast {secs['fast']:.3f}, "
        f"always-accurate {secs['accurate']:.3f}, assessor {secs['assess'] * 1000:.1f} ms; at budget 0.3 "
        f"per tile {secs['tile_0.3']:.3f}, per pair {secs['pair_0.3']:.3f}",
    ]
    return "\n".join(lines)


def plot(results: dict, assessors: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(results)
    fig, axes = plt.subplots(len(sets), 2, figsize=(10, 3.6 * len(sets)), squeeze=False)
    for r, name in enumerate(sets):
        c = results[name]["curves"]
        for col, how in enumerate(("tile", "pair")):
            ax = axes[r][col]
            for pol in [*assessors, "random", "oracle"]:
                ax.plot(BUDGETS, [c[how][str(b)][pol] for b in BUDGETS], marker="o", label=pol)
            ax.axhline(c["fast"], color="grey", ls=":", label="always fast")
            ax.axhline(c["accurate"], color="black", ls="--", label="always accurate")
            ax.set_title(f"{name}: routing per {how}")
            ax.set_xlabel("budget (share sent to the accurate model)")
            ax.set_ylabel("PSNR (dB)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared_val = ROOT.parent / "shared" / "data" / "val"
    p.add_argument("--data", nargs="+", default=[str(shared_val), str(ROOT / "cache" / "holdout")])
    p.add_argument("--fast", default="apr-s")
    p.add_argument("--accurate", default="svmv-s")
    p.add_argument("--assessor", nargs="+", default=[str(models.WEIGHTS_DIR / "dpa-s.safetensors")])
    p.add_argument("--out", default="out/routing")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    times: dict[str, float] = {}
    fast = Timed(EagerBackend(models.create(a.fast, pretrained=True)), times, "fast")
    acc = Timed(EagerBackend(models.create(a.accurate, pretrained=True)), times, "accurate")
    routers, policies = {}, []
    for path in a.assessor:
        model, extra = load_assessor(path)
        name = Path(path).stem
        policies.append(name)
        policies.append(f"{name}:benefit")
        routers[name] = Router(
            Timed(EagerAssessBackend(model), times, "assess"), acc, calibration=extra.get("calibration")
        )
    runner = Runner(fast, router=next(iter(routers.values())))
    results = {}
    for data in a.data:
        folders = find_triplets(data)
        if not folders:
            print(f"skipping {data}: no triplets", file=sys.stderr)
            continue
        times.clear()
        records = [triplet_record(runner, routers, f, times) for f in folders]
        counts = {
            "frames": len(records),
            "windows": sum(len(r["plan"].windows()) for r in records),
            "fast_motion": len(records),
            "accurate_motion": len(records),
            "fast_synth": sum(len(r["plan"].windows()) for r in records),
            "accurate_synth": sum(len(r["plan"].windows()) for r in records),
            "assess": len(records) * len(routers),
        }
        c = curves(records, policies)
        secs = frame_seconds(times, counts, 0.3, "tile")
        secs["tile_0.3"] = secs["routed"]
        secs["pair_0.3"] = frame_seconds(times, counts, 0.3, "pair")["routed"]
        label = Path(data).name if Path(data).name != "holdout" else "holdout (OpenCV clips)"
        results[label] = {
            "data": data,
            "n": len(records),
            "curves": c,
            "seconds_per_frame": secs,
            "per_triplet": [
                {
                    "path": r["path"],
                    "psnr": r["psnr"],
                    "oracle_gain": r["oracle"]["gain"],
                    "assessor_gain": {k: v["gain"] for k, v in r["scores"].items()},
                }
                for r in records
            ],
        }
        print(markdown(label, c, policies, secs), flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "routing.json").write_text(
        json.dumps({"fast": a.fast, "accurate": a.accurate, "results": results}, indent=2)
    )
    (out / "routing.md").write_text(
        "\n\n".join(markdown(k, v["curves"], policies, v["seconds_per_frame"]) for k, v in results.items()) + "\n"
    )
    plot(results, policies, out / "routing.png")
    print(f"wrote {out}/routing.json, routing.md, routing.png")


if __name__ == "__main__":
    main()
