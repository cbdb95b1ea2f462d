"""Whole-pipeline figures: the defaults against the previous defaults, FPS and per-stage
latency per size and backend, what overlapping the stages buys, and a memory soak.

    nice python benchmarks/bench_pipeline.py defaults [--frames 120] [--repeats 3] [--size 240x320]
    nice python benchmarks/bench_pipeline.py speed [--sizes 240x320,480x640] [--backends torch,onnx,int8]
        [--frames 100] [--repeats 3] [--threads 2] [--model rgbd-small --rgb-model rgb-small]
    nice python benchmarks/bench_pipeline.py soak [--frames 10000] [--cycle 60] [--backend int8]
    nice python benchmarks/bench_pipeline.py realtime [--frames 300] [--fps 30] [--backend torch]

``defaults`` renders a generated home once (``--frames`` at ``--size``) and runs
``Pipeline.default()`` (shipped weights; backend, threads and background refreshes as
configured by default) and the previous defaults (``backend="torch", threads=1,
background_refresh=False``) alternately, ``--repeats`` times each, every run in a fresh
process (its own peak RSS and process-wide thread settings): an offline run (FPS, per-frame
p50 / p95 latency, every frame fused) and a realtime replay at ``--fps`` (frames dropped),
with each refresh's own latency. The first build of the INT8 graphs (once per weights, into
the ONNX cache) is reported apart.

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


#: the settings ``defaults`` compares: PipelineConfig overrides of Pipeline.default()
SETTINGS = {
    "default": {},
    "previous": {"backend": "torch", "threads": 1, "background_refresh": False},
    # the defaults with the shipped 3D map refiner (off by default), on the refresh worker
    "refiner": {"map_refiner": "seg3d-default"},
}


def one_run(args) -> dict:
    """One measured run of one setting in this process (``defaults``' child)."""
    import dataclasses
    import pickle

    from real3d.pipeline import Pipeline, peak_rss_mb, peak_rss_reset

    with open(args.frames_file, "rb") as fh:
        frames = pickle.load(fh)
    t0 = time.perf_counter()
    pipe = Pipeline.default(**SETTINGS[args.setting])
    build_s = time.perf_counter() - t0
    for f in frames[: args.warmup]:
        pipe.step(f)
    pipe.reset()
    peak_rss_reset()
    s = pipe.run(frames[args.warmup :])
    # refresh work done inside the frames (sync refreshes; snapshots and waits of background ones)
    on_path = sum(np.asarray(s.latency_ms[k], np.float64) for k in ("refine", "graph", "costmap", "refresh"))
    offline = {
        "frame_refresh_ms": {"p95": float(np.percentile(on_path, 95)), "max": float(on_path.max())},
        "fps": s.fps,
        "counts": dict(s.counts),
        "latency_ms": s.latency_percentiles(),
        "refresh_ms": s.refresh_percentiles(),
        "refresh_waits": s.refresh_waits,
        "n_objects": len(pipe.scene_graph.objects()),
        "peak_rss_mb": peak_rss_mb(),
    }
    pipe.close()
    pipe.config = dataclasses.replace(pipe.config, mode="realtime", source_fps=args.fps)
    pipe.reset()
    rt = pipe.run(frames[args.warmup :])
    pipe.close()
    return {
        "setting": args.setting,
        "backend": pipe.config.backend,
        "resolved": {
            "segmenter": type(pipe.segmenter).__name__,
            "precision": getattr(pipe.segmenter, "precision", "fp32"),
            "threads": pipe.config.resolved_threads(),
            "background_refresh": pipe.config.background_refresh,
        },
        "build_s": build_s,
        "offline": offline,
        "realtime": {
            "fps": rt.fps,
            "counts": dict(rt.counts),
            "latency_ms": rt.latency_percentiles(),
            "refresh_waits": rt.refresh_waits,
        },
    }


def defaults(args) -> dict:
    """``Pipeline.default()`` against the previous defaults, alternating, one process a run."""
    import os
    import pickle
    import subprocess
    import tempfile

    from real3d.pipeline import SyntheticStream
    from real3d.synth import TextureBank

    hw = tuple(int(v) for v in args.size.split("x"))
    src = SyntheticStream(args.seed, args.frames + args.warmup, size=hw, bank=TextureBank(0))
    frames = [src.sensor_frame(i) for i in range(len(src))]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frames.pkl")
        with open(path, "wb") as fh:
            pickle.dump(frames, fh)
        del frames, src
        # the first build of the default may export and quantize the graphs (once per weights)
        order = ["default"] + [name for _ in range(args.repeats) for name in SETTINGS]
        for k, name in enumerate(order):
            out = os.path.join(tmp, f"run{k}.json")
            cmd = [sys.executable, __file__, "_one", "--setting", name, "--frames-file", path, "--out", out]
            cmd += ["--warmup", str(args.warmup), "--fps", str(args.fps)]
            subprocess.run(cmd, check=True)
            with open(out) as fh:
                r = json.load(fh)
            r["first_build"] = k == 0
            runs.append(r)
            o = r["offline"]
            print(
                f"  {name}{' (first build)' if k == 0 else ''}: {o['fps']:.1f} FPS offline, "
                f"{r['realtime']['counts']['dropped']} dropped at {args.fps:g} FPS, build {r['build_s']:.1f} s",
                file=sys.stderr,
            )
    return {"runs": runs, "size_hw": list(hw), "frames": args.frames}


def print_defaults(res: dict) -> None:
    h, w = res["size_hw"]
    first = [r for r in res["runs"] if r["first_build"]]
    if first:
        print(
            f"first build of Pipeline.default() (ONNX export + INT8 calibration when not cached): "
            f"{first[0]['build_s']:.1f} s\n"
        )
    print(
        "| setting | backend (resolved) | FPS | total p50 / p95 ms | segment p50 ms | fuse p50 ms "
        "| in-frame refresh p95 / max ms | graph p50 / max ms | costmap p50 / max ms | waits | dropped at "
        "realtime | realtime FPS | peak RSS MiB | objects |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in SETTINGS:
        rows = [r for r in res["runs"] if r["setting"] == name and not r["first_build"]]
        if not rows:
            continue
        fps = [r["offline"]["fps"] for r in rows]
        med = rows[int(np.argsort(fps)[len(fps) // 2])]
        o = med["offline"]
        lat, ref = o["latency_ms"], o["refresh_ms"]

        def p(d, k, q="p50"):
            return f"{d[k][q]:.0f}" if k in d else "-"

        on_path = o["frame_refresh_ms"]
        rt = med["realtime"]
        rv = med["resolved"]
        print(
            f"| {name} | {med['backend']} ({rv['segmenter']} {rv['precision']}, {rv['threads']} thr, "
            f"{'bg' if rv['background_refresh'] else 'sync'} refresh) | {o['fps']:.1f} "
            f"({', '.join(f'{v:.1f}' for v in fps)}) | {p(lat, 'total')} / {p(lat, 'total', 'p95')} "
            f"| {p(lat, 'segment')} | {p(lat, 'fuse')} | {on_path['p95']:.0f} / {on_path['max']:.0f} "
            f"| {p(ref, 'graph')} / {p(ref, 'graph', 'max')} "
            f"| {p(ref, 'costmap')} / {p(ref, 'costmap', 'max')} | {o['refresh_waits']} "
            f"| {rt['counts']['dropped']} of {sum(rt['counts'].values())} | {rt['fps']:.1f} "
            f"| {o['peak_rss_mb']:.0f} | {o['n_objects']} |"
        )
    print(
        f"\n{res['frames']} frames at {w}x{h}, offline mode (every frame fused); FPS: median run "
        f"(all runs in brackets); the other columns are of the median run. 'in-frame refresh': the "
        f"refresh work done inside a frame (sync refreshes, or the snapshot and waits of background ones), "
        f"p95 and max over frames; graph / costmap: each refresh's own duration (on the refresh thread "
        f"when in the background)."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("defaults", "speed", "soak", "realtime", "_one"))
    ap.add_argument("--size", default="240x320")
    ap.add_argument("--setting", choices=tuple(SETTINGS), default="default")
    ap.add_argument("--frames-file", default=None)
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
    if args.what == "_one":
        res = one_run(args)
        with open(args.out, "w") as fh:
            json.dump(res, fh, default=float)
        return
    if args.frames is None:
        args.frames = {"defaults": 120, "speed": 100, "soak": 10000, "realtime": 300}[args.what]
    from real3d.core.machine import describe_machine, load_average, machine_info

    info = machine_info(("torch", "onnxruntime", "numpy"))
    print(
        f"machine: {describe_machine(('torch', 'onnxruntime'))}; {platform.platform()}; "
        + (
            "models: the shipped rgbd-default / rgb-default\n"
            if args.what == "defaults"
            else f"model {args.model} / {args.rgb_model}, threads {args.threads or 'default'}\n"
        )
    )
    res = {"defaults": defaults, "speed": speed, "soak": soak, "realtime": realtime}[args.what](args)
    res["machine"] = info
    res["machine"]["load_avg_end"] = load_average()
    res["args"] = vars(args)
    {"defaults": print_defaults, "speed": print_speed, "soak": print_soak, "realtime": print_realtime}[args.what](res)
    print(f"\nload average at end {res['machine']['load_avg_end'][0]:.1f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
