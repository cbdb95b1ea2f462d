"""Segmentation accuracy on the frames the pipeline sees: data-engine home trajectories.

The held-out figure of the model cards is measured on single views drawn as the training
views are (`synth:kind=mixed`). The pipeline, the demo and the map evaluations instead stream
a camera moving through a home (`generate_sequence`: a trajectory about 0.8 m up, noisy depth).
This scores a model on every ``--every``-th frame of such sequences and prints the pooled
mIoU (one confusion matrix over all frames), the mean of the per-scene mIoUs, pixel accuracy
and per-class IoU. The ground truth is relabelled into the model's label set
(``real3d.eval.ground_truth``), so a warehouse model is scored on warehouse classes.

    python benchmarks/eval_seg_trajectories.py --model rgbd-default --seeds 100..111
    python benchmarks/eval_seg_trajectories.py --model rgbd-default --flip --scales 1,1.2
    python benchmarks/eval_seg_trajectories.py --model MODEL --kind warehouse --seeds 100..107
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rgbd-default", help="pretrained name, preset or .safetensors path")
    ap.add_argument("--seeds", default="100..111", help="home seeds, A..B or a comma list")
    ap.add_argument("--kind", default="home", help="scene kind of the sequences (home, warehouse, ...)")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--every", type=int, default=15)
    ap.add_argument("--head", default="refined")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flip", action="store_true", help="test-time flip (predict(flip=True))")
    ap.add_argument("--scales", default="1", help="test-time scales, e.g. 1,1.2 (predict(scales=...))")
    args = ap.parse_args()
    tta = {"flip": args.flip, "scales": tuple(float(v) for v in args.scales.split(","))}

    import torch

    from real3d.cli.values import parse_seeds
    from real3d.core.labels import get_label_set
    from real3d.eval.ground_truth import ground_truth_frame
    from real3d.eval.segmentation import confusion_matrix, metrics_from_confusion
    from real3d.models import load_model
    from real3d.train.loop import model_label_set
    from real3d.synth import generate_sequence

    torch.set_num_threads(args.threads)
    net = load_model(args.model)
    # a 13-class network without a named set predicts NYUv2-13
    labels = model_label_set(net.config) or "nyu13"
    t0 = time.perf_counter()
    total, per_home = None, []
    for seed in parse_seeds(args.seeds):
        seq = generate_sequence(seed, args.frames, size=(240, 320), kind=args.kind, noise=True)
        cm = None
        for i in range(0, len(seq), args.every):
            f = seq[i]
            gt = ground_truth_frame(f, labels, seq.scene.objects).labels
            c = confusion_matrix(net.predict(f, head=args.head, **tta).labels, gt, num_classes=net.config.num_classes)
            cm = c if cm is None else cm + c
        per_home.append(metrics_from_confusion(cm).miou)
        total = cm if total is None else total + cm
    m = metrics_from_confusion(total)
    all_names = get_label_set(labels).names
    names = all_names[1:] if len(all_names) == len(m.iou) + 1 else all_names
    print(
        f"model {args.model} ({args.head}, flip {args.flip}, scales {args.scales}, labels {labels}), "
        f"{args.kind} seeds {args.seeds}, "
        f"every {args.every}th of {args.frames} frames, {time.perf_counter() - t0:.0f} s"
    )
    print(
        f"pooled mIoU {100 * m.miou:.2f}, mean per-scene mIoU {100 * np.mean(per_home):.2f} "
        f"(range {100 * min(per_home):.1f}-{100 * max(per_home):.1f}), pixel accuracy {100 * m.pixel_acc:.2f}"
    )
    print("per class: " + ", ".join(f"{n} {100 * v:.1f}" for n, v in zip(names, m.iou)))


if __name__ == "__main__":
    main()
