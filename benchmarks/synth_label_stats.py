"""Class statistics of the data engine's frames beside real NYUv2 test-set statistics.

For each NYUv2-13 class: share of labelled pixels, share of frames where it appears, and
its vertical profile (8 bands, top to bottom), over N frames of homes (and warehouses
apart), printed as a table and written as JSON.

    python benchmarks/synth_label_stats.py --frames 1000 --size 240x320 \
        --nyu ../shared/data/nyuv2_meta/nyu13_test_label_stats.json --out docs/synth_label_stats.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from real3d.core.labels import NYU13
from real3d.synth import SynthDataset, TextureBank, generate_sequence


def accumulate(label_iter, n_classes=14, bands=8):
    pix = np.zeros(n_classes, np.int64)
    present = np.zeros(n_classes, np.int64)
    prof = np.zeros((n_classes, bands), np.int64)
    void = 0
    total = 0
    n = 0
    for lab in label_iter:
        h = lab.shape[0]
        band = np.minimum((np.arange(h) * bands) // h, bands - 1)
        counts = np.bincount(lab.ravel(), minlength=n_classes)
        pix += counts
        present += counts > 0
        for b in range(bands):
            prof[:, b] += np.bincount(lab[band == b].ravel(), minlength=n_classes)
        void += counts[0]
        total += lab.size
        n += 1
    labelled = pix[1:].sum()
    out = {"frames": n, "void_share": float(void / total), "classes": {}}
    for c in range(1, n_classes):
        out["classes"][NYU13.names[c]] = {
            "pixel_share_of_labelled": float(pix[c] / max(labelled, 1)),
            "frames_present": float(present[c] / max(n, 1)),
            "vertical_profile_top_to_bottom": (prof[c] / max(prof[c].sum(), 1)).round(3).tolist(),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--size", default="240x320")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--nyu",
        default=str(
            Path(__file__).resolve().parents[1].parent
            / "shared"
            / "data"
            / "nyuv2_meta"
            / "nyu13_test_label_stats.json"
        ),
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    t0 = time.perf_counter()
    results = {}
    # training distribution: independent views (SynthDataset), homes and warehouses apart
    for kind in ("home", "warehouse"):
        n = args.frames if kind == "home" else max(args.frames // 4, 1)
        ds = SynthDataset(n, size_hw=(h, w), kind=kind, seed=args.seed, noise=False)
        results[f"views_{kind}"] = accumulate(ds.frame(i).labels for i in range(n))
    # robot trajectories through homes
    bank = TextureBank(0)
    n_seq = max(args.frames // 100, 1)

    def traj_labels():
        for s in range(n_seq):
            seq = generate_sequence(10_000 + args.seed + s, 100, size=(h, w), kind="home", noise=False, bank=bank)
            for f in seq:
                yield f.labels

    results["trajectory_home"] = accumulate(traj_labels())
    elapsed = time.perf_counter() - t0
    nyu = json.loads(Path(args.nyu).read_text()) if Path(args.nyu).is_file() else None
    hdr = (
        f"{'class':10s} | {'NYU px%':>7s} {'NYU fr%':>7s} | {'views px%':>9s} {'fr%':>5s} "
        f"| {'traj px%':>8s} {'fr%':>5s} | {'whs px%':>7s} {'fr%':>5s}"
    )
    print(
        f"frames: views_home={results['views_home']['frames']}, trajectory_home="
        f"{results['trajectory_home']['frames']}, views_warehouse={results['views_warehouse']['frames']}; "
        f"size {h}x{w}; {elapsed:.0f} s"
    )
    print(hdr)
    print("-" * len(hdr))
    for c in NYU13.names[1:]:
        row = [results[k]["classes"][c] for k in ("views_home", "trajectory_home", "views_warehouse")]
        nc = nyu["classes"][c] if nyu else {"pixel_share_of_labelled": np.nan, "frames_present": np.nan}
        print(
            f"{c:10s} | {100 * nc['pixel_share_of_labelled']:7.1f} {100 * nc['frames_present']:7.1f} | "
            + " | ".join(f"{100 * r['pixel_share_of_labelled']:8.1f} {100 * r['frames_present']:5.1f}" for r in row)
        )
    print(
        f"void share: views_home {100 * results['views_home']['void_share']:.1f} %, "
        f"trajectory_home {100 * results['trajectory_home']['void_share']:.1f} %"
    )
    if args.out:
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(json.dumps({"size_hw": [h, w], "seed": args.seed, **results}, indent=1))
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
