"""Short training of the 3D baselines beside Seg3DNet on the same map samples, then per-voxel
mIoU / accuracy on held-out samples (the 2D fusion they refine scored on the same voxels).

Every model sees the same crops in the same order (one numpy seed), the same loss
(cross-entropy over labelled voxels, ``real3d.train.seg3d.seg3d_loss``; no offset loss), the
same optimiser and schedule (AdamW, linear warm-up then cosine) and the same number of
steps. Seg3DNet runs as ``seg3d-tiny`` without its instance head, so all four predict
classes only from the same inputs (geometry, colour, the fusion's evidence, evidence skip).

    python tools/build_map_dataset.py --seeds 3000-3007 --kind home --out /work/data/base3d/train
    python tools/build_map_dataset.py --seeds 0-2 --kind home --out /work/data/base3d/test
    nice -n 10 python benchmarks/eval_seg3d_baselines.py --train /work/data/base3d/train \\
        --test /work/data/base3d/test --steps 150 --threads 1 --out /work/data/base3d/results.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def _prepared(sample) -> dict:
    """A ``MapSample`` as the row arrays ``augment_crop`` crops (offsets for its contract)."""
    from real3d.train.seg3d import instance_centres

    return {
        "coords": sample.coords.astype(np.int64),
        "tsdf": sample.tsdf,
        "weight": sample.weight,
        "color": sample.color,
        "log_evidence": sample.log_evidence,
        "class_weight": sample.class_weight,
        "points": sample.points,
        "labels": sample.labels,
        "offsets": instance_centres(sample),
        "voxel_size_m": sample.voxel_size_m,
    }


def build(name: str, encoding: tuple[str, ...] | None = None):
    """The network ``name`` (seg3d-tiny or a baseline); with ``encoding``, that input
    encoding and the evidence skip only where it holds the evidence."""
    from real3d.models.seg3d import PRESETS3D, Seg3DNet
    from real3d.models.seg3d_baselines import BASELINES, create_baseline

    cfg = replace(PRESETS3D["seg3d-tiny"], instance_head=False) if name == "seg3d-tiny" else BASELINES[name]
    if encoding is not None:
        cfg = replace(cfg, encoding=encoding, evidence_skip="evidence" in encoding)
    return Seg3DNet(cfg) if name == "seg3d-tiny" else create_baseline(cfg)


def train(net, data: list[dict], steps: int, batch: int, crop_m: float, lr: float, warmup: int, log) -> dict:
    import torch

    from real3d.train.seg3d import augment_crop, seg3d_loss

    rng = np.random.default_rng(0)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    net.train()
    t0 = time.perf_counter()
    run, history = [], []
    for step in range(steps):
        t = (step - warmup) / max(1, steps - warmup)
        for g in opt.param_groups:
            g["lr"] = lr * (step + 1) / warmup if step < warmup else 0.5 * lr * (1 + math.cos(math.pi * t))
        crops = [augment_crop(data[int(rng.integers(len(data)))], crop_m, rng) for _ in range(batch)]
        loss, parts = seg3d_loss(net, crops, None, 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.append(parts["ce"])
        if (step + 1) % 25 == 0 or step + 1 == steps:
            history.append({"step": step + 1, "ce": float(np.mean(run)), "s": time.perf_counter() - t0})
            log(f"  step {step + 1:4d}  ce {history[-1]['ce']:.4f}  {history[-1]['s']:.0f} s")
            run = []
    return {"seconds": time.perf_counter() - t0, "history": history}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, required=True, help="folder of MapSample .npz for training")
    ap.add_argument("--test", type=Path, required=True, help="folder of held-out MapSample .npz")
    ap.add_argument("--models", default="seg3d-tiny,multires,pointnet2,dense-chunk")
    ap.add_argument(
        "--encoding", default=None, help="input encoding for all, e.g. geometry,color (default: each preset's)"
    )
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--crop-m", type=float, default=3.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("out/eval_seg3d_baselines.json"))
    args = ap.parse_args()

    import torch

    from real3d.core.machine import describe_machine
    from real3d.train.map_data import MapSample
    from real3d.train.seg3d import evaluate_seg3d, sample_paths

    torch.set_num_threads(args.threads)
    data = [_prepared(MapSample.load(p)) for p in sample_paths(args.train)]
    print(f"{len(data)} training samples; {describe_machine()}", flush=True)
    results = {
        "machine": describe_machine(),
        "threads": args.threads,
        "args": {k: str(v) for k, v in vars(args).items()},
        "models": {},
    }
    # train every model first, then score them all (the held-out set may still be building)
    nets = {}
    for name in args.models.split(","):
        torch.manual_seed(0)
        net = build(name, None if args.encoding is None else tuple(args.encoding.split(",")))
        params = sum(p.numel() for p in net.parameters())
        print(f"{name}: {params} parameters", flush=True)
        tr = train(net, data, args.steps, args.batch, args.crop_m, args.lr, args.warmup, lambda s: print(s, flush=True))
        nets[name] = net
        results["models"][name] = {"parameters": params, "train": tr}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), args.out.with_name(f"{args.out.stem}_{name}.pt"))
        args.out.write_text(json.dumps(results, indent=2))
    test = sample_paths(args.test)
    print(f"{len(test)} held-out samples", flush=True)
    for name, net in nets.items():
        ev = evaluate_seg3d(net, test)
        results["models"][name]["eval"] = ev
        print(
            f"{name}: fusion mIoU {100 * ev['fusion']['miou']:.1f} acc {100 * ev['fusion']['accuracy']:.1f}; "
            f"network mIoU {100 * ev['network']['miou']:.1f} acc {100 * ev['network']['accuracy']:.1f}; "
            f"predict {ev['predict_ms_mean']:.0f} ms/sample",
            flush=True,
        )
        args.out.write_text(json.dumps(results, indent=2))
    head = "| model | parameters | train s | predict ms/home | mIoU | acc | fusion mIoU | fusion acc |"
    print(f"\n{args.steps} steps of {args.batch} crops each\n{head}")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results["models"].items():
        ev = r["eval"]
        print(
            f"| {name} | {r['parameters']:,} | {r['train']['seconds']:.0f} | {ev['predict_ms_mean']:.0f} | "
            f"{100 * ev['network']['miou']:.1f} | {100 * ev['network']['accuracy']:.1f} | "
            f"{100 * ev['fusion']['miou']:.1f} | {100 * ev['fusion']['accuracy']:.1f} |"
        )


if __name__ == "__main__":
    main()
