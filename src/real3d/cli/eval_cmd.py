"""``real3d eval seg`` (mIoU, per-class IoU and pixel accuracy of a segmentation model),
``seg3d``, ``robust`` (scores under sensor corruptions), ``depth`` (AbsRel and delta<1.25
of a metric depth network) and ``transfer`` (how models transfer to real rooms, without
labels)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Evaluate models.", no_args_is_help=True)


def parse_scales(text: str, option: str = "--scales") -> tuple[float, ...]:
    """'1,1.2' -> (1.0, 1.2), checked as ``predict`` checks its scales."""
    from real3d.core.errors import InputError
    from real3d.models.segmentation import check_scales

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"{option}: expected comma-separated numbers such as 1,1.2, got {text!r}") from None
    try:
        return check_scales(values)
    except InputError as e:
        raise InputError(f"{option}: {e}") from None


@app.command("seg")
def seg(
    model: str = typer.Option("rgbd-default", "--model", help="Pretrained name, .safetensors or .onnx path."),
    data: str = typer.Option("synth:kind=mixed,size=240x320,seed=7,n=200", "--data", help="Data spec."),
    out: Path = typer.Option(Path("runs/eval"), "--out", help="Where confusion.png, overlays, metrics.json go."),
    head: str = typer.Option("refined", "--head", help="refined | coarse"),
    max_samples: int | None = typer.Option(None, "--max-samples", help="Evaluate the first N samples."),
    overlays: int = typer.Option(4, "--overlays", help="Example overlays to write."),
    threads: int = typer.Option(0, "--threads", help="torch / onnxruntime threads (0 = default)."),
    cache: Path | None = typer.Option(None, "--cache", help="Render/read the data once into this folder."),
    flip: bool = typer.Option(False, "--flip", help="Also run each mirrored frame and average (about 2x the time)."),
    scales: str = typer.Option(
        "1",
        "--scales",
        help="Comma-separated multiples of the model's size to run at "
        "and average, e.g. 1,1.2 (time grows with the sum of squared scales).",
    ),
    guided: bool | None = typer.Option(
        None,
        "--guided/--no-guided",
        help="Upsample the class probabilities along the image's edges or "
        "bilinearly (default: as the model's card says; on for the shipped weights).",
    ),
    labels: str | None = typer.Option(
        None, "--labels", help="Label set to score in, e.g. warehouse; must be the model's (default: the model's)."
    ),
) -> None:
    """Evaluate on a data spec; prints mIoU, per-class IoU, pixel accuracy and calibration (ECE)."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from real3d.cli.values import check_count
    from real3d.eval import evaluate_segmentation

    scale_list = parse_scales(scales)
    if head not in ("refined", "coarse"):
        from real3d.core.errors import ConfigError

        raise ConfigError(f"--head: expected refined or coarse, got {head!r}")
    check_count(max_samples, "--max-samples", 1, allow_none=True)
    check_count(overlays, "--overlays", 0)
    check_count(threads, "--threads", 0)

    if threads:
        torch.set_num_threads(threads)
    if model.endswith(".onnx"):
        from real3d.deploy import OrtSegmenter

        net = OrtSegmenter(model, threads=threads)
    else:
        from real3d.models import create_model

        net = create_model(model)
    from real3d.eval.segmentation import evaluation_label_set
    from real3d.train.data import open_data, parse_synth_spec

    label_set = evaluation_label_set(net)
    if labels is not None and labels != label_set.name:
        from real3d.core.errors import ConfigError

        raise ConfigError(f"--labels {labels}: {model} predicts {label_set.name} classes")
    dataset = open_data(data, cache, progress=True, labels=label_set.name)
    # Views of one synthetic scene come in blocks of the spec's fps: the mIoU's spread is
    # estimated by resampling scenes.
    per_scene = parse_synth_spec(data).fps if data == "synth" or data.startswith("synth:") else None
    m = evaluate_segmentation(
        net,
        dataset,
        head=head,
        max_samples=max_samples,
        out_dir=out,
        n_overlays=overlays,
        progress=True,
        views_per_scene=per_scene,
        flip=flip,
        scales=scale_list,
        guided=guided,
    )
    d = m.to_dict(label_set.names)
    tta = (", flip-averaged" if flip else "") + (f", scales {scales}" if scale_list != (1.0,) else "")
    tta += "" if guided is None else (", guided upsampling" if guided else ", bilinear upsampling")
    t = Table(title=f"{model} on {data} ({head}{tta})")
    t.add_column("class")
    t.add_column("IoU %", justify="right")
    for name, v in d["iou"].items():
        t.add_row(name, "-" if v is None else f"{v:.1f}")
    t.add_row("[b]mIoU[/b]", f"[b]{d['miou']:.2f}[/b]")
    if "miou_scene_bootstrap" in d:
        b = d["miou_scene_bootstrap"]
        t.add_row("mIoU std (scenes resampled)", f"{b['std']:.2f}")
        t.add_row("mIoU 95 % range", f"{b['q025']:.1f}-{b['q975']:.1f}")
    t.add_row("pixel acc", f"{d['pixel_acc']:.2f}")
    t.add_row("mean acc", f"{d['mean_acc']:.2f}")
    if "calibration" in d:
        c = d["calibration"]
        t.add_row("ECE (confidence)", f"{c['ece']:.2f} ({c['confidence']:.2f})")
    Console().print(t)
    typer.echo(f"wrote {out / 'confusion.png'}, {out / 'metrics.json'} and overlay_*.png")


