"""Measure a segmentation model card's figures and write them into the card.

For weights ``W.safetensors`` with card ``W.json``: held-out mIoU of the refined and coarse
heads (torch), the INT8 graph's mIoU and its argmax agreement with the torch FP32 labels on
the same views (INT8 built with the card's ``int8_keep_float``, or with a fresh search when
``--int8-target`` is given, which also rewrites that list), and the NYUv2 sample. The card
is rewritten atomically; ``--dry-run`` only prints.

The held-out figure carries its spread from resampling the held-out scenes
(``real3d.eval.bootstrap_miou``): a 208-view set is 13 scenes, and one model's mIoU moved
by about 2 points between such draws, so the default set is 832 views (52 scenes) whose
first 208 are the set the earlier cards used; that subset's figure is kept beside it.

    python tools/card_metrics.py src/real3d/weights/rgbd-default.safetensors \
        --heldout "synth:kind=mixed,size=240x320,seed=7,n=832" --cache runs/cache/heldout832
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path)
    ap.add_argument("--heldout", default="synth:kind=mixed,size=240x320,seed=7,n=832")
    ap.add_argument(
        "--subset",
        type=int,
        default=208,
        help="also report the first N held-out views (the earlier cards' set); 0 = no",
    )
    ap.add_argument("--cache", type=Path, default=None, help="render the held-out views once into this folder")
    ap.add_argument("--calib", default="synth:kind=mixed,size=240x320,seed=11,n=64")
    ap.add_argument(
        "--int8-target",
        type=float,
        default=0.0,
        help="search the convolutions kept in float anew (e.g. 0.99); 0 = the card's list",
    )
    ap.add_argument("--int8-cost", default="macs", help="macs | count (real3d.deploy.select_float_nodes)")
    ap.add_argument("--int8-weights", default="int7", help="int7 | int8 | uint8 (real3d.deploy.quantize_int8)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()

    import torch

    from real3d.core.machine import cpu_extensions
    from real3d.deploy import (
        OrtSegmenter,
        calibration_feeds,
        export_onnx,
        quantize_int8,
        select_float_nodes,
    )
    from real3d.eval import bootstrap_miou, confusion_matrix, metrics_from_confusion
    from real3d.eval.nyu_sample import load_nyu_sample, nyu_sample_dir
    from real3d.eval.segmentation import sample_to_frame
    from real3d.models import load_model, network_size
    from real3d.models.cards import read_card, write_card
    from real3d.train.data import open_data, parse_synth_spec

    torch.set_num_threads(args.threads)
    card = read_card(args.weights)
    net = load_model(str(args.weights))
    data = open_data(args.heldout, args.cache)
    t0 = time.perf_counter()
    frames = [sample_to_frame(data[i], i) for i in range(len(data))]
    per_scene = parse_synth_spec(args.heldout).fps if args.heldout.startswith("synth") else None
    per_view = {"refined": [], "coarse": [], "int8": []}
    fp32_labels = []
    for f in frames:
        for head in ("refined", "coarse"):
            res = net.predict(f, head=head)
            per_view[head].append(confusion_matrix(res.labels, f.labels))
            if head == "refined":
                fp32_labels.append(res.labels)
    with tempfile.TemporaryDirectory(prefix="real3d-card-") as tmp:
        fp32 = export_onnx(net, Path(tmp) / "m.onnx", size_hw=network_size(240, 320, net.config.infer_hw))
        feeds = calibration_feeds(net.config, args.calib, n=64)
        keep, history = None, None
        if args.int8_target:
            keep, history = select_float_nodes(
                fp32,
                feeds,
                target_agreement=args.int8_target,
                threads=args.threads,
                weight_format=args.int8_weights,
                cost=args.int8_cost,
            )
        q = quantize_int8(fp32, Path(tmp) / "m.int8.onnx", feeds, keep_float=keep, weight_format=args.int8_weights)
        seg = OrtSegmenter(q, threads=args.threads)
        agree = []
        for f, ref in zip(frames, fp32_labels):
            res = seg.predict(f)
            per_view["int8"].append(confusion_matrix(res.labels, f.labels))
            agree.append((res.labels == ref).mean())
    nyu = load_nyu_sample(nyu_sample_dir(ROOT))
    nyu_m = metrics_from_confusion(confusion_matrix(net.predict(nyu).labels, nyu.labels)).to_dict()
    nyu_m["note"] = "one real NYUv2 frame; depth known only up to scale, mapped 0-255 -> 0-10 m"

    def rounded(views, n=None):
        views = np.stack(views[:n])
        m = metrics_from_confusion(views.sum(axis=0))
        if per_scene is not None and len(views) >= 2 * per_scene:
            scenes = views[: len(views) // per_scene * per_scene].reshape(-1, per_scene, *views.shape[1:]).sum(axis=1)
            m = dataclasses.replace(m, miou_spread=bootstrap_miou(scenes))
        return m.to_dict()

    metrics = dict(card.get("metrics", {}))
    metrics.update(
        {
            "heldout": args.heldout,
            "heldout_refined": rounded(per_view["refined"]),
            "heldout_coarse": rounded(per_view["coarse"]),
            "heldout_int8_refined": rounded(per_view["int8"]),
            "int8_argmax_agreement_pct": round(100 * float(np.mean(agree)), 2),
            "int8_weight_format": args.int8_weights,
            "int8_cpu_extensions": cpu_extensions(),
            "nyuv2_train_sample_refined": nyu_m,
            "measured_date": time.strftime("%Y-%m-%d", time.gmtime()),
        }
    )
    if args.heldout.startswith("synth"):
        from real3d.synth import engine_fingerprint

        metrics["heldout_engine_fingerprint"] = engine_fingerprint()
    if 0 < args.subset < len(frames):
        metrics[f"heldout_first{args.subset}_refined"] = rounded(per_view["refined"], args.subset)
        metrics[f"heldout_first{args.subset}_int8_refined"] = rounded(per_view["int8"], args.subset)
    card["metrics"] = metrics
    if keep is not None:
        card["int8_keep_float"] = keep
        card["int8_selection"] = {
            "command": f"real3d export --model {args.weights.stem} --int8 --int8-target {args.int8_target}",
            "calibration_agreement_by_float_convs": history,
        }
    print(
        json.dumps({k: (v["miou"] if isinstance(v, dict) and "miou" in v else v) for k, v in metrics.items()}, indent=1)
    )
    print(f"{len(frames)} held-out views, {time.perf_counter() - t0:.0f} s")
    if not args.dry_run:
        print(f"wrote {write_card(args.weights, card)}")


if __name__ == "__main__":
    main()
