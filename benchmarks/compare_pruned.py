r"""Pruned against unpruned segmentation models: parameters, MACs and latency of the network
on torch (eager FP32), onnxruntime FP32 and onnxruntime INT8, at several sizes, measured in
one run: every (model, size, backend) row once per round, rounds repeated, so a busy
machine slows all rows alike; medians per row. Optionally (``--eval``) the clean mIoU from
``real3d eval seg`` and the mRR from ``real3d eval robust`` on the same data.

A model is a pretrained name, a preset or a weights path; ``scratch:PATH`` is the
architecture of the weights at PATH with a fresh random init (for the latency of a
same-architecture model before it is trained).

    python benchmarks/compare_pruned.py \
        --models pruned.safetensors,scratch:pruned.safetensors,rgbd-default,base.safetensors
    python benchmarks/compare_pruned.py --models ... \
        --eval "synth:kind=mixed,size=240x320,seed=7,n=200" --max-samples 50
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True, help="comma-separated model specs (name, preset, path, scratch:PATH)")
    ap.add_argument("--sizes", default="240x320,480x640", help="comma-separated network input sizes HxW")
    ap.add_argument("--backends", default="torch,onnx,int8")
    ap.add_argument("--rounds", type=int, default=15, help="timed rounds (each row once per round)")
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    ap.add_argument("--cache", default=None, help="graph cache folder (default: a temporary folder)")
    ap.add_argument("--eval", default=None, help="data spec: also run real3d eval seg and eval robust on it")
    ap.add_argument("--max-samples", type=int, default=None, help="frames of --eval data to score")
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    args = ap.parse_args()

    from real3d.core.machine import describe_machine
    from real3d.models import create_model
    from real3d.models.pretrained import count_macs

    torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    backends = [b for b in args.backends.split(",") if b]
    specs = [m.strip() for m in args.models.split(",") if m.strip()]
    cache = args.cache or tempfile.mkdtemp(prefix="compare_pruned_")
    nets = {spec: _network(spec) for spec in specs}
    rows = {}
    for spec, net in nets.items():
        segs = {"torch": net}
        for b in backends:
            if b != "torch":
                segs[b] = create_model(net, b, cache_dir=cache, threads=args.threads)
        for hw in sizes:
            rgb, depth = _inputs(net, hw)
            for b in backends:
                rows[(spec, hw, b)] = _runner(segs[b], rgb, depth)
        print(f"ready: {spec}", flush=True)

    times = {k: [] for k in rows}
    for rnd in range(args.rounds + 2):
        for k, fn in rows.items():
            t = time.perf_counter()
            fn()
            if rnd >= 2:  # two untimed rounds first
                times[k].append((time.perf_counter() - t) * 1e3)

    table = []
    for spec, net in nets.items():
        row = {
            "model": spec,
            "name": net.config.name,
            "params_m": sum(p.numel() for p in net.parameters()) / 1e6,
        }
        for hw in sizes:
            tag = f"{hw[0]}x{hw[1]}"
            row[f"gmac_{tag}"] = count_macs(net, hw) / 1e9
            for b in backends:
                row[f"{b}_ms_{tag}"] = statistics.median(times[(spec, hw, b)])
        table.append(row)
    if args.eval:
        for row in table:
            if row["model"].startswith("scratch:"):
                continue  # an untrained network: its accuracy means nothing
            row.update(_accuracy(row["model"], args.eval, args.max_samples, args.threads))

    print(f"\nmachine: {describe_machine(('torch', 'onnxruntime', 'torch_pruning'))}")
    print(f"median ms of the network alone over {args.rounds} alternating rounds, {args.threads} thread(s)\n")
    cols = ["model", "name", "params_m"]
    for hw in sizes:
        tag = f"{hw[0]}x{hw[1]}"
        cols += [f"gmac_{tag}"] + [f"{b}_ms_{tag}" for b in backends]
    if args.eval:
        cols += ["miou", "mrr"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in table:
        cells = [f"{r[c]:.2f}" if isinstance(r.get(c), float) else str(r.get(c, "-")) for c in cols]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": describe_machine(("torch",)), "rows": table}, indent=2))


def _network(spec: str):
    """The torch network of a spec; ``scratch:PATH``: PATH's architecture, random init."""
    from real3d.models import create_model
    from real3d.models.pretrained import load_weights
    from real3d.models.segmentation import Real3DVisionNet

    if spec.startswith("scratch:"):
        torch.manual_seed(0)
        return Real3DVisionNet(load_weights(spec.split(":", 1)[1]).config).eval()
    return create_model(spec)


def _inputs(net, hw):
    """A synthetic-looking batch of one at ``hw``: (rgb, depth) tensors as the network takes them."""
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, *hw, generator=g)
    depth = torch.rand(1, 1, *hw, generator=g) * 4.0 + 0.5
    return (rgb if net.config.uses_rgb else None), (depth if net.config.uses_depth else None)


def _runner(seg, rgb, depth):
    if isinstance(seg, torch.nn.Module):

        def run():
            with torch.inference_mode():
                return seg(rgb, depth)

        return run
    r = None if rgb is None else rgb.numpy()
    d = None if depth is None else depth.numpy()
    return lambda: np.asarray(seg.run(r, d))


def _accuracy(spec: str, data: str, max_samples: int | None, threads: int) -> dict:
    """Clean mIoU (``real3d eval seg``) and mRR (``real3d eval robust``) of one model."""
    out = Path(tempfile.mkdtemp(prefix="compare_pruned_eval_"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    limit = ["--max-samples", str(max_samples)] if max_samples else []
    base = [sys.executable, "-m", "real3d.cli.main", "eval"]
    common = ["--model", spec, "--data", data, "--threads", str(threads), *limit]
    subprocess.run([*base, "seg", *common, "--out", str(out / "seg"), "--overlays", "0"], env=env, check=True)
    subprocess.run([*base, "robust", *common, "--out", str(out / "robust")], env=env, check=True)
    seg = json.loads((out / "seg" / "metrics.json").read_text())
    rob = json.loads((out / "robust" / "robustness.json").read_text())
    return {"miou": float(seg["miou"]), "mrr": rob["models"][0]["mrr"]}


if __name__ == "__main__":
    main()
