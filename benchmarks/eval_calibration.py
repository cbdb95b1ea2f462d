"""Calibration of the shipped segmentation models: ECE, MCE, Brier score, NLL, accuracy and
mean confidence on held-out synthetic views and on the real labelled NYUv2 frame, before and
after temperature scaling fitted on a separate synthetic stream.

    python benchmarks/eval_calibration.py [--models rgbd-default,rgb-default]
        [--fit synth:...] [--heldout synth:...] [--cache runs/cache] [--out runs/calibration]

The real frame's depth is known only up to scale (``real3d.eval.nyu_sample``), so the
RGB-D model's figure on it is indicative only; the RGB-only model needs no depth.
Writes ``calibration.json`` (every measure and the reliability tables) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _frames(spec: str, cache: Path | None, limit: int | None):
    from real3d.eval.segmentation import sample_to_frame
    from real3d.train.data import open_data, spec_cache_dir

    data = open_data(spec, None if cache is None else spec_cache_dir(cache, spec))
    n = len(data) if limit is None else min(limit, len(data))
    for i in range(n):
        yield sample_to_frame(data[i], i)


def main() -> None:
    from real3d.core.machine import describe_machine
    from real3d.eval.calibration import CalibrationStats, apply_temperature, fit_temperature, pixels_for_fit
    from real3d.eval.nyu_sample import load_nyu_sample, nyu_sample_dir
    from real3d.models import load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="rgbd-default,rgb-default")
    ap.add_argument(
        "--fit",
        default="synth:kind=mixed,size=240x320,seed=9,n=104",
        help="data the temperature is fitted on (no scene shared with training or --heldout)",
    )
    ap.add_argument("--heldout", default="synth:kind=mixed,size=240x320,seed=7,n=208")
    ap.add_argument("--fit-pixels", type=int, default=4000, help="labelled pixels drawn per fitting frame")
    ap.add_argument("--bins", type=int, default=15)
    ap.add_argument("--cache", default="runs/cache")
    ap.add_argument("--out", default="runs/calibration")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    cache = Path(args.cache) if args.cache else None
    real = load_nyu_sample(nyu_sample_dir(REPO))
    out: dict = {
        "machine": describe_machine(("numpy", "torch")),
        "fit": args.fit,
        "heldout": args.heldout,
        "real": "nyuv2_train_sample (1 frame)",
        "bins": args.bins,
        "models": {},
    }
    print(out["machine"])
    for name in args.models.split(","):
        t0 = time.perf_counter()
        model = load_model(name)
        ps, ys = [], []
        for k, f in enumerate(_frames(args.fit, cache, None)):
            p, y = pixels_for_fit(model.predict(f).probs, f.labels, args.fit_pixels, seed=k)
            ps.append(p)
            ys.append(y)
        temp = fit_temperature(np.concatenate(ps), np.concatenate(ys))
        rows = {}
        for split, frames in (("synthetic held-out", _frames(args.heldout, cache, None)), ("real NYUv2 frame", [real])):
            plain, scaled = CalibrationStats(args.bins), CalibrationStats(args.bins)
            for f in frames:
                probs = model.predict(f).probs
                plain.update(probs, f.labels)
                scaled.update(apply_temperature(probs, temp), f.labels)
            rows[split] = {"plain": plain.result(), "temperature": scaled.result()}
        out["models"][name] = {"temperature": temp, **rows}
        print(f"\n{name}: temperature {temp:.3f} (fitted on {args.fit}), {time.perf_counter() - t0:.0f} s")
        print("| split | scaling | ECE % | MCE % | Brier | NLL | accuracy % | confidence % | pixels |")
        print("|---|---|---|---|---|---|---|---|---|")
        for split, r in rows.items():
            for how, m in r.items():
                print(
                    f"| {split} | {'T = %.2f' % temp if how == 'temperature' else 'none'} | {100 * m['ece']:.2f} | "
                    f"{100 * m['mce']:.2f} | {m['brier']:.4f} | {m['nll']:.4f} | {100 * m['accuracy']:.2f} | "
                    f"{100 * m['confidence']:.2f} | {m['pixels']} |"
                )
    dst = Path(args.out)
    dst.mkdir(parents=True, exist_ok=True)
    from real3d.core.files import atomic_write_text

    atomic_write_text(dst / "calibration.json", json.dumps(out, indent=1))
    print(f"\nwrote {dst / 'calibration.json'}")


if __name__ == "__main__":
    main()
