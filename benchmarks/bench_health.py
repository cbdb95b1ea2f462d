"""What the per-frame sensor health check (``real3d.robust.check_health``) costs, in
milliseconds per frame, against a read of the same frame's arrays as the baseline.

Frames: a few views of a synthetic home (``real3d.synth.generate_sequence``) at each size, the
clean view and, to cover each branch, the view with its depth removed and under strong blur.
The check and the baseline (a copy of rgb and depth, what a source hands on anyway) are
timed alternately on the same frames (A, B, A, B ...), medians of ``--repeats`` rounds.
numpy only: one thread whatever the machine.

    python benchmarks/bench_health.py
    python benchmarks/bench_health.py --sizes 240x320,480x640 --repeats 200
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time


def cpu_name() -> str:
    """The CPU's model name (Linux), else what ``platform`` says."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="240x320,480x640")
    ap.add_argument("--frames", type=int, default=3, help="views per size")
    ap.add_argument("--repeats", type=int, default=100)
    args = ap.parse_args()

    import numpy as np

    from real3d.robust import check_health, corrupt
    from real3d.synth import generate_sequence

    print(f"host: {cpu_name()}, {os.cpu_count()} cores; numpy {np.__version__}, python {platform.python_version()}")
    print(f"{'size':>9} {'frame':>12} {'check ms':>9} {'copy ms':>8} {'flagged':>8}")
    for size in args.sizes.split(","):
        h, w = (int(v) for v in size.split("x"))
        seq = generate_sequence(3, args.frames, size=(h, w))
        clean = [seq[i] for i in range(len(seq))]
        kinds = {
            "clean": clean,
            "no depth": [corrupt(f, "depth_missing", 5) for f in clean],
            "blur 5": [corrupt(f, "defocus_blur", 5) for f in clean],
        }
        for kind, frames in kinds.items():
            t_check: list[float] = []
            t_copy: list[float] = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                res = [check_health(f) for f in frames]
                t1 = time.perf_counter()
                for f in frames:
                    f.rgb.copy()
                    f.depth_m.copy()
                t2 = time.perf_counter()
                t_check.append((t1 - t0) * 1e3 / len(frames))
                t_copy.append((t2 - t1) * 1e3 / len(frames))
            flagged = sum(r.flagged for r in res)
            print(
                f"{size:>9} {kind:>12} {statistics.median(t_check):9.2f} {statistics.median(t_copy):8.2f} "
                f"{flagged:>4}/{len(frames)}"
            )


if __name__ == "__main__":
    main()
