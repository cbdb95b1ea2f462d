"""``real3d data select`` (which frames of a pool to label next), ``real3d data curve``
(learning curves: the mIoU a number of labelled frames gives, and the frames a target needs)
and ``real3d data loop`` (pool-based active learning: train, select, repeat).
docs/uncertainty.md describes the first two, docs/active_learning.md the loop."""

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


def parse_strategy(item: str) -> tuple[str, str]:
    """``"entropy"`` -> (entropy, frame); ``"entropy:scene"`` -> (entropy, scene).

    Raises:
        ConfigError: an unknown strategy or unit (the message lists the valid ones).
    """
    from real3d.core.errors import ConfigError
    from real3d.train.active import UNITS
    from real3d.train.selection import STRATEGIES

    name, _, unit = item.strip().partition(":")
    unit = unit or "frame"
    if name not in STRATEGIES:
        raise ConfigError(f"--strategy: unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    if unit not in UNITS:
        raise ConfigError(f"--strategy {item!r}: unknown unit {unit!r}; valid: {', '.join(UNITS)}")
    return name, unit


@app.command("loop")
def loop(
    pool: str = typer.Option(
        "synth:kind=home,size=96x128,seed=21,n=400", "--pool", help="The unlabelled pool: a synth data spec or a path."
    ),
    heldout: str = typer.Option(
        "synth:kind=home,size=96x128,seed=22,n=96",
        "--heldout",
        help="Evaluation frames, never in the pool (a synth spec of another seed).",
    ),
    strategy: list[str] = typer.Option(
        ["random", "entropy", "coreset", "class_balanced"],
        "--strategy",
        help="Strategy to run (repeatable): random | entropy | margin | confidence | coreset | class_balanced; "
        "NAME:scene selects whole scenes.",
    ),
    seeds: str = typer.Option("0", "--seeds", help="Seeds, e.g. 0,1 or 0..2: one run per strategy and seed."),
    initial: int = typer.Option(20, "--initial", min=1, help="Frames labelled at random before the first round."),
    batch: int = typer.Option(20, "--batch", min=1, help="Frames added per round."),
    rounds: int = typer.Option(4, "--rounds", min=0, help="Batches added."),
    preset: str = typer.Option("rgbd-tiny", "--preset", help="Network preset, trained at the pool's frame size."),
    steps: int = typer.Option(200, "--steps", min=1, help="Optimizer steps of every training run."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Samples per optimizer step."),
    full_pool: bool = typer.Option(
        True, "--full-pool/--no-full-pool", help="Also train on the whole pool (per seed): the curves' reference."
    ),
    stride: int = typer.Option(2, "--pixel-stride", min=1, help="Score every N-th pixel in each direction."),
    threads: int = typer.Option(1, "--threads", min=0, help="torch intra-op threads (0: torch's default)."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Render the pool and held-out frames once into caches here."
    ),
    out: Path = typer.Option(..., "--out", help="Folder: active.json, active.png and the trained rounds (runs/)."),
) -> None:
    """Pool-based active learning: label a random start, train, score the pool, add the
    next batch by each strategy, repeat; held-out mIoU after every round.

    Writes OUT/active.json (the runs, their picks and the curves over seeds) and
    OUT/active.png (mIoU against labelled frames, mean and min-max over seeds). Trained
    rounds are kept in OUT/runs: strategies share the first round, and a second call with
    the same settings continues where an interrupted one stopped."""
    from rich.console import Console
    from rich.table import Table

    from real3d.cli.values import parse_seeds
    from real3d.train.active import ActiveConfig, run_active_learning, run_full_pool, summarise
    from real3d.viz.outputs import atomic_save_png, write_json

    jobs = [parse_strategy(s) for s in strategy]
    seed_list = parse_seeds(seeds)
    base = dict(
        pool=pool,
        heldout=heldout,
        initial=initial,
        batch=batch,
        rounds=rounds,
        preset=preset,
        steps=steps,
        batch_size=batch_size,
        pixel_stride=stride,
        threads=threads,
        cache_dir=None if cache_dir is None else str(cache_dir),
    )
    cfgs = [ActiveConfig(strategy=n, unit=u, seed=sd, **base) for sd in seed_list for n, u in jobs]
    runs, full = [], []
    for cfg in cfgs:
        typer.echo(f"{cfg.strategy} ({cfg.unit}), seed {cfg.seed}", err=True)
        run = run_active_learning(cfg, out)
        runs.append(run)
        typer.echo("  " + ", ".join(f"{r.labelled}: {100 * r.miou:.1f}" for r in run.rounds), err=True)
    if full_pool:
        for sd in seed_list:
            full.append(run_full_pool(ActiveConfig(seed=sd, **base), out))
    summary = summarise(runs, full)
    write_json(
        out / "active.json",
        {
            "config": {**base, "seeds": seed_list, "strategies": [f"{n}:{u}" for n, u in jobs]},
            "runs": [r.to_dict() for r in runs],
            "full_pool": full,
            **summary,
        },
    )
    atomic_save_png(active_plot(summary), out / "active.png")
    table = Table(title="held-out mIoU against labelled frames (mean [min, max] over seeds)")
    table.add_column("strategy", style="bold")
    table.add_column("points")
    table.add_column("reaches full pool at")
    for name, c in summary["curves"].items():
        pts = ", ".join(
            f"{n:g}: {m:.1f} [{a:.1f}, {b:.1f}]"
            for n, m, a, b in zip(c["labelled"], c["miou_mean"], c["miou_min"], c["miou_max"], strict=True)
        )
        table.add_row(name, pts, "-" if c["reaches_full_pool_at"] is None else f"{c['reaches_full_pool_at']:g}")
    if summary["full_pool_miou"] is not None:
        table.add_row("full pool", f"{summary['full_pool_frames']}: {summary['full_pool_miou']:.1f}", "")
    Console().print(table)
    typer.echo(f"results: {out / 'active.json'}, {out / 'active.png'}", err=True)


def active_plot(summary: dict, size: tuple[int, int] = (900, 420)):
    """PIL image of ``real3d.train.active.summarise``'s curves: mean held-out mIoU against
    labelled frames per strategy, a bar from the lowest to the highest seed at every point,
    and the full-pool mean as a dashed line."""
    import numpy as np
    from PIL import Image, ImageDraw

    from real3d.viz.plots import SERIES_COLORS, _fmt, _font, _nice_ticks

    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 62, 190, 48, 44
    pw, ph = w - left - right, h - top - bottom
    f_title, f_small = _font(16), _font(12)
    d.text((6, 6), "held-out mIoU against labelled frames (mean, min-max over seeds)", fill=(0, 0, 0), font=f_title)
    curves = summary["curves"]
    full = summary.get("full_pool_miou")
    xs = [v for c in curves.values() for v in c["labelled"]]
    ys = [v for c in curves.values() for v in c["miou_min"] + c["miou_max"]]
    if full is not None:
        ys.append(full)
    if not xs:
        d.text((left + 10, top + ph // 2), "no data", fill=(120, 120, 120), font=f_small)
        return img
    x0, x1 = 0.0, float(max(xs)) * 1.05
    y0, y1 = float(np.floor(min(ys) - 2)), float(np.ceil(max(ys) + 2))

    def px(x, y):
        return left + (x - x0) / (x1 - x0) * pw, top + ph - (y - y0) / (y1 - y0) * ph

    for t in _nice_ticks(y0, y1):
        if y0 <= t <= y1:
            _, yy = px(x0, t)
            d.line([(left, yy), (left + pw, yy)], fill=(230, 230, 230))
            d.text((6, yy - 7), _fmt(float(t)), fill=(60, 60, 60), font=f_small)
    for t in _nice_ticks(x0, x1):
        if x0 <= t <= x1:
            xx, _ = px(t, y0)
            d.text((xx - 8, top + ph + 6), _fmt(float(t)), fill=(60, 60, 60), font=f_small)
    d.rectangle([left, top, left + pw, top + ph], outline=(0, 0, 0))
    d.text((left + pw // 2 - 40, h - 20), "labelled frames", fill=(0, 0, 0), font=f_small)
    d.text((6, top - 18), "mIoU %", fill=(0, 0, 0), font=f_small)
    legend_y = top
    if full is not None:
        _, yy = px(x0, full)
        for xa in range(left, left + pw, 12):
            d.line([(xa, yy), (min(xa + 6, left + pw), yy)], fill=(90, 90, 90), width=2)
        d.text(
            (left + pw + 10, legend_y),
            f"full pool ({summary.get('full_pool_frames')})",
            fill=(90, 90, 90),
            font=f_small,
        )
        legend_y += 18
    for k, (name, c) in enumerate(curves.items()):
        col = SERIES_COLORS[k % len(SERIES_COLORS)]
        pts = [px(x, y) for x, y in zip(c["labelled"], c["miou_mean"], strict=True)]
        if len(pts) > 1:
            d.line(pts, fill=col, width=2)
        for x, a, b, (xx, yy) in zip(c["labelled"], c["miou_min"], c["miou_max"], pts, strict=True):
            _, ya = px(x, a)
            _, yb = px(x, b)
            d.line([(xx, ya), (xx, yb)], fill=col, width=1)
            d.line([(xx - 3, ya), (xx + 3, ya)], fill=col)
            d.line([(xx - 3, yb), (xx + 3, yb)], fill=col)
            d.ellipse([xx - 3, yy - 3, xx + 3, yy + 3], fill=col)
        d.line([(left + pw + 10, legend_y + 7), (left + pw + 30, legend_y + 7)], fill=col, width=3)
        d.text((left + pw + 36, legend_y), name, fill=(0, 0, 0), font=f_small)
        legend_y += 18
    return img