@app.command("seg3d")
def seg3d(
    model: str = typer.Option(..., "--model", help="seg3d weights (.safetensors) or preset."),
    data: Path = typer.Option(..., "--data", help="Folder of held-out MapSample .npz files."),
    out: Path | None = typer.Option(None, "--out", help="Write metrics.json here (a folder)."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0 = default)."),
) -> None:
    """Score a 3D segmentation network against the 2D fusion it refines, on the same
    labelled surface voxels of every map: 3D mIoU, accuracy and per-class IoU."""
    import torch

    from real3d.models.seg3d import create_seg3d
    import json

    from real3d.core.files import atomic_write_text
    from real3d.cli.values import check_count
    from real3d.train.seg3d import evaluate_seg3d, format_seg3d_eval, sample_paths

    check_count(threads, "--threads", 0)
    if threads:
        torch.set_num_threads(threads)
    net = create_seg3d(model)
    res = evaluate_seg3d(net, sample_paths(data))
    res.update(model=str(model), data=str(data))
    typer.echo(format_seg3d_eval(res))
    typer.echo(f"{res['samples']} maps, {res['predict_ms_mean']:.0f} ms per map ({torch.get_num_threads()} threads)")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "metrics.json", json.dumps(res, indent=2))


#: ``--data`` value of the labelled real NYUv2 frame in the shared data
NYU_SAMPLE_DATA = "nyuv2-sample"


def _robust_frames(data: str, max_samples: int | None) -> list:
    """The Frames of ``eval robust --data``: the NYUv2 sample, the first ``max_samples``
    views of a synth spec (rendered once for all models), or the frames of a recorded
    sequence as read, labelled or not."""
    if data == NYU_SAMPLE_DATA:
        from real3d.eval.nyu_sample import load_nyu_sample, nyu_sample_dir

        # the checkout holding this source tree (src/real3d/cli/eval_cmd.py)
        root = nyu_sample_dir(Path(__file__).resolve().parents[3])
        try:
            return [load_nyu_sample(root)]
        except FileNotFoundError as e:
            from real3d.core.errors import FormatError

            raise FormatError(f"--data {NYU_SAMPLE_DATA}: the NYUv2 sample is not in {root} ({e})") from None
    if data == "synth" or data.startswith("synth:"):
        from real3d.eval.segmentation import sample_to_frame
        from real3d.train.data import open_data

        ds = open_data(data)
        n = len(ds) if max_samples is None else min(len(ds), max_samples)
        return [sample_to_frame(ds[i], i) for i in range(n)]
    from real3d.io import open_sequence

    frames = list(open_sequence(data))
    return frames if max_samples is None else frames[:max_samples]


