"""How well ``cluster_instances`` groups object voxels into instances, per setting, on map
samples with ground-truth labels (so only the grouping is measured, not the labels).

For each sample the 3D network predicts centre offsets on the surface voxels; the voxels
are grouped with the ground-truth classes, and a ground-truth instance (>= 20 voxels, an
object class) counts as found when the predicted instance holding most of its voxels
overlaps it at voxel IoU >= 0.5. Prints instance F1 per setting, and the same grouping
without offsets (connectivity alone) as the baseline. Choose settings on training maps:

    python benchmarks/sweep_instance_grouping.py --model runs/seg3d/small_a/model.safetensors \\
        --maps runs/maps3d/train --pattern 'seed_home_00200*.npz' --count 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def instance_f1_counts(pred: np.ndarray, gt_inst: np.ndarray, labels: np.ndarray, classes) -> tuple[int, int, int]:
    """(found ground-truth instances, predicted instances, ground-truth instances)."""
    thing = np.isin(labels, classes) & (gt_inst > 0)
    gts = [g for g in np.unique(gt_inst[thing]) if (gt_inst == g).sum() >= 20]
    tp = 0
    for g in gts:
        gm = gt_inst == g
        if not pred[gm].any():
            continue
        q = np.bincount(pred[gm]).argmax()
        if q == 0:
            continue
        qm = pred == q
        tp += int((gm & qm).sum() / (gm | qm).sum() >= 0.5)
    return tp, int(len(np.unique(pred[pred > 0]))), len(gts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="seg3d weights or name")
    ap.add_argument("--maps", type=Path, required=True, help="folder of MapSample .npz files")
    ap.add_argument("--pattern", default="*.npz")
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    from real3d.models.seg3d import THING_CLASSES, cluster_instances, create_seg3d
    from real3d.train.map_data import MapSample

    torch.set_num_threads(args.threads)
    net = create_seg3d(args.model)
    paths = sorted(args.maps.glob(args.pattern))[: args.count]
    data = []
    for p in paths:
        s = MapSample.load(p)
        off = net.predict(s).offsets
        m = s.surface
        data.append((s.points[m], off[m], s.labels[m], s.instances[m]))
    print(f"{net.name} on {len(paths)} samples: {', '.join(p.name for p in paths)}")
    print("| grouping | adjacency m | radius m | instance F1 (found / predicted / gt) |")
    print("|---|---|---|---|")
    settings = [(None, r) for r in (0.05, 0.1, 0.2)] + [(a, r) for a in (0.08, 0.12) for r in (0.1, 0.2, 0.3)]
    for adj, r in settings + [("none", 0.08)]:
        t = pr = g = 0
        for pts, off, lab, gi in data:
            if adj == "none":
                ip = cluster_instances(pts, np.zeros_like(off), lab, radius_m=r, min_points=20)
            else:
                ip = cluster_instances(pts, off, lab, radius_m=r, min_points=20, adjacency_m=adj)
            a, b, c = instance_f1_counts(ip, gi, lab, THING_CLASSES)
            t, pr, g = t + a, pr + b, g + c
        name = {None: "shifted points", "none": "connectivity, no offsets"}.get(adj, "region growing")
        print(
            f"| {name} | {'-' if adj in (None, 'none') else adj} | {r} "
            f"| {2 * t / max(1, pr + g):.3f} ({t} / {pr} / {g}) |"
        )


if __name__ == "__main__":
    main()
