"""``real3d data select`` (which frames of a pool to label next) and ``real3d data curve``
(learning curves: the mIoU a number of labelled frames gives, and the frames a target needs).
docs/uncertainty.md describes both."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(help="Choose data to label and predict how much is needed.", no_args_is_help=True)

#: strategies that need the model's predictions (random needs none)
MODEL_STRATEGIES = ("entropy", "margin", "confidence", "coreset", "class_balanced")


def pool_frames(data: str, max_frames: int | None) -> list:
    """The Frames of ``--data``: the first ``max_frames`` views of a synth spec, or the frames
    of a recorded sequence (anything ``real3d info`` reads)."""
    from real3d.cli.eval_cmd import _robust_frames

    return _robust_frames(data, max_frames)


@app.command("select")
def select(
    data: str = typer.Option(
        "synth:kind=mixed,size=240x320,seed=11,n=64",
        "--data",
        help="The unlabelled pool: a synth data spec (as real3d eval seg --data) or a recording path.",
    ),
    k: int = typer.Option(..., "--k", min=1, help="Frames to pick."),
    strategy: str = typer.Option(
        "entropy", "--strategy", help="random | entropy | margin | confidence | coreset | class_balanced"
    ),
    model: str = typer.Option(
        "rgbd-default",
        "--model",
        help="Model whose predictions score the pool (pretrained name, preset or .safetensors); not used by random.",
    ),
    temperature: float = typer.Option(
        1.0, "--temperature", min=0.01, help="Temperature applied to the probabilities first (confidence)."
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Use the first N frames of the pool."),
    stride: int = typer.Option(2, "--pixel-stride", min=1, help="Score every N-th pixel in each direction."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of random selection and the first core-set centre."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch intra-op threads."),
    out: Path | None = typer.Option(None, "--out", help="JSON file of the picks (default: print it)."),
) -> None:
    """Pick K frames of a pool to label next, by a strategy of real3d.train.selection.

    Writes a JSON list, in order of choice, of {"rank", "index", "entropy", "margin",
    "confidence"} (the scores only for strategies that use the model). Core-set selection
    uses each frame's predicted class shares as its embedding."""
    from real3d.core.errors import ConfigError
    from real3d.train.selection import STRATEGIES, frame_stats
    from real3d.train.selection import select as select_frames

    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy: unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    frames = pool_frames(data, max_frames)
    if not frames:
        from real3d.core.errors import InputError

        raise InputError(f"--data {data}: expected a pool of at least one frame, got none")
    stats = None
    if strategy in MODEL_STRATEGIES:
        import torch

        from real3d.models import create_model

        torch.set_num_threads(threads)
        net = create_model(model)
        stats = []
        with typer.progressbar(frames, label=f"scoring {len(frames)} frames", file=sys.stderr) as bar:
            for f in bar:
                stats.append(frame_stats(net.predict(f), temperature=temperature, stride=stride))
    else:
        # random selection needs no scores: a placeholder per frame carries the pool's size
        import numpy as np

        from real3d.train.selection import FrameStats

        stats = [FrameStats(0.0, 0.0, 0.0, np.ones(1)) for _ in frames]
    picks = select_frames(stats, k, strategy, seed=seed)
    rows = []
    for rank, i in enumerate(picks):
        row = {"rank": rank, "index": int(frames[i].index)}
        if strategy in MODEL_STRATEGIES:
            s = stats[i]
            row.update(entropy=round(s.entropy, 6), margin=round(s.margin, 6), confidence=round(s.confidence, 6))
        rows.append(row)
    text = json.dumps(rows, indent=1) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        from real3d.core.files import atomic_write_text

        atomic_write_text(out, text)
        typer.echo(f"{len(rows)} of {len(frames)} frames picked by {strategy}: {out}", err=True)


def read_points(path: Path) -> tuple[list[float], list[float]]:
    """(labelled frames, mIoU) points of a JSON or CSV file.

    JSON: a list of ``{"frames": N, "miou": Y}`` objects or of ``[N, Y]`` pairs. CSV: a
    header naming the columns ``frames`` and ``miou`` (other columns ignored), or two
    numeric columns without a header.

    Raises:
        FormatError: a missing or unreadable file, or one of neither form.
    """
    import csv

    from real3d.core.errors import FormatError

    try:
        text = Path(path).read_text()
    except OSError as e:
        raise FormatError(f"{path}: cannot read the points file ({e})") from None
    n: list[float] = []
    y: list[float] = []
    try:
        if Path(path).suffix.lower() == ".json":
            for p in json.loads(text):
                a, b = (p["frames"], p["miou"]) if isinstance(p, dict) else p
                n.append(float(a))
                y.append(float(b))
        else:
            rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
            head = [c.strip().lower() for c in rows[0]]
            if "frames" in head and "miou" in head:
                i, j, rows = head.index("frames"), head.index("miou"), rows[1:]
            else:
                i, j = 0, 1
            for r in rows:
                n.append(float(r[i]))
                y.append(float(r[j]))
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise FormatError(
            f"{path}: expected a JSON list of {{'frames': N, 'miou': Y}} (or [N, Y]) or a CSV with columns "
            f"frames,miou; could not read it ({type(e).__name__}: {e})"
        ) from None
    return n, y