@app.command("robust")
def robust(
    model: str = typer.Option(
        "rgbd-default", "--model", help="Comma-separated pretrained names, .safetensors or .onnx paths."
    ),
    data: str = typer.Option(
        "synth:kind=mixed,size=240x320,seed=7,n=208",
        "--data",
        help=f"Data spec, a recorded sequence, or {NYU_SAMPLE_DATA} (the labelled real NYUv2 frame).",
    ),
    corruptions: str = typer.Option(
        "all", "--corruptions", help="Comma-separated corruption names, groups (rgb, depth, geometry) or all."
    ),
    severities: str = typer.Option("3,5", "--severities", help="Comma-separated severities in 1..5."),
    reference: str | None = typer.Option(
        None, "--reference", help="Model the corruption error is measured against (default: the first --model)."
    ),
    out: Path = typer.Option(Path("runs/robust"), "--out", help="Where robustness.json and robustness.md go."),
    max_samples: int | None = typer.Option(None, "--max-samples", help="Evaluate the first N frames."),
    seed: int = typer.Option(0, "--seed", help="Corruption seed (with each frame's index)."),
    head: str = typer.Option("refined", "--head", help="refined | coarse"),
    threads: int = typer.Option(0, "--threads", help="torch / onnxruntime threads (0 = default)."),
) -> None:
    """Score models clean and under sensor corruptions: mIoU (or agreement with the clean
    prediction on unlabelled frames) per corruption and severity, CE and mCE against the
    reference model, RR and mRR. Writes robustness.json and robustness.md."""
    import json

    import torch

    from real3d.cli.values import check_count
    from real3d.core.errors import ConfigError, InputError
    from real3d.core.files import atomic_write_text
    from real3d.robust import evaluate_robustness, parse_corruptions
    from real3d.robust.corruptions import check_severity
    from real3d.robust.runner import robustness_report

    names = parse_corruptions(corruptions)
    try:
        sevs = tuple(int(v) for v in severities.split(","))
    except ValueError:
        raise InputError(f"--severities: expected comma-separated integers in 1..5, got {severities!r}") from None
    for s in sevs:
        check_severity(s, "--severities")
    if head not in ("refined", "coarse"):
        raise ConfigError(f"--head: expected refined or coarse, got {head!r}")
    check_count(max_samples, "--max-samples", 1, allow_none=True)
    check_count(threads, "--threads", 0)
    check_count(seed, "--seed", 0)
    models = [m.strip() for m in model.split(",") if m.strip()]
    if not models:
        raise ConfigError(f"--model: expected one or more model names, got {model!r}")
    reference = reference or models[0]
    if threads:
        torch.set_num_threads(threads)
    frames = _robust_frames(data, max_samples)

    def load(name: str):
        if name.endswith(".onnx"):
            from real3d.deploy import OrtSegmenter

            return OrtSegmenter(name, threads=threads)
        from real3d.models import create_model

        return create_model(name)

    tables = {}
    for name in dict.fromkeys([*models, reference]):
        typer.echo(f"{name}: {len(names)} corruptions x severities {','.join(map(str, sevs))} on {data}")
        tables[name] = evaluate_robustness(
            load(name),
            frames,
            names,
            sevs,
            head=head,
            max_samples=max_samples,
            seed=seed,
            model_name=name,
            data_name=data,
            progress=True,
        )
    report, markdown = robustness_report([tables[m] for m in models], tables[reference])
    report |= {"reference": reference, "severities": list(sevs), "corruptions": list(names)}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "robustness.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out / "robustness.md", markdown)
    typer.echo(markdown)
    typer.echo(f"wrote {out / 'robustness.json'} and {out / 'robustness.md'}")


