"""``real3d bench``: pipeline FPS, per-stage latency and peak memory per size and backend."""

from __future__ import annotations

import platform
from pathlib import Path

import typer


def bench(
    sizes: str = typer.Option("240x320,480x640", "--sizes", help="Comma-separated HxW sizes."),
    backends: str = typer.Option("torch,onnx,int8", "--backends", help="Comma-separated: torch, onnx, int8."),
    frames: int = typer.Option(60, "--frames", min=1, help="Measured frames per setting."),
    warmup: int = typer.Option(5, "--warmup", min=0, help="Frames run before measuring."),
    model: str = typer.Option("rgbd-default", "--model", help="RGB-D model: pretrained name, preset or path."),
    rgb_model: str = typer.Option("rgb-default", "--rgb-model", help="RGB-only model."),
    threads: int = typer.Option(
        1,
        "--threads",
        min=1,
        help="torch / onnxruntime intra-op threads (the stages already run in parallel).",
    ),
    seed: int = typer.Option(0, "--seed", help="Synthetic scene seed."),
    out: Path = typer.Option(Path("real3d_bench.json"), "--out", help="JSON file for the results."),
) -> None:
    """Measure pipeline FPS, per-stage latency and peak RSS per size and backend.

    Offline mode over a synthetic home rendered beforehand; prints a table and writes the
    figures as JSON."""
    import os

    import numpy as np
    import onnxruntime
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from real3d.cli.run_cmd import build_pipeline
    from real3d.cli.synth_cmd import parse_size
    from real3d.core.errors import ConfigError
    from real3d.pipeline import BACKENDS, benchmark
    from real3d.synth import SyntheticStream, TextureBank
    from real3d.viz.report import write_json

    size_list = [parse_size(s) for s in sizes.split(",") if s]
    backend_list = [b.strip() for b in backends.split(",") if b.strip()]
    bad = [b for b in backend_list if b not in BACKENDS]
    if bad:
        raise ConfigError(f"--backends: unknown {', '.join(bad)}; valid: {', '.join(BACKENDS)}")
    console = Console(stderr=True)
    bank = TextureBank(0)
    results = []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as progress:
        task = progress.add_task("settings", total=len(size_list) * len(backend_list))
        for hw in size_list:
            seq = SyntheticStream(seed, frames + warmup, size=hw, kind="home", bank=bank)
            data = [seq.sensor_frame(i) for i in range(len(seq))]
            for be in backend_list:
                progress.update(task, description=f"{hw[1]}x{hw[0]} {be}")
                pipe = build_pipeline(model, rgb_model, be, "offline", "drop", threads)
                r = benchmark(pipe, data, warmup=warmup)
                r.update(size_hw=list(hw), backend=be)
                results.append(r)
                progress.advance(task)
                del pipe
    table = Table(title=f"real3d bench: whole pipeline, offline mode ({frames} frames held in memory)")
    for col in (
        "size",
        "backend",
        "FPS",
        "total p50/p95 ms",
        "segment p50/p95",
        "fuse p50/p95",
        "graph p50",
        "costmap p50",
        "peak RSS MiB",
    ):
        table.add_column(col)

    def pp(lat, k, both=True):
        if k not in lat:
            return "-"
        return f"{lat[k]['p50']:.1f}/{lat[k]['p95']:.1f}" if both else f"{lat[k]['p50']:.1f}"

    for r in results:
        lat = r["latency_ms"]

        table.add_row(
            f"{r['size_hw'][1]}x{r['size_hw'][0]}",
            r["backend"],
            f"{r['fps']:.1f}",
            pp(lat, "total"),
            pp(lat, "segment"),
            pp(lat, "fuse"),
            pp(lat, "graph", False),
            pp(lat, "costmap", False),
            f"{r['peak_rss_mb']:.0f}",
        )
    Console().print(table)
    doc = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_avg_1min_at_start": load,
            "numpy": np.__version__,
        },
        "model": model,
        "rgb_model": rgb_model,
        "frames": frames,
        "warmup": warmup,
        "results": results,
    }
    write_json(out, doc)
    Console().print(f"wrote {out}")
