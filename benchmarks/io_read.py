"""Per-frame read time of the real3d.io readers, on the shared real samples and on
640x480 files written here (.sens, ROS 1 bag, NYU labeled .mat).

Prints one table: format, source, frames, median / min ms per frame over repeats (first
frame excluded from nothing: every repeat reopens the sequence, so open cost is separate).

Usage: nice python benchmarks/io_read.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _time_sequence(open_fn, repeats: int):
    opens, per_frame, n = [], [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        seq = open_fn()
        t1 = time.perf_counter()
        frames = list(seq)
        t2 = time.perf_counter()
        seq.close()
        n = len(frames)
        opens.append(1000 * (t1 - t0))
        per_frame.append(1000 * (t2 - t1) / max(n, 1))
    return n, statistics.median(opens), statistics.median(per_frame), min(per_frame)


def _written_sources(tmp: Path):
    from real3d.io import write_sens

    rng = np.random.default_rng(0)
    frames = []
    for k in range(10):
        rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        mm = rng.integers(500, 4000, (480, 640)).astype(np.uint16)
        T = np.eye(4)
        T[0, 3] = k
        frames.append((rgb, mm, T, k * 33_000))
    K = np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]])
    write_sens(tmp / "bench.sens", frames, K, K)

    import h5py

    with h5py.File(tmp / "bench.mat", "w") as f:
        f.create_dataset("images", data=np.stack([fr[0].transpose(2, 1, 0) for fr in frames]), chunks=(1, 3, 640, 480))
        f.create_dataset(
            "depths", data=np.stack([(fr[1] / 1000).astype(np.float32).T for fr in frames]), chunks=(1, 640, 480)
        )
        f.create_dataset("labels", data=rng.integers(0, 895, (10, 640, 480)).astype(np.uint16), chunks=(1, 640, 480))

    from real3d.core import Intrinsics
    from real3d.io.ros_write import write_rgbd_bag

    # three frames, as the reader's tests write them, at 640x480
    write_rgbd_bag(
        tmp / "bench.bag",
        [(rgb, mm, T) for rgb, mm, T, _ in frames[:3]],
        Intrinsics(525.0, 525.0, 319.5, 239.5, 640, 480),
        kind="ros1",
    )
    return [("sens", tmp / "bench.sens", {}), ("nyu_labeled", tmp / "bench.mat", {}), ("rosbag", tmp / "bench.bag", {})]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from real3d.core.machine import describe_machine
    from real3d.io import open_sequence
    from real3d.io.real_samples import real_samples_dir, sample_options

    rows = []
    real = real_samples_dir(REPO)
    if real.is_dir():
        formats = (("redwood", "iclnuim_synthetic_seq"), ("folder", "joinmap_kinect_seq"), ("sunrgbd", "sunrgbd"))
        real_sources = [(fmt, real / name, sample_options(name)) for fmt, name in formats]
        for fmt, path, opts in real_sources:
            rows.append((fmt, path.name, *_time_sequence(lambda p=path, o=opts: open_sequence(p, **o), args.repeats)))
        import shutil

        with tempfile.TemporaryDirectory() as d:
            raw = Path(d) / "nyu_raw"
            raw.mkdir()
            shutil.copy(real / "single_frames" / "NYU_color.ppm", raw / "r-1.000000-1.ppm")
            shutil.copy(real / "single_frames" / "NYU_depth.pgm", raw / "d-1.000000-2.pgm")
            for reg in (False, True):
                rows.append(
                    (
                        "nyu_raw",
                        f"NYU sample register={reg}",
                        *_time_sequence(lambda r=reg: open_sequence(raw, register=r), args.repeats),
                    )
                )
    with tempfile.TemporaryDirectory() as d:
        for fmt, path, opts in _written_sources(Path(d)):
            rows.append(
                (
                    fmt,
                    f"written 640x480 {path.suffix}",
                    *_time_sequence(lambda p=path, o=opts: open_sequence(p, **o), args.repeats),
                )
            )

    print(f"machine: {describe_machine(('real3d', 'numpy'))}; repeats {args.repeats}")
    print(f"| {'format':12} | {'source':28} | frames | open ms | ms/frame median | min |")
    print(f"|{'-' * 14}|{'-' * 30}|--------|---------|-----------------|-----|")
    for fmt, src, n, t_open, med, best in rows:
        print(f"| {fmt:12} | {src:28} | {n:6d} | {t_open:7.1f} | {med:15.1f} | {best:.1f} |")


if __name__ == "__main__":
    main()
