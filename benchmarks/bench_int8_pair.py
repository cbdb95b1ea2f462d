"""INT8 latency of two segmentation weights timed alternately in one process.

Each weights file is exported and quantised with its own model card's float list
(``int8_keep_float``), 7-bit weights and 32 calibration frames; then the two onnxruntime
sessions run one after the other, ``--repeats`` times each, on the same random input, so a
busy or slow host slows both alike and the difference between them stays readable.

    python benchmarks/bench_int8_pair.py OLD.safetensors src/real3d/weights/rgbd-default.safetensors
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="weights A (.safetensors with its card)")
    ap.add_argument("b", help="weights B")
    ap.add_argument("--size", default="240x320", help="input HxW")
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib", default="synth:kind=mixed,size=240x320,seed=11,n=64")
    args = ap.parse_args()

    import onnxruntime as ort

    from real3d.deploy import OrtSegmenter, calibration_feeds, export_onnx, quantize_int8
    from real3d.models import load_model, network_size

    hw = tuple(int(v) for v in args.size.lower().split("x"))
    sessions = []
    with tempfile.TemporaryDirectory(prefix="real3d-int8-pair-") as d:
        for i, path in enumerate((args.a, args.b)):
            net = load_model(path)
            keep = json.loads(Path(path).with_suffix(".json").read_text()).get("int8_keep_float")
            fp32 = export_onnx(net, Path(d) / f"m{i}.onnx", size_hw=network_size(240, 320, net.config.infer_hw))
            feeds = calibration_feeds(net.config, args.calib, n=32)
            q = quantize_int8(fp32, Path(d) / f"m{i}.int8.onnx", feeds, keep_float=keep, weight_format="int7")
            # the session settings every real3d INT8 user gets (and bench_segmentation times)
            sessions.append((path, len(keep or []), OrtSegmenter(q, threads=args.threads)))
        rng = np.random.default_rng(0)
        rgb = rng.random((1, 3, *hw), dtype=np.float32)
        depth = rng.random((1, 1, *hw), dtype=np.float32) * 5 + 0.5
        for _, _, s in sessions:
            for _ in range(10):
                s.run(rgb, depth)
        times: list[list[float]] = [[], []]
        for _ in range(args.repeats):
            for i, (_, _, s) in enumerate(sessions):
                t = time.perf_counter()
                s.run(rgb, depth)
                times[i].append((time.perf_counter() - t) * 1000)
    print(
        f"onnxruntime {ort.__version__}, {args.threads} threads, INT8 at {hw[0]}x{hw[1]}, "
        f"{args.repeats} alternating runs each"
    )
    for (path, n_float, _), t in zip(sessions, times):
        q1, q3 = np.percentile(t, [25, 75])
        print(
            f"{path}: {n_float} float convolutions, median {statistics.median(t):.2f} ms (quartiles {q1:.2f}-{q3:.2f})"
        )


if __name__ == "__main__":
    main()
