"""Memory soak: a fixed map, many frames through ``Pipeline.step``, resident memory sampled.

A camera circles one toy room (a closed loop of ``--loop`` frames, replayed with increasing
indices and timestamps at 30 fps), so after the first loop the map neither grows nor
changes shape: whatever memory still grows per frame is a leak or an unbounded record.
No network runs (the frames fuse their own labels); the scene graph and the costmap are
refreshed every ``--refresh`` frames.

Each variant runs in its own process, so that its resident memory is its own:

* ``bounded``: the pipeline's defaults (``trajectory_step_m``, ``trajectory_max_points``);
* ``unbounded``: the trajectory keeps one entry per frame (``trajectory_step_m=0``,
  ``trajectory_max_points=None``), as before it was bounded: the baseline;
* ``run``: the defaults through ``Pipeline.run`` (offline, stage threads) with the
  ``RunRecorder`` that ``real3d run`` attaches: the per-run records (``RunSummary``, the
  recorder's rows) included, as a robot's long run keeps them.

Printed per variant: ms per frame, resident memory (``/proc/self/statm``; with ``--trim``
after glibc's ``malloc_trim``, so that free heap does not count) after the warm-up
and at the end, the slope of resident memory over the frames after the warm-up (least
squares, bytes per frame) and what it comes to over a day at 30 fps, the peak, and the
records that can grow: trajectory entries, the map's camera positions, the map's voxel
bytes.

    python benchmarks/soak_memory.py                    # 50,000 frames per variant
    python benchmarks/soak_memory.py --frames 5000 --variants bounded
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

VARIANTS = {
    "bounded": {},
    "unbounded": {"trajectory_step_m": 0.0, "trajectory_max_points": None},
    "run": {},
}
DAY_FRAMES = 24 * 3600 * 30


def _rss_bytes() -> float:
    from real3d.core.machine import current_rss_mb

    return current_rss_mb() * 2**20


def _trim() -> bool:
    """Give the allocator's free memory back to the system (glibc ``malloc_trim``), so
    that resident memory counts live data, not free heap; False where unavailable."""
    import ctypes

    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0) or True)
    except (OSError, AttributeError):
        return False


def _camera_positions(pipe) -> int:
    return len(pipe.map.camera_positions)


def child(args) -> dict:
    """Run one variant here; returns its figures."""
    from real3d.core.machine import peak_rss_mb
    from real3d.pipeline import Pipeline, PipelineConfig
    from real3d.testing.toyscene import toy_sequence

    h, w = args.size
    loop = toy_sequence(args.seed, n_frames=args.loop, size=(h, w), two_rooms=False).frames
    pipe = Pipeline(
        PipelineConfig(
            model=None, rgb_model=None, graph_every=args.refresh, costmap_every=args.refresh, **VARIANTS[args.child]
        )
    )
    every = max(1, args.frames // args.samples)
    warm = max(args.loop, int(args.frames * args.warmup))
    samples = []
    statuses = {}
    t0 = time.perf_counter()
    t_warm = None

    def observe(i: int, status: str) -> None:
        nonlocal t_warm
        statuses[status] = statuses.get(status, 0) + 1
        if i + 1 == warm:
            t_warm = time.perf_counter()
        if i + 1 >= warm and ((i + 1 - warm) % every == 0 or i + 1 == args.frames):
            if args.trim:
                _trim()
            samples.append((i + 1, _rss_bytes()))

    frames = (loop[i % len(loop)].replace(index=i, timestamp_s=i / 30.0) for i in range(args.frames))
    if args.child == "run":
        from real3d.eval.recorder import RunRecorder

        recorder = RunRecorder(expected_frames=args.frames)

        def on_result(res, frame) -> None:
            recorder.on_result(res, frame)
            observe(res.index, res.status)

        pipe.run(frames, on_result=on_result)
    else:
        for i, f in enumerate(frames):
            observe(i, pipe.step(f).status)
    wall = time.perf_counter() - t0
    n, rss = (np.array(v, np.float64) for v in zip(*samples))
    slope = float(np.polyfit(n, rss, 1)[0]) if len(n) >= 2 else 0.0
    return {
        "variant": args.child,
        "frames": args.frames,
        "statuses": statuses,
        "ms_per_frame": wall / args.frames * 1e3,
        "ms_per_frame_after_warmup": (time.perf_counter() - t_warm) / max(1, args.frames - warm) * 1e3
        if t_warm
        else float("nan"),
        "rss_after_warmup_mb": rss[0] / 2**20,
        "rss_end_mb": rss[-1] / 2**20,
        "slope_b_per_frame": slope,
        "mb_per_day_30fps": slope * DAY_FRAMES / 2**20,
        "peak_rss_mb": peak_rss_mb(),
        "trajectory_entries": len(pipe.trajectory),
        "camera_positions": _camera_positions(pipe),
        "map_bytes": pipe.map.nbytes,
        "map_voxels": len(pipe.map),
        "samples": [[int(a), float(b)] for a, b in samples],
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=50_000, help="frames per variant")
    ap.add_argument("--loop", type=int, default=24, help="frames in the camera's loop")
    ap.add_argument("--size", type=int, nargs=2, default=(24, 32), metavar=("H", "W"))
    ap.add_argument("--refresh", type=int, default=300, help="graph / costmap refresh every N fused frames")
    ap.add_argument("--samples", type=int, default=50, help="resident memory samples after the warm-up")
    ap.add_argument("--warmup", type=float, default=0.1, help="share of the frames before sampling starts")
    ap.add_argument("--variants", default="unbounded,bounded,run", help=f"comma-separated: {', '.join(VARIANTS)}")
    ap.add_argument(
        "--trim",
        action="store_true",
        help="return free heap to the system (malloc_trim) before each sample: live memory only",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.frames < 2 or args.loop < 2:
        ap.error("--frames and --loop must be >= 2")
    if args.child:
        print(json.dumps(child(args)))
        return
    from real3d.core.machine import describe_machine

    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(unknown)}; valid: {', '.join(VARIANTS)}")
    print(describe_machine())
    print(
        f"{args.frames} frames of {args.size[0]}x{args.size[1]} per variant, a loop of {args.loop} frames, "
        f"refresh every {args.refresh}, slope over the frames after the first {args.warmup:.0%}"
        f"{', malloc_trim before each sample' if args.trim else ''}\n"
    )
    rows = []
    for v in names:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            v,
            "--frames",
            str(args.frames),
            "--loop",
            str(args.loop),
            "--size",
            *map(str, args.size),
            "--refresh",
            str(args.refresh),
            "--samples",
            str(args.samples),
            "--warmup",
            str(args.warmup),
            "--seed",
            str(args.seed),
            *(["--trim"] if args.trim else []),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    head = (
        "variant",
        "ms/frame",
        "RSS warm MB",
        "RSS end MB",
        "slope B/frame",
        "MB/day@30fps",
        "peak MB",
        "trajectory",
        "cam positions",
        "map MB",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(
            f"| {r['variant']} | {r['ms_per_frame_after_warmup']:.2f} | {r['rss_after_warmup_mb']:.1f} | "
            f"{r['rss_end_mb']:.1f} | {r['slope_b_per_frame']:.1f} | {r['mb_per_day_30fps']:.0f} | "
            f"{r['peak_rss_mb']:.1f} | {r['trajectory_entries']} | {r['camera_positions']} | "
            f"{r['map_bytes'] / 1e6:.2f} |"
        )
    print("\nstatuses: " + "; ".join(f"{r['variant']}: {r['statuses']}" for r in rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