@app.command("depth")
def depth(
    model: str = typer.Option("depth-rgb-default", "--model", help="Depth model name or .safetensors path."),
    data: str = typer.Option(
        "synth:kind=home,size=240x320,seed=7,n=160,camera=robot",
        "--data",
        help="Synth data spec (held-out seed) or a recorded sequence with depth.",
    ),
    floor_prior: bool = typer.Option(
        False, "--floor-prior", help="Rescale by the floor and the camera height (the pose's z; synthetic data)."
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", help="Score the first N frames."),
    threads: int = typer.Option(1, "--threads", help="torch threads."),
    out: Path | None = typer.Option(None, "--out", help="Write depth.json here (a folder)."),
) -> None:
    """Score a metric depth network against the frames' depth: AbsRel, RMSE, delta<1.25,
    the same after per-frame median scaling, and the share of depth it covers."""
    import json

    import torch

    from real3d.cli.values import check_count
    from real3d.core.files import atomic_write_text
    from real3d.models.depth import load_depth_model
    from real3d.train.depth import score_depth_frames, synth_frames

    check_count(max_frames, "--max-frames", 1, allow_none=True)
    check_count(threads, "--threads", 1)
    torch.set_num_threads(threads)
    net = load_depth_model(model)
    if data == "synth" or data.startswith("synth:"):
        frames = synth_frames(data, max_frames)
    else:
        from real3d.io import open_sequence

        frames = [f for f in open_sequence(data) if f.depth_m is not None]
        frames = frames if max_frames is None else frames[:max_frames]
    res = score_depth_frames(net, frames, floor_prior=floor_prior, progress=True)
    res.update(model=model, data=data, floor_prior=floor_prior)
    typer.echo(
        f"{model} on {data} ({res['frames']} frames{', floor prior' if floor_prior else ''}): "
        f"AbsRel {res['abs_rel']:.4f}, delta<1.25 {res['delta1']:.4f}, RMSE {res['rmse_m']:.3f} m, "
        f"coverage {res['coverage']:.3f}; median-scaled AbsRel {res['abs_rel_median_scaled']:.4f}, "
        f"delta<1.25 {res['delta1_median_scaled']:.4f}; {res['predict_ms']:.1f} ms per frame"
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "depth.json", json.dumps(res, indent=2) + "\n")


def _checkout() -> Path:
    """The checkout holding this source tree (src/real3d/cli/eval_cmd.py): the shared data
    sit beside it."""
    return Path(__file__).resolve().parents[3]


def _slug(model: str) -> str:
    """A file name for a model name or weights path: ``runs/a/model.safetensors`` ->
    ``runs_a_model``."""
    import re

    p = Path(model)
    stem = str(p.with_suffix("")) if p.suffix in (".safetensors", ".json") else model
    return re.sub(r"[^A-Za-z0-9.-]+", "_", stem).strip("_.") or "model"


def run_transfer(
    models: list[str],
    out: Path,
    real_dir: Path | None = None,
    stats_path: Path | None = None,
    progress: bool = False,
    echo=print,
) -> list:
    """The transfer check of ``real3d eval transfer`` (``real3d.eval.transfer``) for each of
    ``models`` (names or ``.safetensors`` paths) on every real capture in ``real_dir``
    (default: the shared data beside the checkout) against the NYUv2 test statistics at
    ``stats_path``. Writes under ``out``: ``transfer.json`` (every model, every frame),
    ``transfer.md`` (the tables), and per model ``<model>.png``, a contact sheet of each
    frame beside its predicted labels. Prints the notes and tables with ``echo``; returns
    the ``TransferReport``s.

    Raises:
        ConfigError: no model, an unknown model name, or a model not predicting NYUv2-13.
        FormatError: a missing statistics file, a damaged capture or weights file.
        InputError: no real frame found.
    """
    import json

    from real3d.core.errors import ConfigError
    from real3d.core.files import atomic_write_text
    from real3d.eval.transfer import (
        REAL_CAPTURES,
        REAL_STATS_FILE,
        contact_rows,
        evaluate_transfer,
        format_share_table,
        format_transfer_table,
        load_real_frames,
        load_real_stats,
        nyu_meta_dir,
    )
    from real3d.io.real_samples import real_samples_dir
    from real3d.viz.plots import label_legend, segmentation_samples, stack_vertical

    if not models:
        raise ConfigError("eval transfer: expected one or more model names or .safetensors paths, got none")
    stats = load_real_stats(stats_path or nyu_meta_dir(_checkout()) / REAL_STATS_FILE)
    real_dir = Path(real_dir) if real_dir is not None else real_samples_dir(_checkout())
    frames, notes = load_real_frames(real_dir)
    for note in notes:
        echo(note)
    if not frames:
        from real3d.core.errors import InputError

        raise InputError(f"eval transfer: no real capture under {real_dir}; expected one of {', '.join(REAL_CAPTURES)}")
    # a bad model name fails before any model runs
    reports = [evaluate_transfer(m, frames, stats, progress=progress) for m in models]
    out.mkdir(parents=True, exist_ok=True)
    for r in reports:
        sheet = stack_vertical([label_legend(width=980), segmentation_samples(contact_rows(r, frames))])
        sheet.save(out / f"{_slug(r.model)}.png")
    tables = format_transfer_table(reports, stats) + "\n\n" + format_share_table(reports, stats)
    doc = {
        "real_dir": str(real_dir),
        "frames": [{"name": f.name, "depth": f.depth, "size_hw": list(f.frame.rgb.shape[:2])} for f in frames],
        "skipped": notes,
        "models": [r.to_dict() for r in reports],
    }
    atomic_write_text(out / "transfer.json", json.dumps(doc, indent=2) + "\n")
    atomic_write_text(out / "transfer.md", tables + "\n")
    echo(tables)
    echo(f"wrote {out / 'transfer.json'}, {out / 'transfer.md'} and a contact sheet per model")
    return reports


@app.command("transfer")
def transfer(
    models: str = typer.Option(
        "rgbd-default,rgb-default", "--models", help="Comma-separated pretrained names or .safetensors paths."
    ),
    out: Path = typer.Option(Path("runs/transfer"), "--out", help="Where transfer.json, transfer.md and sheets go."),
    real: Path | None = typer.Option(
        None, "--real", help="Folder of the real captures (default: shared/data/real beside the checkout)."
    ),
    stats: Path | None = typer.Option(
        None, "--stats", help="NYUv2-13 label statistics JSON (default: the shared nyuv2_meta's)."
    ),
    threads: int = typer.Option(0, "--threads", help="torch threads (0 = default)."),
) -> None:
    """Label-free check of how models transfer to real rooms: predicted class shares and
    vertical layout on every real capture against the NYUv2 test statistics, impossible
    layouts, and mIoU on the labelled NYUv2 frame (docs/segmentation.md)."""
    import torch

    from real3d.cli.values import check_count
    from real3d.core.errors import ConfigError

    check_count(threads, "--threads", 0)
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise ConfigError(f"--models: expected one or more model names or .safetensors paths, got {models!r}")
    if threads:
        torch.set_num_threads(threads)
    run_transfer(names, out, real, stats, progress=True, echo=typer.echo)
