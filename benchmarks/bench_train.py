"""Training throughput: samples/s of ``real3d.train.train`` (the real loop: data loading,
augmentation, forward and backward of both heads, AdamW, the CSV log) on each device and
batch size asked for. Prints a markdown table with the machine and library versions.

Each row is one training run of ``--warmup + --steps`` steps from a fixed init; the time of
the last ``--steps`` steps is read from the run's own log (its ``seconds`` column), so
start-up, the warm-up steps and the final checkpoint are not counted. ``--repeats`` runs
per row give the median and the range. The data are a cached data spec (``--cache``
renders it once, or reads a cache rendered elsewhere by the same engine code).

    python benchmarks/bench_train.py --devices cpu --batch-sizes 8 --threads 2
    python benchmarks/bench_train.py --devices cuda --batch-sizes 8,32,128 --workers 12
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
from pathlib import Path

import torch


def _run(cfg_kw: dict, data, warmup: int, steps: int) -> dict:
    from real3d.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(out_dir=d, steps=warmup + steps, ckpt_every=10**9, **cfg_kw)
        if cfg.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        s = train(cfg, dataset=data, resume=False, progress=False)
        with open(Path(d) / "log.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    t = {int(r["step"]): float(r["seconds"]) for r in rows}
    dt = t[warmup + steps] - t[warmup]
    out = {
        "samples_per_s": steps * cfg.batch_size / dt,
        "step_ms": 1000 * dt / steps,
        "loss_first": s["losses"][0],
        "loss_last": s["losses"][-1],
        "amp": s["amp"],
    }
    if cfg.device.startswith("cuda"):
        out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="rgbd-small")
    ap.add_argument("--devices", default="cpu", help="comma-separated: cpu, cuda")
    ap.add_argument("--batch-sizes", default="8")
    ap.add_argument("--size", default="192x256", help="training crop HxW")
    ap.add_argument("--data", default="synth:kind=mixed,size=240x320,seed=0,n=64")
    ap.add_argument("--cache", default="runs/cache/bench_train")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader processes")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the training process")
    ap.add_argument("--amp", default="auto")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()

    from real3d.core.machine import describe_machine
    from real3d.train import open_data

    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.lower().split("x"))
    data = open_data(args.data, args.cache, progress=True)
    rows = []
    for dev in args.devices.split(","):
        for b in (int(v) for v in args.batch_sizes.split(",")):
            kw = dict(
                preset=args.preset,
                batch_size=b,
                crop_hw=(h, w),
                lr=3e-4,
                warmup_steps=5,
                amp=args.amp,
                workers=args.workers,
                threads=args.threads,
                device=dev,
                seed=0,
            )
            runs = [_run(kw, data, args.warmup, args.steps) for _ in range(args.repeats)]
            sps = [r["samples_per_s"] for r in runs]
            row = {
                "device": dev,
                "batch": b,
                "amp": runs[0]["amp"],
                "samples_per_s": statistics.median(sps),
                "min": min(sps),
                "max": max(sps),
                "step_ms": statistics.median(r["step_ms"] for r in runs),
                "peak_gib": runs[0].get("peak_gib"),
                "loss_first": runs[0]["loss_first"],
                "loss_last": runs[0]["loss_last"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(
        f"\n{args.preset}, crops {h}x{w}, {args.steps} timed steps after {args.warmup}, median of "
        f"{args.repeats}; data {args.data}; {args.workers} loader workers, {args.threads} torch threads"
    )
    print(f"CPU {describe_machine(('torch',))}; GPU {gpu}\n")
    print("| device | batch | precision | samples/s (median) | range | ms/step | peak GPU memory (GiB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "-"
        print(
            f"| {r['device']} | {r['batch']} | {r['amp']} | {r['samples_per_s']:.1f} | "
            f"{r['min']:.1f}-{r['max']:.1f} | {r['step_ms']:.1f} | {peak} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
