"""Whole-pipeline figures: FPS and per-stage latency per size and backend, what overlapping
the stages buys, and a memory soak.

    nice python benchmarks/bench_pipeline.py speed [--sizes 240x320,480x640] [--backends torch,onnx,int8]
        [--frames 100] [--repeats 3] [--threads 2] [--model rgbd-small --rgb-model rgb-small]
    nice python benchmarks/bench_pipeline.py soak [--frames 10000] [--cycle 60] [--backend int8]
    nice python benchmarks/bench_pipeline.py realtime [--frames 300] [--fps 30] [--backend torch]

``speed`` renders a synthetic home once per size, then per backend runs the pipeline in
offline mode (stages overlapped in threads) and, as the baseline measured in the same run,
frame by frame with ``step`` (no overlap); medians over ``--repeats``. ``soak`` streams
``--frames`` frames cycling over ``--cycle`` rendered ones and samples the resident memory
every 500 frames; the map stops growing once the cycle has been seen, so RSS must stay flat.
``realtime`` replays frames at ``--fps`` in realtime mode with the drop and the keyframe
policy and counts what was processed and dropped.

Prints markdown tables (machine, versions, load average) and writes JSON with ``--out``.
Model weights do not change the speed: without shipped weights use presets
(``--model rgbd-small``), which have the architecture of the shipped defaults.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np


def make_pipeline(args, backend: str, **kw):
    from real3d.pipeline import Pipeline, PipelineConfig

    cfg = PipelineConfig(model=args.model, rgb_model=args.rgb_model, backend=backend, threads=args.threads, **kw)
    return Pipeline(cfg)


def speed(args) -> dict:
    from real3d.pipeline import SyntheticStream, benchmark, peak_rss_mb, peak_rss_reset
    from real3d.synth import TextureBank

    bank = TextureBank(0)
    rows = []
    for size in args.sizes.split(","):
        hw = tuple(int(v) for v in size.split("x"))
        src = SyntheticStream(args.seed, args.frames + args.warmup, size=hw, bank=bank)
        frames = [src.sensor_frame(i) for i in range(len(src))]
        for be in args.backends.split(","):
            pipe = make_pipeline(args, be)
            overlapped, sequential = [], []
            for _ in range(args.repeats):
                overlapped.append(benchmark(pipe, frames, warmup=args.warmup))
                pipe.reset()
                peak_rss_reset()
                lat = {}
                t0 = time.perf_counter()
                for f in frames[args.warmup :]:
                    r = pipe.step(f)
                    for k, v in r.latency_ms.items():
                        lat.setdefault(k, []).append(v)
                wall = time.perf_counter() - t0
                sequential.append(
                    {
                        "fps": args.frames / wall,
                        "peak_rss_mb": peak_rss_mb(),
                        "latency_ms": {
                            k: {
                                "p50": float(np.percentile(v, 50)),
                                "p95": float(np.percentile(v, 95)),
                            }
                            for k, v in lat.items()
                        },
                    }
                )
            med = int(np.argsort([o["fps"] for o in overlapped])[len(overlapped) // 2])
            row = {
                "size_hw": list(hw),
                "backend": be,
                "overlapped": overlapped[med],
                "overlapped_fps_all": [o["fps"] for o in overlapped],
                "sequential_fps": float(np.median([s["fps"] for s in sequential])),
                "sequential_latency_ms": sequential[len(sequential) // 2]["latency_ms"],
            }
            rows.append(row)
            print(
                f"  {size} {be}: {row['overlapped']['fps']:.1f} FPS overlapped, "
                f"{row['sequential_fps']:.1f} FPS sequential",
                file=sys.stderr,
            )
            del pipe
    return {"rows": rows}


def print_speed(res: dict) -> None:
    print(
        "| size (WxH) | backend | FPS overlapped | FPS step-by-step | segment p50/p95 ms | fuse p50/p95 ms "
        "| graph p50 ms | costmap p50 ms | total p50/p95 ms | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in res["rows"]:
        o = r["overlapped"]
        lat = r["sequential_latency_ms"]  # per-stage work, free of queue waits

        def pp(k, d=lat, both=True):
            if k not in d:
                return "-"
            return f"{d[k]['p50']:.1f} / {d[k]['p95']:.1f}" if both else f"{d[k]['p50']:.1f}"

        graph = o["latency_ms"].get("graph", {}).get("p50")
        cost = o["latency_ms"].get("costmap", {}).get("p50")
        print(
            f"| {r['size_hw'][1]}x{r['size_hw'][0]} | {r['backend']} | {o['fps']:.1f} | {r['sequential_fps']:.1f} "
            f"| {pp('segment')} | {pp('fuse')} | {graph if graph is None else f'{graph:.0f}'} "
            f"| {cost if cost is None else f'{cost:.0f}'} | {pp('total', o['latency_ms'])} | {o['peak_rss_mb']:.0f} |"
        )


def soak(args) -> dict:
    from real3d.pipeline import SyntheticStream
    from real3d.synth import TextureBank
    from real3d.core.machine import current_rss_mb

    src = SyntheticStream(args.seed, args.cycle, size=(240, 320), bank=TextureBank(0))
    frames = [src.sensor_frame(i) for i in range(len(src))]
    del src
    pipe = make_pipeline(args, args.backend, graph_every=30, costmap_every=30)

    class Cyclic:
        def __len__(self):
            return args.frames

        def __getitem__(self, i):
            return frames[i % len(frames)]

    samples = []
    t0 = time.perf_counter()

    def on_result(res, frame):
        k = res.index
        if k % 500 == 0 or k == args.frames - 1:
            samples.append(
                {
                    "frame": k,
                    "rss_mb": current_rss_mb(),
                    "map_voxels": res.map_voxels,
                    "elapsed_s": time.perf_counter() - t0,
                }
            )
            print(
                f"  frame {k}: RSS {samples[-1]['rss_mb']:.0f} MiB, {res.map_voxels} voxels",
                file=sys.stderr,
            )

    s = pipe.run(Cyclic(), on_result=on_result)
    return {
        "frames": s.frames_in,
        "fps": s.fps,
        "counts": s.counts,
        "samples": samples,
        "latency_ms": s.latency_percentiles(),
    }


def print_soak(res: dict) -> None:
    print(f"{res['frames']} frames at {res['fps']:.1f} FPS; resident memory over the run:\n")
    print("| frame | RSS MiB | map voxels | elapsed s |")
    print("|---|---|---|---|")
    for s in res["samples"]:
        print(f"| {s['frame']} | {s['rss_mb']:.0f} | {s['map_voxels']} | {s['elapsed_s']:.0f} |")
    r = [s["rss_mb"] for s in res["samples"]]
    if len(r) > 2:
        print(
            f"\nRSS after the first 500 frames: min {min(r[1:]):.0f}, max {max(r[1:]):.0f} MiB "
            f"(drift {r[-1] - r[1]:+.0f} MiB)"
        )


def realtime(args) -> dict:
    """Replay pre-rendered frames at ``--fps`` in realtime mode with each overload policy."""
    from real3d.pipeline import SyntheticStream

    src = SyntheticStream(args.seed, args.frames, size=(240, 320))
    frames = [src.sensor_frame(i) for i in range(len(src))]
    rows = []
    for policy in ("drop", "keyframe"):
        pipe = make_pipeline(args, args.backend, mode="realtime", overload_policy=policy, source_fps=args.fps)
        for f in frames[:5]:
            pipe.step(f)
        pipe.reset()
        s = pipe.run(frames)
        lat = s.latency_percentiles()
        rows.append(
            {
                "policy": policy,
                "backend": args.backend,
                "source_fps": args.fps,
                "frames": s.frames_in,
                "counts": dict(s.counts),
                "fps": s.fps,
                "total_ms": lat.get("total", {}),
                "map_voxels": len(pipe.map),
            }
        )
    return {"rows": rows}


def print_realtime(res: dict) -> None:
    print(
        "| policy | backend | source FPS | frames | processed | dropped | processed FPS "
        "| arrival-to-result p50 / p95 ms "
        "| map voxels |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in res["rows"]:
        c = r["counts"]
        print(
            f"| {r['policy']} | {r['backend']} | {r['source_fps']:.0f} | {r['frames']} | {c['fused'] + c['rgb_only']} "
            f"| {c['dropped']} | {r['fps']:.1f} "
            f"| {r['total_ms'].get('p50', 0):.0f} / {r['total_ms'].get('p95', 0):.0f} "
            f"| {r['map_voxels']} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("speed", "soak", "realtime"))
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--sizes", default="240x320,480x640")
    ap.add_argument("--backends", default="torch,onnx,int8")
    ap.add_argument("--backend", default="int8")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cycle", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="rgbd-small")
    ap.add_argument("--rgb-model", default="rgb-small")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.frames is None:
        args.frames = {"speed": 100, "soak": 10000, "realtime": 300}[args.what]
    from real3d.core.machine import describe_machine, load_average, machine_info

    info = machine_info(("torch", "onnxruntime", "numpy"))
    print(
        f"machine: {describe_machine(('torch', 'onnxruntime'))}; {platform.platform()}; "
        f"model {args.model} / {args.rgb_model}, threads {args.threads or 'default'}\n"
    )
    res = {"speed": speed, "soak": soak, "realtime": realtime}[args.what](args)
    res["machine"] = info
    res["machine"]["load_avg_end"] = load_average()
    res["args"] = vars(args)
    {"speed": print_speed, "soak": print_soak, "realtime": print_realtime}[args.what](res)
    print(f"\nload average at end {res['machine']['load_avg_end'][0]:.1f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
