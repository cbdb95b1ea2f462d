"""Run the default segmentation models on the real NYUv2 labelled frame kept beside the
repository (``shared/data/real/nyuv2_train_sample``) and print mIoU / pixel accuracy against
its NYUv2-13 labels, with an overlay PNG per model.

It is one frame, most likely from NYUv2's training split: a check that the shipped weights
(trained on synthetic data only) see a real room at all, not a measure of real accuracy.
mIoU is over the classes in the ground truth or the prediction, so a class predicted where
the frame has none counts as 0.

The sample's depth is known only up to scale (0-255, 682x512). ``real3d.eval.nyu_sample``
resizes it to 640x480 (nearest) and maps it linearly to 0-10 m (the Kinect range NYUv2 was
normalised to), so the RGB-D figure is indicative only; the RGB-only model needs no depth.

    python benchmarks/eval_nyu_sample.py [--root ../shared/data/real/nyuv2_train_sample]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from real3d.eval.nyu_sample import load_nyu_sample, nyu_sample_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(nyu_sample_dir(REPO)))
    ap.add_argument("--out", default="runs/nyu_sample")
    ap.add_argument("--models", default="rgbd-default,rgb-default")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()

    import torch

    from real3d.core.machine import describe_machine

    if args.threads:
        torch.set_num_threads(args.threads)
    print(describe_machine(("torch", "numpy")))
    print("one real NYUv2 frame (likely from the train split); its depth is relative, scaled to 0-10 m")

    from real3d.core.labels import NYU13_NAMES
    from real3d.eval import confusion_matrix, metrics_from_confusion, overlay_png
    from real3d.models import load_model

    frame = load_nyu_sample(Path(args.root))
    present = [NYU13_NAMES[i] for i in np.unique(frame.labels) if i]
    print(f"classes in the frame: {', '.join(present)}")
    for name in args.models.split(","):
        res = load_model(name).predict(frame)
        m = metrics_from_confusion(confusion_matrix(res.labels, frame.labels))
        d = m.to_dict()
        print(f"{name}: mIoU {d['miou']:.1f} (over classes in gt or prediction), pixel acc {d['pixel_acc']:.1f}")
        print("  IoU: " + ", ".join(f"{k} {v:.1f}" for k, v in d["iou"].items() if v is not None))
        overlay_png(frame.rgb, res.labels, frame.labels, Path(args.out) / f"{name}.png")


if __name__ == "__main__":
    main()
