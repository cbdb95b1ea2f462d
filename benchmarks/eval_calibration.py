"""Calibration of the shipped segmentation models under domain shift: uncalibrated, a global
temperature, and shift-aware per-pixel temperatures (``real3d.models.calibrated``), measured
on held-out synthetic homes (clean and corrupted), the real labelled NYUv2 frame, and the
mean confidence on unlabelled real captures.

    python benchmarks/eval_calibration.py [--models rgbd-default] [--density synth:...]
        [--fit synth:...] [--heldout synth:...] [--cache runs/cache] [--out runs/calibration]

Nothing is fitted on real frames. The feature Gaussians come from training views
(``--density``); every temperature is fitted on ``--fit`` (held-out homes, no scene shared
with training or ``--heldout``): the global "T (clean)" on its clean views as usual, the
others on the proxy for the shift, each view clean, under one random corruption and under
three at once (``real3d.robust``, severities 3-5), drawn with ``--seed``. The held-out
corruptions are drawn with fixed other seeds. The real frame's depth is known only up to
scale (``real3d.eval.nyu_sample``), so RGB-D figures on it are indicative. Writes
``calibration.json`` (every measure and the reliability tables), ``reliability_*.png`` and
``shift_calibration_<model>.json`` (the fitted default calibration, which
``ShiftCalibration.load`` reads) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: the compared methods: name -> scores (None: no calibration; () a global temperature)
METHODS = {
    "none": None,
    "T (clean)": (),
    "T (proxy)": (),
    "energy": ("energy", "frame_energy"),
    "density": ("density", "frame_density"),
    "shift (energy + density)": ("energy", "frame_energy", "frame_density"),
}
SHIFT = "shift (energy + density)"
#: unlabelled real captures: (sample folder, at most this many frames)
REAL_CAPTURES = (("joinmap_kinect_seq", 5), ("tum_pair", 2), ("sunrgbd", 2))


def _frames(spec: str, cache: Path | None, limit: int | None = None):
    from real3d.eval.segmentation import sample_to_frame
    from real3d.train.data import open_data, spec_cache_dir

    data = open_data(spec, None if cache is None else spec_cache_dir(cache, spec))
    n = len(data) if limit is None else min(limit, len(data))
    return [sample_to_frame(data[i], i) for i in range(n)]


def _shifted(frames, seed: int, compound: int):
    """Each frame under ``compound`` random corruptions (severity 3-5) at once."""
    from real3d.robust.corruptions import CORRUPTIONS, corrupt

    rng = np.random.default_rng(seed)
    names = list(CORRUPTIONS)
    out = []
    for f in frames:
        for name in rng.choice(names, size=compound, replace=False):
            f = corrupt(f, str(name), int(rng.integers(3, 6)), seed=seed)
        out.append(f)
    return out


def _real_captures():
    from real3d.io import open_sequence
    from real3d.io.real_samples import real_samples_dir, sample_options

    root = real_samples_dir(REPO)
    for name, n in REAL_CAPTURES:
        if not (root / name).exists():
            continue
        seq = open_sequence(root / name, **sample_options(name))
        for i, f in enumerate(seq):
            if i >= n:
                break
            yield f"{name}/{i}", f


def main() -> None:
    from real3d.core.files import atomic_write_text
    from real3d.core.machine import describe_machine
    from real3d.eval.calibration import CalibrationStats, apply_temperature, reliability_diagram
    from real3d.eval.nyu_sample import load_nyu_sample, nyu_sample_dir
    from real3d.models import load_model
    from real3d.models.calibrated import (
        SCORES,
        ShiftCalibration,
        sample_labelled_pixels,
        density_features,
        fit_feature_density,
        fit_shift_temperature,
        predict_with_scores,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="rgbd-default")
    ap.add_argument(
        "--density",
        default="synth:kind=mixed,size=240x320,seed=0,first=211200,n=48",
        help="labelled training views for the feature Gaussians",
    )
    ap.add_argument(
        "--fit",
        default="synth:kind=mixed,size=240x320,seed=9,n=80+synth:kind=mixed,size=240x320,seed=5,n=80",
        help="held-out homes to fit on",
    )
    ap.add_argument("--heldout", default="synth:kind=mixed,size=240x320,seed=7,n=64")
    ap.add_argument("--fit-pixels", type=int, default=2000, help="labelled pixels drawn per fitting frame")
    ap.add_argument("--bins", type=int, default=15)
    ap.add_argument("--cache", default="runs/cache")
    ap.add_argument("--out", default="runs/calibration")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="seeds the corruption draws and the pixel draw")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    cache = Path(args.cache) if args.cache else None
    dst = Path(args.out)
    dst.mkdir(parents=True, exist_ok=True)
    fit_clean = _frames(args.fit, cache)
    fit_frames = {
        "clean": fit_clean,
        "single": _shifted(fit_clean, 1 + 100 * args.seed, 1),
        "compound": _shifted(fit_clean, 2 + 100 * args.seed, 3),
    }
    held = _frames(args.heldout, cache)
    splits = {
        "synthetic held-out": held,
        "held-out, 1 corruption": _shifted(held, 11, 1),
        "held-out, 3 corruptions": _shifted(held, 12, 3),
        "real NYUv2 frame": [load_nyu_sample(nyu_sample_dir(REPO))],
    }
    captures = list(_real_captures())
    out: dict = {
        "machine": describe_machine(("numpy", "torch")),
        "density": args.density,
        "fit": args.fit,
        "heldout": args.heldout,
        "real": "nyuv2_train_sample (1 frame, likely NYUv2 train split)",
        "captures": [name for name, _ in captures],
        "bins": args.bins,
        "models": {},
    }
    print(out["machine"])
    for name in args.models.split(","):
        t0 = time.perf_counter()
        model = load_model(name)
        density = fit_feature_density(*density_features(model, _frames(args.density, cache)))
        rng = np.random.default_rng(args.seed)
        pix: dict = {}
        for kind, frames in fit_frames.items():
            for f in frames:
                r, maps = predict_with_scores(model, f, density, SCORES)
                p, y, cov = sample_labelled_pixels(r, f.labels, maps, args.fit_pixels, rng)
                pix.setdefault(kind, []).append((p, y, cov))

        def stack(kinds):
            rows = [row for k in kinds for row in pix[k]]
            return (
                np.concatenate([r[0] for r in rows]),
                np.concatenate([r[1] for r in rows]),
                {s: np.concatenate([r[2][s] for r in rows]) for s in SCORES},
            )

        cals: dict = {}
        for method, scores in METHODS.items():
            if scores is None:
                continue
            p, y, cov = stack(("clean",) if method == "T (clean)" else ("clean", "single", "compound"))
            a, w, c, sc = fit_shift_temperature(p, y, {s: cov[s] for s in scores})
            if not scores:
                cals[method] = float(np.exp(a))
                continue
            cals[method] = ShiftCalibration(
                scores=scores,
                intercept=a,
                weights=tuple(w[s] for s in scores),
                center=tuple(c[s] for s in scores),
                scale=tuple(sc[s] for s in scores),
                density=density if any("density" in s for s in scores) else None,
                model=name,
            )
        print(f"\n{name}: fitted in {time.perf_counter() - t0:.0f} s")
        for method, cal in cals.items():
            desc = (
                f"T = {cal:.3f}"
                if isinstance(cal, float)
                else f"log T = {cal.intercept:.3f} + "
                + " + ".join(f"{w:.3f} z({s})" for s, w in zip(cal.scores, cal.weights))
            )
            print(f"  {method}: {desc}")
        cals[SHIFT].save(dst / f"shift_calibration_{name}.json")

        def calibrated(method, probs, maps):
            cal = cals.get(method)
            if cal is None:
                return probs
            if isinstance(cal, float):
                return apply_temperature(probs, cal)
            return cal.apply(probs, maps)

        rows = {}
        for split, frames in splits.items():
            stats = {m: CalibrationStats(args.bins) for m in METHODS}
            for f in frames:
                r, maps = predict_with_scores(model, f, density, SCORES)
                for m in METHODS:
                    stats[m].update(calibrated(m, r.probs, maps), f.labels)
            rows[split] = {m: s.result() for m, s in stats.items()}
        real_conf = {m: [] for m in METHODS}
        for _, f in captures:
            if f.depth_m is None and model.uses_depth:
                continue
            r, maps = predict_with_scores(model, f, density, SCORES)
            for m in METHODS:
                p = calibrated(m, r.probs, maps)
                real_conf[m].append(float(p[1:].max(axis=0).mean()))
        out["models"][name] = {
            "calibrations": {
                m: (c if isinstance(c, float) else c.to_dict() | {"density": "omitted"}) for m, c in cals.items()
            },
            "splits": rows,
            "real_captures_mean_confidence": {m: float(np.mean(v)) if v else None for m, v in real_conf.items()},
            "real_captures_frames": len(real_conf["none"]),
        }
        print(f"  evaluated in {time.perf_counter() - t0:.0f} s")
        print("\n| split | method | ECE % | MCE % | Brier | NLL | accuracy % | confidence % |")
        print("|---|---|---|---|---|---|---|---|")
        for split, r in rows.items():
            for m, s in r.items():
                print(
                    f"| {split} | {m} | {100 * s['ece']:.2f} | {100 * s['mce']:.2f} | {s['brier']:.4f} | "
                    f"{s['nll']:.3f} | {100 * s['accuracy']:.2f} | {100 * s['confidence']:.2f} |"
                )
        print(f"\nunlabelled real captures ({len(real_conf['none'])} frames), mean confidence %:")
        for m, v in real_conf.items():
            syn = rows["synthetic held-out"][m]["confidence"]
            print(f"| {m} | {100 * np.mean(v):.2f} | synthetic held-out {100 * syn:.2f} |")
        for split, r in rows.items():
            keep = {m: r[m] for m in ("none", "T (clean)", SHIFT)}
            img = reliability_diagram(keep, f"{name}: {split}")
            img.save(dst / f"reliability_{name}_{split.replace(' ', '_').replace(',', '')}.png")
    atomic_write_text(dst / "calibration.json", json.dumps(out, indent=1))
    print(f"\nwrote {dst / 'calibration.json'}")


if __name__ == "__main__":
    main()
