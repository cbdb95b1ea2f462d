"""INT8 graphs with 7-bit and full 8-bit weights: argmax agreement, mIoU and latency.

onnxruntime runs U8S8 convolutions on x86 CPUs without VNNI (AVX2 only) with an instruction
that sums pairs of uint8 x int8 products into int16 with saturation; full-range 8-bit weights
can overflow it, 7-bit weights (``reduce_range``) cannot. This script measures what that does
to the shipped weights on the machine it runs on. For each weights file it exports the FP32
graph, calibrates once (64 frames of the calibration stream), and quantises six ways:
{the card's float-kept convolutions, every convolution quantised} x {int7, int8, uint8
weights}.
Each graph labels the held-out views; reported are the pixel argmax agreement with the FP32
graph, the mIoU against ground truth, and the latency of one 240x320 and one 480x640 forward
pass through ``OrtSegmenter.run`` as ``bench_segmentation.py`` times it (median of
``--repeats`` after a warm-up, threads as given). The CPU's vector extensions
are printed with the table, since the result depends on them.

    python benchmarks/bench_int8_weights.py --weights rgbd-default rgb-default \\
        --cache runs/cache/heldout832 --threads 2 --repeats 30 --json out/int8_weights.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", default=["rgbd-default", "rgb-default"])
    ap.add_argument("--heldout", default="synth:kind=mixed,size=240x320,seed=7,n=832")
    ap.add_argument("--cache", type=Path, default=None, help="render the held-out views once into this folder")
    ap.add_argument("--views", type=int, default=0, help="use the first N held-out views (0 = all)")
    ap.add_argument("--calib", default="synth:kind=mixed,size=240x320,seed=11,n=64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import onnxruntime as ort
    import torch

    from real3d.core.machine import cpu_extensions, cpu_model
    from real3d.deploy import OrtSegmenter, calibration_feeds, export_onnx, quantize_int8
    from real3d.eval import confusion_matrix, metrics_from_confusion
    from real3d.eval.segmentation import sample_to_frame
    from real3d.eval.timing import median_ms, random_inputs
    from real3d.models import load_model, network_size
    from real3d.train.data import open_data

    torch.set_num_threads(args.threads)
    data = open_data(args.heldout, args.cache)
    n = len(data) if not args.views else min(args.views, len(data))
    frames = [sample_to_frame(data[i], i) for i in range(n)]
    ext = cpu_extensions()
    print(f"{cpu_model()}, extensions {ext}, onnxruntime {ort.__version__}, {args.threads} threads, {n} held-out views")
    rows = []
    for name in args.weights:
        net = load_model(name)
        card_keep = list(getattr(net, "card", {}).get("int8_keep_float", []))
        with tempfile.TemporaryDirectory(prefix="real3d-int8w-") as tmp:
            tmp = Path(tmp)
            fp32 = export_onnx(net, tmp / "m.onnx", size_hw=network_size(240, 320, net.config.infer_hw))
            feeds = calibration_feeds(net.config, args.calib, n=64)
            ranges = tmp / "ranges.json"
            ref_seg = OrtSegmenter(fp32, threads=args.threads)
            segs = [ref_seg]
            first_row = len(rows)
            ref = [ref_seg.predict(f).labels for f in frames]
            conf = sum(confusion_matrix(r, f.labels) for r, f in zip(ref, frames))
            rows.append(
                {
                    "weights": name,
                    "graph": "fp32",
                    "float_convs": None,
                    "weights_as": None,
                    "agreement_pct": 100.0,
                    "miou": 100 * metrics_from_confusion(conf).miou,
                }
            )
            variants = [
                (keep, bits) for keep in ([card_keep, []] if card_keep else [[]]) for bits in ("int7", "int8", "uint8")
            ]
            for keep, bits in variants:
                q = quantize_int8(
                    fp32,
                    tmp / f"q{len(keep)}_{bits}.onnx",
                    feeds,
                    keep_float=keep,
                    calibration_cache=ranges,
                    weight_format=bits,
                )
                seg = OrtSegmenter(q, threads=args.threads)
                segs.append(seg)
                labels = [seg.predict(f).labels for f in frames]
                agree = float(np.mean([(a == b).mean() for a, b in zip(labels, ref)]))
                conf = sum(confusion_matrix(lab, f.labels) for lab, f in zip(labels, frames))
                rows.append(
                    {
                        "weights": name,
                        "graph": "int8",
                        "float_convs": len(keep),
                        "weights_as": bits,
                        "agreement_pct": 100 * agree,
                        "miou": 100 * metrics_from_confusion(conf).miou,
                    }
                )
            # latency through the runtime the pipeline uses, every graph on the same inputs
            for hw in ((240, 320), (480, 640)):
                rgb, depth = random_inputs(net.config, hw)
                r = None if rgb is None else rgb.numpy()
                d = None if depth is None else depth.numpy()
                for row, seg in zip(rows[first_row:], segs):
                    row[f"ms_{hw[0]}x{hw[1]}"] = median_ms(lambda: seg.run(r, d), args.repeats)
    print(
        "| weights | graph | convs kept in float | weights as | argmax agreement % | mIoU | ms 240x320 | ms 480x640 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        fc = "-" if r["float_convs"] is None else r["float_convs"]
        wb = "-" if r["weights_as"] is None else r["weights_as"]
        print(
            f"| {r['weights']} | {r['graph']} | {fc} | {wb} | {r['agreement_pct']:.2f} | {r['miou']:.2f} "
            f"| {r['ms_240x320']:.2f} | {r['ms_480x640']:.2f} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {
            "cpu_extensions": ext,
            "onnxruntime": ort.__version__,
            "threads": args.threads,
            "views": n,
            "heldout": args.heldout,
            "repeats": args.repeats,
            "rows": rows,
        }
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
