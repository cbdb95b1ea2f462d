"""Backend benchmark: the network alone and ``predict`` (with its post-processing) for each
backend of the shipped models, measured alternating (every row once per round, rounds
repeated) so that a busy machine slows all rows alike; medians per row. Also the argmax
agreement of each backend with onnxruntime INT8 and with torch FP32 on held-out
synthetic frames (homes of seeds the INT8 calibration does not use).

Rows per model and thread count: ``torch`` (eager FP32), ``torch-compile`` (with
``--compile``: ``torch.compile`` of the network), ``int8`` (onnxruntime INT8) and
``openvino`` (the same INT8 graph on OpenVINO, when installed). Columns: ``net`` (the
network on prepared inputs), ``predict`` (``predict(frame, guided=False)``: labels and
probabilities at the frame's size), ``predict_net`` (``predict(frame, probs_at="network")``)
and, with ``--guided``, ``predict_guided``.

    python benchmarks/bench_backends.py --threads 1,2 --rounds 15
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="rgbd-default,rgb-default")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--size", default="240x320", help="frame size HxW")
    ap.add_argument("--frames", type=int, default=24, help="held-out synthetic frames")
    ap.add_argument("--rounds", type=int, default=15, help="timed rounds (each row once per round)")
    ap.add_argument("--backends", default="torch,int8,openvino")
    ap.add_argument("--compile", action="store_true", help="add a torch.compile row")
    ap.add_argument("--guided", action="store_true", help="also time predict with guided upsampling")
    ap.add_argument("--cache", default=None, help="graph cache folder (default ~/.cache/real3d)")
    args = ap.parse_args()

    from real3d.core.machine import describe_machine
    from real3d.models import create_model
    from real3d.models.inference import frame_to_tensors, tta_predict
    from real3d.synth import generate_sequence

    hw = tuple(int(v) for v in args.size.split("x"))
    threads = [int(t) for t in args.threads.split(",")]
    backends = args.backends.split(",")
    if "openvino" in backends:
        try:
            import openvino  # noqa: F401
        except ImportError:
            print("openvino is not installed: its rows are skipped")
            backends.remove("openvino")
    half = max(1, args.frames // 2)
    frames = [
        *generate_sequence(5, half, size=hw, kind="home", noise=True).frames,
        *generate_sequence(8, args.frames - half, size=hw, kind="home", noise=True).frames,
    ]
    table = []
    for name in args.models.split(","):
        net = create_model(name)
        for th in threads:
            torch.set_num_threads(th)
            segs = {}
            for b in backends:
                if b == "torch":
                    segs["torch"] = net
                else:
                    segs[b] = create_model(name, b, cache_dir=args.cache, threads=th)
            rows = {}
            for b, seg in segs.items():
                rows[b] = _row_fns(seg, net, frames, frame_to_tensors, tta_predict, args.guided)
            if args.compile:
                compiled = torch.compile(net, dynamic=False)
                t0 = time.perf_counter()
                with torch.inference_mode():
                    _warm(compiled, frames[0], net.config, frame_to_tensors)
                print(f"{name}: torch.compile first call {time.perf_counter() - t0:.1f} s", flush=True)
                rows["torch-compile"] = _row_fns(net, net, frames, frame_to_tensors, tta_predict, args.guided, compiled)
            # agreement with onnxruntime INT8 and torch FP32, network argmax on every frame
            outs = {b: [r["labels"](f) for f in frames] for b, r in rows.items()}
            ref_t = outs.get("torch")
            ref_q = outs.get("int8")
            times = {(b, k): [] for b, r in rows.items() for k in r["timed"]}
            for rnd in range(args.rounds + 2):
                f = frames[rnd % len(frames)]
                for b, r in rows.items():
                    for k, fn in r["timed"].items():
                        t = time.perf_counter()
                        fn(f)
                        if rnd >= 2:  # two untimed rounds first
                            times[(b, k)].append((time.perf_counter() - t) * 1e3)
            for b, r in rows.items():
                row = {"model": name, "threads": th, "backend": b}
                for k in r["timed"]:
                    row[k] = statistics.median(times[(b, k)])
                if ref_q is not None:
                    row["agree_int8"] = 100 * float(np.mean([np.mean(a == c) for a, c in zip(outs[b], ref_q)]))
                if ref_t is not None:
                    row["agree_fp32"] = 100 * float(np.mean([np.mean(a == c) for a, c in zip(outs[b], ref_t)]))
                table.append(row)
            print(f"done {name}, {th} thread(s)", flush=True)

    print(f"\nmachine: {describe_machine(('torch', 'onnxruntime', 'openvino'))}")
    net_hw = "x".join(str(v) for v in frame_to_tensors(frames[0], net.config)[0].shape[-2:])
    print(
        f"frames {hw[0]}x{hw[1]} (network {net_hw}); "
        f"median ms over {args.rounds} alternating rounds; agreement: network argmax, % of pixels, "
        f"{len(frames)} held-out synthetic frames\n"
    )
    cols = ["model", "threads", "backend", "net", "predict", "predict_net"]
    cols += (["predict_guided"] if args.guided else []) + ["agree_int8", "agree_fp32"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in table:
        cells = [f"{r[c]:.2f}" if isinstance(r.get(c), float) else str(r.get(c, "-")) for c in cols]
        print("| " + " | ".join(cells) + " |")


def _warm(model, frame, config, frame_to_tensors) -> None:
    rgb, depth, _ = frame_to_tensors(frame, config)
    model(rgb, depth)
    model(rgb, depth)


def _row_fns(seg, net, frames, frame_to_tensors, tta_predict, guided: bool, compiled=None) -> dict:
    """For one backend: ``labels(frame)`` (network argmax at the network's size) and the
    timed calls by column. ``seg`` is a real3d segmenter; with ``compiled`` (a
    ``torch.compile`` of ``net``) the row runs that module through ``tta_predict`` instead."""
    cfg = net.config
    prepared = {id(f): frame_to_tensors(f, cfg)[:2] for f in frames}
    if compiled is not None:

        def network(f):
            r, d = prepared[id(f)]
            with torch.inference_mode():
                return compiled(r, d)

        def pred(f, **kw):
            with torch.inference_mode():
                return tta_predict(lambda r, d: compiled(r, d), f, cfg, "refined", model_name=net.model_name, **kw)

    elif isinstance(seg, torch.nn.Module):

        def network(f):
            r, d = prepared[id(f)]
            with torch.inference_mode():
                return seg(r, d)

        pred = seg.predict
    else:
        np_inputs = {k: tuple(None if t is None else t.numpy() for t in v) for k, v in prepared.items()}

        def network(f):
            return seg.run(*np_inputs[id(f)])

        pred = seg.predict
    timed = {
        "net": network,
        "predict": lambda f: pred(f, guided=False),
        "predict_net": lambda f: pred(f, probs_at="network"),
    }
    if guided and cfg.guide_radius > 0:
        timed["predict_guided"] = lambda f: pred(f, guided=True)

    def labels(f):
        out = network(f)
        return np.asarray(out.numpy() if isinstance(out, torch.Tensor) else out).argmax(1)

    return {"labels": labels, "timed": timed}


if __name__ == "__main__":
    main()
