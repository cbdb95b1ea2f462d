"""Fuse data-engine scenes along robot paths into ``MapSample`` files for 3D networks.

Each scene seed gives one ``seed_<kind>_<seed>.npz``: the map fused from the segmenter's class
probabilities on noisy frames (as the pipeline fuses), with per-voxel ground truth from the
scene's mesh. Existing files are kept, so an interrupted run resumes.

    python tools/build_map_dataset.py --seeds 2000-2099 --kind home --out runs/maps3d/train
    python tools/build_map_dataset.py --seeds 0-15 --kind home --out runs/maps3d/test
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", required=True, help="scene seeds, A-B or a comma list")
    ap.add_argument("--kind", default="home", help="home, warehouse, or mixed (every fourth seed a warehouse)")
    ap.add_argument("--frames", type=int, default=300, help="frames along each robot path")
    ap.add_argument("--size", default="240x320", help="frame size HxW")
    ap.add_argument(
        "--model",
        default="rgbd-default",
        help="segmenter (a name, preset or weights path); 'gt' fuses the ground-truth labels instead",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import torch

    from real3d.cli.values import parse_seeds

    from real3d.models import load_model
    from real3d.models.pretrained import weights_fingerprint
    from real3d.synth import TextureBank, engine_fingerprint, generate_sequence
    from real3d.train.map_data import fuse_frames, sample_from_map

    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.lower().split("x"))
    model = None if args.model == "gt" else load_model(args.model)
    model_id = "gt" if model is None else f"{args.model}@{weights_fingerprint(model)}"
    bank = TextureBank(0)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in parse_seeds(args.seeds):
        kind = args.kind if args.kind != "mixed" else ("warehouse" if seed % 4 == 3 else "home")
        path = args.out / f"seed_{kind}_{seed:06d}.npz"
        if path.exists():
            continue
        t0 = time.perf_counter()
        seq = generate_sequence(seed, args.frames, size=(h, w), kind=kind, bank=bank)
        t1 = time.perf_counter()
        m = fuse_frames(seq.frames, model)
        t2 = time.perf_counter()
        meta = {
            "seed": seed,
            "kind": kind,
            "frames": args.frames,
            "size": [h, w],
            "segmenter": model_id,
            "engine": engine_fingerprint(),
            "command": " ".join(["python", *sys.argv]),
        }
        s = sample_from_map(m, seq.scene.mesh, meta=meta)
        s.save(path)
        t3 = time.perf_counter()
        both = s.surface & (s.labels > 0)
        acc = float((s.fusion_labels()[both] == s.labels[both]).mean()) if both.any() else float("nan")
        print(
            f"{path.name}: {len(s)} voxels, {int(s.surface.sum())} surface, fusion acc {acc:.3f}; "
            f"render {t1 - t0:.1f} s, segment+fuse {t2 - t1:.1f} s, label+save {t3 - t2:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