@app.command("curve")
def curve(
    points: Path = typer.Argument(..., help="JSON or CSV of (labelled frames, mIoU) points (docs/uncertainty.md)."),
    target: list[float] = typer.Option([], "--target", help="mIoU to predict the frames for (repeatable)."),
    at: list[float] = typer.Option([], "--at", help="Labelled frames to predict the mIoU at (repeatable)."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG of the points and the fitted curve."),
    out: Path | None = typer.Option(None, "--out", help="Write the fit and the predictions as JSON."),
) -> None:
    """Fit mIoU(n) = c - a * n^-b to measured points, print it and extrapolate.

    Predictions beyond the largest measured n are extrapolations: check them with a run."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from real3d.core.errors import InputError
    from real3d.eval.curves import fit_learning_curve

    n, y = read_points(points)
    fit = fit_learning_curve(n, y)
    lo, hi = fit.n_range
    for v in at:
        if not v > 0:
            raise InputError(f"--at: expected a number of frames > 0, got {v:g}")
    result = {
        "fit": {"a": fit.a, "b": fit.b, "c": fit.c, "rmse": fit.rmse, "n_range": list(fit.n_range)},
        "points": [{"frames": a, "miou": b} for a, b in zip(n, y, strict=True)],
        "at": [{"frames": v, "miou": float(fit.predict(v)), "extrapolated": not lo <= v <= hi} for v in at],
        "target": [],
    }
    for t in target:
        need = fit.frames_for(t)
        result["target"].append(
            {"miou": t, "frames": None if not np.isfinite(need) else need, "extrapolated": not lo <= need <= hi}
        )
    table = Table(title=f"learning curve of {points.name}: mIoU(n) = c - a n^-b")
    table.add_column("", style="bold")
    table.add_column("value")
    table.add_row("fit", f"c = {fit.c:.2f}, a = {fit.a:.3g}, b = {fit.b:.3f}")
    table.add_row("residual", f"rmse {fit.rmse:.2f} over {len(n)} points, n {lo:g}..{hi:g}")
    for r in result["at"]:
        table.add_row(f"mIoU at {r['frames']:g}", f"{r['miou']:.2f}" + (" (extrapolated)" if r["extrapolated"] else ""))
    for r in result["target"]:
        shown = (
            "not reached (at or above the asymptote c)"
            if r["frames"] is None
            else f"{r['frames']:.0f} frames" + (" (extrapolated)" if r["extrapolated"] else "")
        )
        table.add_row(f"for mIoU {r['miou']:g}", shown)
    Console().print(table)
    if plot is not None:
        from real3d.viz.outputs import atomic_save_png

        atomic_save_png(curve_plot(fit, n, y, at), plot)
        typer.echo(f"plot: {plot}", err=True)
    if out is not None:
        from real3d.viz.outputs import write_json

        write_json(out, result)
        typer.echo(f"fit: {out}", err=True)


def curve_plot(fit, n, y, at=()):
    """PIL image of the measured (n, mIoU) points and the fitted curve, up to twice the
    largest measured n (or the largest ``at``)."""
    import numpy as np

    from real3d.viz.plots import line_chart

    n = np.asarray(n, np.float64)
    x_hi = max(float(n.max()) * 2.0, *(float(v) for v in at)) if len(at) else float(n.max()) * 2.0
    grid = np.unique(np.concatenate([np.linspace(max(n.min() * 0.5, 1e-3), x_hi, 200), n]))
    measured = np.full(grid.shape, np.nan)
    order = np.argsort(n)
    for a, b in zip(n[order], np.asarray(y, np.float64)[order], strict=True):
        measured[np.searchsorted(grid, a)] = b
    fitted = fit.predict(grid)
    allv = np.concatenate([fitted, np.asarray(y, np.float64)])
    ylim = (float(np.floor(allv.min() - 2.0)), float(np.ceil(max(allv.max(), fit.c) + 2.0)))
    return line_chart(
        {"measured": measured, f"fit (c = {fit.c:.1f})": fitted},
        "mIoU against labelled frames",
        "labelled frames",
        "mIoU",
        x=grid,
        ylim=ylim,
    )
