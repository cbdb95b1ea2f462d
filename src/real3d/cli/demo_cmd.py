"""``real3d demo``: the whole chain on a generated multi-room home, no data needed."""

from __future__ import annotations

from pathlib import Path

import typer

from real3d.cli.run_cmd import VIEWER_HELP, VIEWER_URL_HELP


def demo(
    out: Path = typer.Option(Path("real3d_demo"), "--out", help="Output folder."),
    frames: int = typer.Option(300, "--frames", min=1, help="Frames to render and process."),
    size: str = typer.Option("240x320", "--size", help="Image size HxW."),
    seed: int = typer.Option(0, "--seed", help="Scene seed."),
    kind: str = typer.Option("home", "--kind", help="home | warehouse"),
    backend: str = typer.Option("auto", "--backend", help="auto | torch | onnx | int8 | openvino (docs/pipeline.md)"),
    model: str = typer.Option(
        "rgbd-default",
        "--model",
        help="RGB-D model: pretrained name, preset (random weights, for testing) or .safetensors path.",
    ),
    rgb_model: str = typer.Option(
        "rgb-default", "--rgb-model", help="Model for frames without depth ('none': such frames are skipped)."
    ),
    mode: str = typer.Option("offline", "--mode", help="offline | realtime"),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="torch / onnxruntime intra-op threads (default: chosen from the core count).",
    ),
    goal: str | None = typer.Option(
        None, "--goal", help="X,Y world metres; default: the farthest reachable free cell."
    ),
    viewer: str | None = typer.Option(None, "--viewer", help=VIEWER_HELP),
    viewer_url: str | None = typer.Option(None, "--viewer-url", help=VIEWER_URL_HELP),
) -> None:
    """Render a multi-room home and run the whole chain over it (no data needed).

    Segmentation -> semantic map -> scene graph -> planning; the report and every output
    file go into OUT (default ./real3d_demo/)."""
    from real3d.cli.run_cmd import build_pipeline, execute, interruptible_outputs, parse_goal, viewer_options
    from real3d.cli.synth_cmd import parse_size

    hw = parse_size(size)
    goal_xy = parse_goal(goal)
    viewer_opts = viewer_options(viewer, viewer_url)  # before the heavy imports: fail fast
    from real3d.synth import SyntheticStream

    # The output folder first, then the models: a bad --out or a missing weights file
    # should fail before any rendering.
    with interruptible_outputs(out) as (outputs, signals):
        pipe = build_pipeline(
            model, None if rgb_model == "none" else rgb_model, backend, mode, "drop", threads or "auto"
        )
        source = SyntheticStream(seed, frames, size=hw, kind=kind, noise=True)
        meta = {
            "input": f"synthetic {kind}, seed {seed}, {frames} frames at {hw[1]}x{hw[0]}",
            "model": model,
            "rgb_model": rgb_model,
            "backend": backend,
            "mode": mode,
            "objects in scene": len(source.scene.objects),
            "rooms in scene": len(source.scene.rooms),
        }
        if model not in ("rgbd-default",) and not model.endswith(".safetensors"):
            meta["warning"] = f"model {model!r} is a preset with random weights: the labels are not meaningful"
        execute(
            pipe,
            source,
            out,
            meta,
            scene=source.scene,
            goal=goal_xy,
            title="real3d demo",
            outputs=outputs,
            signals=signals,
            viewer=viewer_opts,
        )
