"""Costmap cells on the shared real samples for two bottoms of the robot's height band.

Runs the pipeline (shipped rgbd-default / rgb-default, torch, floor-plane gravity where the
sample is not z-up) over each sample's frames, brings the scene graph up to date, then builds
the costmap of the same map with each band bottom and counts occupied, free and passable
cells: a band that starts low turns floor noise, or floor the network misreads, into
obstacles, and this shows how many on data nobody here made.

    python benchmarks/costmap_band_real.py [--bottoms 0.1,0.05]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLES = ("joinmap_kinect_seq", "iclnuim_synthetic_seq", "tum_pair")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bottoms", default="0.1,0.05", help="band bottoms above the floor, metres")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    bottoms = [float(b) for b in args.bottoms.split(",")]

    from real3d.cli.run_cmd import build_pipeline
    from real3d.io import open_sequence
    from real3d.io.real_samples import real_samples_dir, sample_options
    from real3d.nav import CostmapConfig, build_costmap

    print("| sample | frames | floor z m | band bottom m | occupied cells | free cells | passable cells |")
    print("|---|---|---|---|---|---|---|")
    real = real_samples_dir(REPO)
    for name in SAMPLES:
        if not (real / name).is_dir():
            print(f"| {name} | missing | | | | | |")
            continue
        seq = open_sequence(real / name, **sample_options(name))
        z_up = seq.info.format == "real3d" or seq.info.pose_source == "gravity"
        pipe = build_pipeline(
            "rgbd-default",
            "rgb-default",
            "torch",
            "offline",
            "drop",
            args.threads,
            gravity="off" if z_up else "floor",
            missing_pose="gravity" if seq.info.pose_source is None else "skip",
            graph_every=30,
            costmap_every=30,
        )
        n = 0
        for f in seq:
            pipe.step(f)
            n += 1
        graph = pipe.scene_graph  # brought up to date with the map
        for b in bottoms:
            cm = build_costmap(pipe.map, CostmapConfig(z_min_m=b), floor_z_m=graph.floor_z_m, objects=graph.objects())
            print(
                f"| {name} | {n} | {graph.floor_z_m:.3f} | {b:.2f} | {int(cm.grid.occupied.sum())} | "
                f"{int(cm.grid.free.sum())} | {int(np.isfinite(cm.cost).sum())} |"
            )


if __name__ == "__main__":
    main()
