"""Segmentation benchmark: params, GMACs, latency (torch eager, ORT FP32, ORT INT8) at
240x320 and 480x640, and held-out synthetic mIoU (refined and coarse heads) for every
preset and baseline. Prints a markdown table with the machine and library versions.

Latencies are medians over ``--repeats`` runs of batch 1 with ``--threads`` threads, after
warm-up. mIoU is measured only for models with trained weights (``--weights NAME=PATH``,
default: the shipped rgbd-default and rgb-default); the others print "-".

    python benchmarks/bench_segmentation.py --threads 2 --repeats 20
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="all", help="comma-separated preset names or 'all'")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--sizes", default="240x320,480x640")
    ap.add_argument("--weights", action="append", default=[], help="NAME=PATH: trained weights for a row")
    ap.add_argument("--heldout", default="synth:kind=mixed,size=240x320,seed=7,n=208")
    ap.add_argument("--heldout-cache", default=None, help="cache folder for the held-out set")
    ap.add_argument("--eval-samples", type=int, default=208)
    ap.add_argument("--calib", default="synth:kind=mixed,size=240x320,seed=11,n=32")
    ap.add_argument("--no-int8", action="store_true")
    args = ap.parse_args()

    from real3d.core.machine import describe_machine
    from real3d.deploy import OrtSegmenter, calibration_feeds, export_onnx, quantize_int8
    from real3d.eval import evaluate_segmentation
    from real3d.eval.timing import median_ms, random_inputs
    from real3d.models import PRESETS, build_model, count_macs, load_model
    from real3d.train.data import open_data

    torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    names = list(PRESETS) if args.presets == "all" else args.presets.split(",")
    weights = (
        dict(w.split("=", 1) for w in args.weights)
        if args.weights
        else {"rgbd-default": "rgbd-default", "rgb-default": "rgb-default"}
    )
    rows = []
    # trained rows first, then architecture-only rows
    models = [(n, load_model(p)) for n, p in weights.items()] + [(n, build_model(n).eval()) for n in names]
    heldout = open_data(args.heldout, args.heldout_cache) if weights else None
    calib_data = open_data(args.calib) if not args.no_int8 else None
    calib_cache: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_seg_"))
    # One process-wide warm-up (thread pool, allocator, kernel selection) before any row is
    # timed: without it the first row measured up to 1.8 times slower than the same network
    # timed later in the run.
    first = models[0][1]
    rgb, depth = random_inputs(first.config, sizes[0])
    with torch.no_grad():
        median_ms(lambda: first(rgb, depth), 20, warmup=10)
    for name, model in models:
        cfg = model.config
        row = {
            "model": name,
            "preset": cfg.name,
            "fusion": cfg.fusion,
            "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        }
        for hw in sizes:
            tag = f"{hw[0]}x{hw[1]}"
            row[f"gmac_{tag}"] = count_macs(model, hw) / 1e9
            rgb, depth = random_inputs(cfg, hw)
            with torch.no_grad():
                row[f"torch_{tag}"] = median_ms(lambda: model(rgb, depth), args.repeats)
                row[f"torch_coarse_{tag}"] = median_ms(lambda: model(rgb, depth, head="coarse"), args.repeats)
        fp32 = export_onnx(model, tmp / f"{name}.onnx", size_hw=sizes[0])
        onnx_paths = {"ort32": fp32}
        if not args.no_int8:
            key = (cfg.uses_rgb, cfg.uses_depth)
            if key not in calib_cache:
                calib_cache[key] = calibration_feeds(cfg, calib_data, n=len(calib_data), size_hw=sizes[0])
            onnx_paths["ort8"] = quantize_int8(fp32, tmp / f"{name}.int8.onnx", calib_cache[key])
        sessions = {k: OrtSegmenter(p, threads=args.threads) for k, p in onnx_paths.items()}
        for k, s in sessions.items():
            for hw in sizes:
                rgb, depth = random_inputs(cfg, hw)
                r = None if rgb is None else rgb.numpy()
                d = None if depth is None else depth.numpy()
                row[f"{k}_{hw[0]}x{hw[1]}"] = median_ms(lambda: s.run(r, d), args.repeats)
        if name in weights and heldout is not None and args.eval_samples > 0:
            n = min(args.eval_samples, len(heldout))
            row["miou"] = 100 * evaluate_segmentation(model, heldout, max_samples=n).miou
            row["miou_coarse"] = 100 * evaluate_segmentation(model, heldout, head="coarse", max_samples=n).miou
            if "ort8" in sessions:
                row["miou_int8"] = 100 * evaluate_segmentation(sessions["ort8"], heldout, max_samples=n).miou
                ref, q = [], []
                with torch.no_grad():
                    for i in range(0, n, max(1, n // 32)):
                        from real3d.train.data import augment

                        smp = augment(heldout[i], cfg.infer_hw, None, torch.Generator())
                        r = smp["rgb"][None] if cfg.uses_rgb else None
                        d = smp["depth_m"][None] if cfg.uses_depth else None
                        ref.append(model(r, d).argmax(1).numpy())
                        q.append(
                            sessions["ort8"]
                            .run(None if r is None else r.numpy(), None if d is None else d.numpy())
                            .argmax(1)
                        )
                row["int8_agree"] = 100 * float(np.mean(np.concatenate(ref) == np.concatenate(q)))
        rows.append(row)
        print(f"done {name}", flush=True)

    print(f"\nmachine: {describe_machine(('torch', 'onnxruntime'))}; {torch.get_num_threads()} torch threads")
    print(f"latency: median of {args.repeats} runs, batch 1, ms; mIoU on {args.heldout} (first {args.eval_samples})\n")
    cols = ["model", "fusion", "params_M"]
    for hw in sizes:
        t = f"{hw[0]}x{hw[1]}"
        cols += [f"gmac_{t}", f"torch_{t}", f"torch_coarse_{t}", f"ort32_{t}"] + ([] if args.no_int8 else [f"ort8_{t}"])
    cols += ["miou", "miou_coarse", "miou_int8", "int8_agree"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "-")
            cells.append(f"{v:.2f}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
