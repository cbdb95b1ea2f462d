"""``real3d train seg`` (a 2D segmentation network, also under torchrun), ``train boxes``
(the scene graph's box refiner), ``train seg3d`` (the 3D network on fused maps), ``train
distill3d`` (an RGB network that learns the 3D network's features, ``real3d.cli.distill_cmd``)
and ``train depth`` (the metric depth network of the camera-only path)."""

from __future__ import annotations

from pathlib import Path

import typer

from real3d.cli import distill_cmd

app = typer.Typer(help="Train networks.", no_args_is_help=True)
app.command("distill3d")(distill_cmd.distill3d)


@app.command("seg")
def seg(
    preset: str = typer.Option("rgbd-small", "--preset", help="Model preset (real3d.models.PRESETS)."),
    data: str = typer.Option(
        "synth:kind=mixed,size=240x320,seed=0-999", "--data", help="Data spec: synth:... or a sequence path."
    ),
    out: Path = typer.Option(Path("runs/seg"), "--out", help="Output folder (log, checkpoints, weights)."),
    steps: int = typer.Option(2000, "--steps", min=1, help="Optimizer steps."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Samples per step per process."),
    size: str = typer.Option(
        "256x320",
        "--size",
        help="Training crop HxW (multiples of 16; multiples of 32 match how predict runs the network).",
    ),
    lr: float = typer.Option(2e-3, "--lr", help="Peak AdamW learning rate."),
    warmup: int = typer.Option(50, "--warmup", help="Linear warm-up steps."),
    amp: str = typer.Option("auto", "--amp", help="auto (bf16 where the CPU has it natively) | bf16 | off"),
    workers: int = typer.Option(0, "--workers", help="Data loader processes."),
    cache: Path | None = typer.Option(None, "--cache", help="Render the data once into this folder."),
    seed: int = typer.Option(0, "--seed", help="Seed of init and data schedule."),
    ckpt_every: int = typer.Option(200, "--ckpt-every", help="Steps between checkpoints."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Disable augmentation."),
    corrupt_p: float = typer.Option(
        0.0, "--corrupt-p", help="Probability per sample of one real3d.robust corruption (corruption-aware training)."
    ),
    corruptions: str = typer.Option(
        "default", "--corruptions", help="Corruptions to draw from: names, 'rgb', 'depth' or 'default' (rgb + depth)."
    ),
    corrupt_severity: str = typer.Option("1-5", "--corrupt-severity", help="Severity range drawn from, e.g. 1-5."),
    depth_missing_p: float = typer.Option(
        0.0, "--depth-missing-p", help="Probability per sample that its depth is all 0 (keeps the RGB path strong)."
    ),
    threads: int = typer.Option(0, "--threads", help="torch threads per process (0 = default)."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an existing checkpoint in --out."),
    init: str | None = typer.Option(
        None, "--init", help="Start from these weights: a shipped name or .safetensors (new schedule)."
    ),
    grad_clip: float = typer.Option(5.0, "--grad-clip", help="Clip gradients to this global norm (0 = off)."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N (data stays on the CPU)."),
    teacher: str | None = typer.Option(
        None, "--teacher", help="Also learn a trained network's class distributions (name or .safetensors)."
    ),
    distill_weight: float = typer.Option(1.0, "--distill-weight", help="Weight of the distillation term."),
    distill_temperature: float = typer.Option(
        2.0, "--distill-temperature", help="Softmax temperature of distillation."
    ),
    teacher_flip: bool = typer.Option(
        False, "--teacher-flip", help="Teach the mean of the teacher's plain and mirrored distributions."
    ),
    teacher_clean: bool = typer.Option(
        False,
        "--teacher-clean",
        help="With --corrupt-p / --depth-missing-p: the teacher sees each crop before its corruption.",
    ),
    teacher_scales: str = typer.Option(
        "1",
        "--teacher-scales",
        help="Also run the teacher at these multiples of the crop size, e.g. 1,1.2, and teach the mean distribution.",
    ),
    lovasz_weight: float = typer.Option(
        0.0, "--lovasz-weight", help="Weight of a Lovász-softmax (IoU surrogate) term on the refined output."
    ),
    lovasz_stride: int = typer.Option(2, "--lovasz-stride", help="The Lovász term uses every N-th pixel each way."),
    imagenet: str | None = typer.Option(
        None,
        "--imagenet",
        help="Start the MobileNetV2 encoders of a *-mnv2 preset from ImageNet "
        "weights: 'auto' (imported into the user cache when missing) or a path.",
    ),
    labels: str | None = typer.Option(
        None, "--labels", help="Label set to learn, e.g. warehouse (default: the preset's, NYUv2-13)."
    ),
    encoder_lr_scale: float = typer.Option(
        1.0, "--encoder-lr-scale", help="The encoders train at this multiple of the learning rate (e.g. 0.1)."
    ),
    freeze_encoder_bn: bool = typer.Option(
        False, "--freeze-encoder-bn", help="Keep the encoders' BatchNorm statistics and affine parameters as loaded."
    ),
    feature_distance: float = typer.Option(
        0.0,
        "--feature-distance",
        help="Weight of a term keeping the RGB encoder's features close to ImageNet's (needs --imagenet).",
    ),
    teacher_features: float = typer.Option(
        0.0,
        "--teacher-features",
        help="Weight of a term drawing the encoder stage features to the teacher's (needs --teacher; "
        "a model pruned from the teacher is compared on the channels it kept).",
    ),
) -> None:
    """Train; resumes from OUT/ckpt/last.* when present. Multi-process:
    ``torchrun --nproc-per-node 2 -m real3d.cli.main train seg ...``."""
    from real3d.cli.eval_cmd import parse_scales
    from real3d.cli.values import check_rate, parse_hw
    from real3d.train import AugmentConfig, TrainConfig, train
    from real3d.train.corrupt_augment import parse_corruption_names, parse_severity_range

    aug = AugmentConfig(
        corrupt_p=corrupt_p,
        corruptions=parse_corruption_names(corruptions),
        corrupt_severity=parse_severity_range(corrupt_severity),
        depth_missing_p=depth_missing_p,
    )
    # TrainConfig checks every value (sizes, counts, rates) before any data is rendered
    check_rate(lr, "--lr")
    cfg = TrainConfig(
        preset=preset,
        data=data,
        out_dir=str(out),
        steps=steps,
        batch_size=batch_size,
        crop_hw=parse_hw(size, "--size", multiple=16),
        lr=lr,
        warmup_steps=warmup,
        amp=amp,
        workers=workers,
        cache_dir=str(cache) if cache else None,
        seed=seed,
        ckpt_every=ckpt_every,
        augment=None if no_augment else aug,
        threads=threads,
        init_weights=str(init) if init else None,
        grad_clip=grad_clip,
        device=device,
        teacher=teacher,
        distill_weight=distill_weight,
        distill_temperature=distill_temperature,
        teacher_flip=teacher_flip,
        teacher_clean=teacher_clean,
        teacher_scales=parse_scales(teacher_scales, "--teacher-scales"),
        lovasz_weight=lovasz_weight,
        lovasz_stride=lovasz_stride,
        imagenet_init=imagenet,
        labels=labels,
        encoder_lr_scale=encoder_lr_scale,
        freeze_encoder_bn=freeze_encoder_bn,
        feature_distance_weight=feature_distance,
        teacher_feature_weight=teacher_features,
    )
    summary = train(cfg, resume=not fresh)
    if "weights" in summary:
        typer.echo(
            f"final loss {summary['final_loss']:.4f} after {summary['steps']} steps; weights: {summary['weights']}"
        )


def _parse_seeds(text: str) -> list[int]:
    """``"100-147"`` or ``"1,2,5-7"`` -> seed list."""
    out: list[int] = []
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    except ValueError:
        raise typer.BadParameter(f"expected seeds like 100-147 or 1,2,5-7, got {text!r}") from None
    if not out:
        raise typer.BadParameter(f"expected at least one seed, got {text!r}")
    return out


@app.command("boxes")
def boxes(
    seeds: str = typer.Option("100-195,212-403", "--seeds", help="Data-engine home seeds to learn from."),
    val_seeds: str = typer.Option("196-211", "--val-seeds", help="Home seeds that choose min_score and report."),
    frames: int = typer.Option(300, "--frames", min=10, help="Frames per sequence."),
    snapshots: str = typer.Option("100,200,300", "--snapshots", help="Frame counts after which samples are taken."),
    out: Path = typer.Option(Path("runs/box-refiner"), "--out", help="Output folder."),
    cache: Path | None = typer.Option(None, "--cache", help="Keep collected samples here (.npz) for reruns."),
    hidden: int = typer.Option(128, "--hidden", min=4, help="Hidden units per layer."),
    epochs: int = typer.Option(400, "--epochs", min=1, help="Full-batch epochs."),
    lr: float = typer.Option(3e-3, "--lr", help="AdamW learning rate."),
    weight_decay: float = typer.Option(1e-2, "--weight-decay", help="AdamW weight decay."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation."),
    modes: str = typer.Option(
        "instances,labels",
        "--modes",
        help="Fusions to learn from: instances (with 2D instance segments), labels (classes only).",
    ),
) -> None:
    """Train the scene graph's box refiner (``real3d.scene.refine``) on data-engine homes
    fused with ground-truth labels (with and/or without 2D instance segments); writes
    OUT/box-refiner.safetensors and its model card OUT/box-refiner.json."""
    import json
    import time

    import numpy as np

    from real3d.core.files import atomic_path
    from real3d.train.box_refiner import (
        collect_samples,
        estimate_detection,
        samples_fingerprint,
        train_box_refiner,
    )

    from real3d.cli.values import check_rate

    check_rate(lr, "--lr")
    check_rate(weight_decay, "--weight-decay", inclusive=True)
    train_seeds, check_seeds = _parse_seeds(seeds), _parse_seeds(val_seeds)
    if set(train_seeds) & set(check_seeds):
        raise typer.BadParameter("--seeds and --val-seeds must not share a seed")
    try:
        snaps = tuple(int(v) for v in snapshots.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected frame counts like 100,200,300, got {snapshots!r}") from None
    if not snaps or any(not 0 < v <= frames for v in snaps):
        raise typer.BadParameter(f"snapshots must lie in 1..{frames}, got {snapshots!r}")

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    if not mode_list or any(m not in ("instances", "labels") for m in mode_list):
        raise typer.BadParameter(f"--modes: expected instances and/or labels, got {modes!r}")

    def one(seed_: int, mode: str) -> dict:
        make = lambda: collect_samples([seed_], frames, snaps, instances=mode == "instances", progress=False)
        if cache is None:
            return make()
        # Samples depend on the engine, the fusion and the clustering: keyed by all three.
        path = Path(cache) / f"boxes_{seed_}_{frames}_{'-'.join(map(str, snaps))}_{mode}_{samples_fingerprint()}.npz"
        if path.is_file():
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        s = make()
        with atomic_path(path) as tmp:
            np.savez(tmp, **s)
        return s

    def samples(which: list[int]) -> dict:
        from tqdm import tqdm

        parts = [one(s_, m) for s_ in tqdm(which, desc="box-refiner samples") for m in mode_list]
        offset = 0
        for p_ in parts:  # snapshot ids unique over the whole set
            p_["snapshot"] = p_["snapshot"] + offset
            offset = int(p_["snapshot"].max()) + 1
        return {k: np.concatenate([p_[k] for p_ in parts]) for k in parts[0]}

    t0 = time.perf_counter()
    tr, va = samples(train_seeds), samples(check_seeds)
    t_collect = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = train_box_refiner(tr, hidden=hidden, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed)
    t_train = time.perf_counter() - t0
    grid = [round(float(v), 2) for v in np.arange(0.0, 0.91, 0.05)]
    by_score = {t: estimate_detection(va, ref, t) for t in grid}
    best = max(grid, key=lambda t: (round(by_score[t]["f1"], 4), -t))
    metrics = {
        "validation_unrefined": estimate_detection(va),
        "validation_refined_all_kept": by_score[0.0],
        "validation_refined": by_score[best],
        "train_unrefined": estimate_detection(tr),
        "train_refined": estimate_detection(tr, ref, best),
        "validation_f1_by_min_score": {str(t): round(by_score[t]["f1"], 4) for t in grid},
    }
    ref.card = {
        "name": "box-refiner",
        # Every option that changes the weights, spelt out (output and cache folders do not).
        "command": " ".join(
            [
                "real3d train boxes",
                "--seeds",
                seeds,
                "--val-seeds",
                val_seeds,
                "--frames",
                str(frames),
                "--snapshots",
                snapshots,
                "--hidden",
                str(hidden),
                "--epochs",
                str(epochs),
                "--lr",
                str(lr),
                "--weight-decay",
                str(weight_decay),
                "--seed",
                str(seed),
                "--modes",
                modes,
            ]
        ),
        "data": {
            "train_seeds": seeds,
            "val_seeds": val_seeds,
            "frames": frames,
            "snapshots": list(snaps),
            "kind": "home",
            "labels": "ground truth; modes: "
            + ", ".join(mode_list)
            + " (instances: with ground-truth 2D instance segments; labels: class labels only)",
            "n_train": len(tr["label"]),
            "n_val": len(va["label"]),
        },
        "model": {"hidden": hidden, "epochs": epochs, "lr": lr, "weight_decay": weight_decay, "seed": seed},
        "min_score": best,
        "metrics": metrics,
        "note": "detection figures are estimates from the samples (largest cluster of a visible object, IoU >= "
        "0.25 with it); benchmarks/eval_mapping.py gives the graph's own",
        "seconds": {"collect": round(t_collect, 1), "train": round(t_train, 1)},
    }
    path = ref.save(Path(out) / "box-refiner.safetensors")
    typer.echo(json.dumps(metrics, indent=1))
    typer.echo(f"min_score {best}; weights: {path}")


@app.command("seg3d")
def seg3d(
    data: Path = typer.Option(..., "--data", help="Folder of MapSample .npz files (tools/build_map_dataset.py)."),
    out: Path = typer.Option(
        Path("runs/seg3d/model.safetensors"), "--out", help="Weights to write (.safetensors + .json card)."
    ),
    model: str = typer.Option("seg3d-small", "--model", help="seg3d preset or weights to start from."),
    val: Path | None = typer.Option(None, "--val", help="Folder of held-out MapSample files scored into the card."),
    steps: int = typer.Option(1200, "--steps", min=1, help="Optimizer steps."),
    batch: int = typer.Option(2, "--batch", min=1, help="Crops per step."),
    crop: float = typer.Option(3.0, "--crop", help="Crop edge in x and y, metres."),
    lr: float = typer.Option(2e-3, "--lr", help="Peak AdamW learning rate."),
    offset_weight: float = typer.Option(1.0, "--offset-weight", help="Weight of the centre-offset loss."),
    seed: int = typer.Option(0, "--seed", help="Seed of init, crops and augmentation."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0 = default)."),
    ckpt_every: int = typer.Option(250, "--ckpt-every", help="Steps between checkpoints written to --out (0 = none)."),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        help="Comma list of input groups to widen --model to first (added groups start at zero), e.g. "
        "geometry,ternary,color,evidence.",
    ),
) -> None:
    """Train the 3D segmentation network (``real3d.models.seg3d``) on fused maps; the card
    records the command, the data and, with --val, the fusion-vs-network scores."""
    import torch

    from real3d.cli.values import check_count
    from real3d.train.seg3d import Seg3DTrainConfig, format_seg3d_eval, train_seg3d

    check_count(threads, "--threads", 0)
    # Seg3DTrainConfig checks the counts and rates before any sample is read
    cfg = Seg3DTrainConfig(
        model=model,
        iterations=steps,
        batch=batch,
        crop_m=crop,
        lr=lr,
        offset_weight=offset_weight,
        seed=seed,
        checkpoint_every=ckpt_every,
        encoding=None if encoding is None else tuple(e.strip() for e in encoding.split(",") if e.strip()),
    )
    if threads:
        torch.set_num_threads(threads)
    command = " ".join(
        [
            "real3d train seg3d",
            "--data",
            str(data),
            "--out",
            str(out),
            "--model",
            model,
            *(["--val", str(val)] if val else []),
            "--steps",
            str(steps),
            "--batch",
            str(batch),
            "--crop",
            f"{crop:g}",
            "--lr",
            f"{lr:g}",
            "--offset-weight",
            f"{offset_weight:g}",
            "--seed",
            str(seed),
            "--threads",
            str(threads),
            *(["--encoding", encoding] if encoding else []),
        ]
    )
    card = train_seg3d(data, out, cfg, val_dir=val, log=lambda m: typer.echo(m), command=command)
    if "eval" in card:
        typer.echo(format_seg3d_eval(card["eval"]))
    typer.echo(f"wrote {out}")


@app.command("depth")
def depth(
    data: str = typer.Option(
        "synth:kind=home,size=120x160,seed=0,n=2400,camera=robot", "--data", help="Training data spec."
    ),
    out: Path = typer.Option(Path("runs/depth"), "--out", help="Output folder (model.safetensors + card, log.json)."),
    preset: str = typer.Option("depth-small", "--preset", help="Depth preset (real3d.models.depth.DEPTH_PRESETS)."),
    init: str | None = typer.Option(
        "rgb-default",
        "--init",
        help="Start the encoder and feature pyramid from this segmentation model (or depth weights); 'none': random.",
    ),
    val: str | None = typer.Option(None, "--val", help="Held-out data spec scored during and after training."),
    val_every: int = typer.Option(0, "--val-every", help="Score --val every N steps (0: at the end only)."),
    steps: int = typer.Option(2000, "--steps", help="Optimizer steps."),
    batch_size: int = typer.Option(8, "--batch-size", help="Samples per step."),
    size: str = typer.Option("128x160", "--size", help="Training size HxW (multiples of 32)."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak AdamW learning rate."),
    warmup: int = typer.Option(50, "--warmup", help="Linear warm-up steps."),
    cache: Path | None = typer.Option(None, "--cache", help="Render the data once into this folder."),
    seed: int = typer.Option(0, "--seed", help="Seed of init, sampling and augmentation."),
    threads: int = typer.Option(1, "--threads", help="torch threads."),
    max_minutes: float | None = typer.Option(None, "--max-minutes", help="Stop (and save) after this much wall time."),
) -> None:
    """Train the metric depth network (``real3d.models.depth``) on the data engine's depth:
    scale-invariant log + L1 loss, a confidence head; writes weights with a card."""
    from real3d.cli.values import parse_hw
    from real3d.train.depth import DepthTrainConfig, train_depth

    cfg = DepthTrainConfig(
        data=data,
        out=str(out),
        preset=preset,
        init=None if init in (None, "none") else init,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        warmup=warmup,
        size_hw=parse_hw(size, "--size", 32),
        seed=seed,
        threads=threads,
        cache_dir=None if cache is None else str(cache),
        val_data=val,
        val_every=val_every,
        max_seconds=None if max_minutes is None else 60.0 * max_minutes,
    )
    res = train_depth(cfg, progress=True)
    if res["val"]:
        v = res["val"]
        typer.echo(f"held-out: AbsRel {v['abs_rel']:.4f}, delta<1.25 {v['delta1']:.4f}, coverage {v['coverage']:.3f}")
    typer.echo(f"{res['steps']} steps in {res['seconds']:.0f} s; wrote {res['path']}")
