"""Run the default segmentation models on the real NYUv2 labelled frame in
``../shared/data/real/nyuv2_train_sample`` and print mIoU / pixel accuracy against its
NYUv2-13 labels, with an overlay PNG per model.

The sample's depth is known only up to scale (0-255, 682x512). It is resized to 640x480
(nearest) and mapped linearly to 0-10 m (the Kinect range NYUv2 was normalised to), so the
RGB-D figure is indicative only; the RGB-only model needs no depth.

    python benchmarks/eval_nyu_sample.py [--root ../shared/data/real/nyuv2_train_sample]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

NYU_INTRINSICS = (518.8579, 519.4696, 325.5824, 253.7362)


def load_nyu_sample(root: Path):
    """Frame (rgb, approximate depth, labels) of the NYUv2 sample."""
    from real3d.core import Frame, Intrinsics

    rgb = np.array(Image.open(root / "rgb_640x480.png").convert("RGB"))
    labels = np.array(Image.open(root / "decoded_label13_640x480.png")).astype(np.uint8)
    rel = Image.open(root / "decoded_relative_depth_0-255_682x512.png").resize((640, 480), Image.NEAREST)
    depth_m = np.asarray(rel, dtype=np.float32) / 255.0 * 10.0
    return Frame(rgb=rgb, depth_m=depth_m, intrinsics=Intrinsics(*NYU_INTRINSICS, 640, 480), labels=labels)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared/data/real/nyuv2_train_sample"))
    ap.add_argument("--out", default="runs/nyu_sample")
    ap.add_argument("--models", default="rgbd-default,rgb-default")
    args = ap.parse_args()

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
