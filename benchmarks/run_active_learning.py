"""Active learning and the curated-subset experiment on data-engine homes (docs/active_learning.md).

``loop``: the pool-based loop of ``real3d.train.active`` (what ``real3d data loop`` runs)
for each strategy and seed, plus the whole pool with the same steps (the reference every
curve is read against). Writes OUT/active.json and OUT/active.png and prints the curves.

    python benchmarks/run_active_learning.py loop --seeds 0 --out /work/data/active/al

``curated``: train on the whole pool, on the share left after near-duplicate removal
(``prune_near_duplicates`` on the whole-pool network's embeddings) and on a random share
of the same size, with the same steps; held-out mIoU per seed. The default pool is robot
trajectory frames, every 4th of an 80-frame path (neighbouring frames overlap, as a robot
records them). Writes OUT/curated.json.

    python benchmarks/run_active_learning.py curated --seeds 0,1 --out /work/data/active/curated

``merge``: the runs of several ``loop`` outputs (e.g. one folder per seed, run side by side)
in one OUT/active.json and OUT/active.png.

    python benchmarks/run_active_learning.py merge /work/data/active/al_s0 /work/data/active/al_s1 \
        --out /work/data/active/al

``loop`` and ``curated`` keep trained runs under OUT/runs: a second call with the same
settings reuses them.
Run under ``nice -n 10`` with ``--threads 1`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

CURATED_POOL = "synth:kind=home,size=96x128,seed=31,n=400,camera=robot,traj=80,fps=20"


def host() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        name = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        name = ""
    return name or platform.processor() or "unknown CPU"


def loop(args) -> None:
    from real3d.cli.main import app

    cmd = ["data", "loop", "--pool", args.pool, "--heldout", args.heldout, "--seeds", args.seeds]
    for s in args.strategies.split(","):
        cmd += ["--strategy", s]
    cmd += ["--initial", str(args.initial), "--batch", str(args.batch), "--rounds", str(args.rounds)]
    cmd += ["--steps", str(args.steps), "--batch-size", str(args.batch_size), "--preset", args.preset]
    cmd += ["--threads", str(args.threads), "--cache-dir", str(args.cache_dir), "--out", str(args.out)]
    app(cmd, standalone_mode=False)


def curated(args) -> None:
    import numpy as np

    from real3d.cli.values import parse_seeds
    from real3d.train.active import ActiveConfig, run_curated_subset

    pool = args.pool if args.pool_given else CURATED_POOL
    rows = []
    for seed in parse_seeds(args.seeds):
        cfg = ActiveConfig(
            pool=pool,
            heldout=args.heldout,
            preset=args.preset,
            steps=args.steps,
            batch_size=args.batch_size,
            seed=seed,
            threads=args.threads,
            cache_dir=str(args.cache_dir),
        )
        t0 = time.perf_counter()
        r = run_curated_subset(cfg, args.out, keep=args.keep)
        r["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(r)
        print(
            f"seed {seed}: full {r['full']['miou']:.2f}  curated {r['curated']['miou']:.2f}  "
            f"random {r['random']['miou']:.2f}  ({r['seconds']:.0f} s)",
            flush=True,
        )
    summary = {
        k: {
            "mean": round(float(np.mean([r[k]["miou"] for r in rows])), 2),
            "min": min(r[k]["miou"] for r in rows),
            "max": max(r[k]["miou"] for r in rows),
            "frames": rows[0][k]["frames"],
        }
        for k in ("full", "curated", "random")
    }
    out = {
        "pool": pool,
        "heldout": args.heldout,
        "preset": args.preset,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "keep": args.keep,
        "host": host(),
        "runs": rows,
        "summary": summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curated.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"\n{'set':<10}{'frames':>8}{'mIoU mean':>11}{'min':>8}{'max':>8}")
    for k, s in summary.items():
        print(f"{k:<10}{s['frames']:>8}{s['mean']:>11.2f}{s['min']:>8.2f}{s['max']:>8.2f}")


def merge(args) -> None:
    from real3d.cli.data_cmd import active_plot
    from real3d.train.active import ActiveRun, summarise
    from real3d.viz.outputs import atomic_save_png, write_json

    parts = [json.loads((Path(p) / "active.json").read_text()) for p in args.inputs]
    runs = [ActiveRun.from_dict(r) for p in parts for r in p["runs"]]
    # folders of the same seed (one strategy each) each trained the same whole pool: once per seed
    full = list({f["seed"]: f for p in parts for f in reversed(p["full_pool"])}.values())
    summary = summarise(runs, full)
    config = {**parts[0]["config"], "seeds": sorted({r.seed for r in runs})}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(
        args.out / "active.json", {"config": config, "runs": [r.to_dict() for r in runs], "full_pool": full, **summary}
    )
    atomic_save_png(active_plot(summary), args.out / "active.png")
    print(f"full pool ({summary['full_pool_frames']} frames): {summary['full_pool_miou']:.2f} mean over {full}")
    for name, c in summary["curves"].items():
        pts = ", ".join(
            f"{n:g}: {m:.2f} [{a:.2f}, {b:.2f}]"
            for n, m, a, b in zip(c["labelled"], c["miou_mean"], c["miou_min"], c["miou_max"], strict=True)
        )
        print(f"{name:<16} {pts}  reaches full pool at: {c['reaches_full_pool_at']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("loop", "curated", "merge"))
    ap.add_argument("inputs", nargs="*", type=Path, help="merge: folders of loop outputs")
    ap.add_argument("--pool", default=None, help="pool data spec (loop default: home views, seed 21, 400 frames)")
    ap.add_argument("--heldout", default="synth:kind=home,size=96x128,seed=22,n=96")
    ap.add_argument("--strategies", default="random,entropy,coreset,class_balanced")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--initial", type=int, default=20)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--preset", default="rgbd-tiny")
    ap.add_argument("--keep", type=float, default=0.8, help="curated: share of the pool kept")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/real3d-active-cache"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.pool_given = args.pool is not None
    if args.pool is None:
        args.pool = "synth:kind=home,size=96x128,seed=21,n=400"
    import torch

    print(f"host: {host()}, torch {torch.__version__}, {args.threads} thread(s)", flush=True)
    t0 = time.perf_counter()
    {"loop": loop, "curated": curated, "merge": merge}[args.mode](args)
    print(f"wall: {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
