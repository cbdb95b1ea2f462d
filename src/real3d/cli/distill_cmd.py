"""``real3d train distill3d``: 3D-to-2D distillation of an RGB-only network (see
``real3d.train.distill3d``), or its RGB-only baseline with the same backbone and schedule."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import typer


def distill3d(
    out: Path = typer.Option(
        Path("runs/distill3d/model.safetensors"), "--out", help="Weights to write (.safetensors; card beside it)."
    ),
    mode: str = typer.Option(
        "paired",
        "--mode",
        help="paired (CE + L2 to the teacher's features) | unpaired (per-class GAN) | rgb (CE only).",
    ),
    preset: str = typer.Option("rgb-tiny", "--preset", help="The RGB network preset the student wraps."),
    seeds: str = typer.Option("100..103", "--seeds", help="Generated homes to train on (e.g. 100..103,110)."),
    real_seeds: str | None = typer.Option(
        None, "--real-seeds", help="unpaired: homes whose 3D features are the 'real' ones (default: --seeds)."
    ),
    val_seeds: str = typer.Option("900..901", "--val-seeds", help="Held-out homes to report mIoU on ('' = none)."),
    frames: int = typer.Option(30, "--frames", min=1, help="Frames per generated sequence."),
    size: str = typer.Option("96x128", "--size", help="Frame size HxW (multiples of 32)."),
    kind: str = typer.Option("home", "--kind", help="home | warehouse"),
    teacher: str = typer.Option("seg3d-default", "--teacher", help="The 3D network (shipped name or weights path)."),
    segmenter: str = typer.Option(
        "rgbd-default", "--segmenter", help="2D model whose probabilities the map fuses (as the pipeline), or 'gt'."
    ),
    steps: int = typer.Option(200, "--steps", min=1, help="Optimiser steps."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Frames per step."),
    lr: float = typer.Option(2e-3, "--lr", help="Peak AdamW learning rate (cosine to a tenth)."),
    feature_weight: float = typer.Option(1.0, "--feature-weight", help="lambda of the paired L2 feature term."),
    adv_weight: float = typer.Option(0.1, "--adv-weight", help="Weight of the generator term (unpaired)."),
    no_dn: bool = typer.Option(False, "--no-dn", help="Ablation: no DN1/DN2 dimension normalisation."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation and the batch schedule."),
    threads: int = typer.Option(1, "--threads", min=0, help="torch threads (0 = torch's default)."),
) -> None:
    """Distil the 3D network's features into an RGB-only network (paired or unpaired), or
    train the RGB-only baseline (--mode rgb); report held-out mIoU. Writes OUT, its card,
    and OUT with .history.json (losses per step) and .eval.json (held-out metrics)."""
    import torch

    from real3d.cli.values import parse_hw, parse_seeds
    from real3d.core.errors import InputError
    from real3d.models.distill3d import build_distill3d, save_distill3d
    from real3d.models.presets import build_model
    from real3d.models.pretrained import save_weights
    from real3d.models.seg3d import create_seg3d
    from real3d.train.distill3d import Distill3DTrainConfig, evaluate_views, generated_scenes, train_distill3d

    if threads:
        torch.set_num_threads(threads)
    if out.suffix != ".safetensors":
        raise InputError(f"--out: expected a .safetensors path, got {out}")
    hw = parse_hw(size, "--size", multiple=32)
    cfg = Distill3DTrainConfig(
        mode=mode,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        feature_weight=feature_weight,
        adv_weight=adv_weight,
        seed=seed,
    )
    train_seeds = parse_seeds(seeds)
    t0 = time.perf_counter()
    net3d = create_seg3d(teacher)
    seg2d = None
    if segmenter != "gt":
        from real3d.models.factory import create_model

        seg2d = create_model(segmenter)
    from real3d.synth import TextureBank

    bank = TextureBank(0)
    scenes = generated_scenes(train_seeds, frames, hw, net3d, kind, seg2d, bank=bank, log=typer.echo)
    real = None
    if mode == "unpaired" and real_seeds:
        real = generated_scenes(parse_seeds(real_seeds), frames, hw, net3d, kind, seg2d, bank=bank, log=typer.echo)
    torch.manual_seed(seed)
    if mode == "rgb":
        model = build_model(preset)
    else:
        model = build_distill3d(preset, sim_channels=net3d.feature_dim, dn=not no_dn)
    t_train = time.perf_counter()
    history = train_distill3d(model, scenes, cfg, real_scenes=real, log=typer.echo)
    train_s = time.perf_counter() - t_train
    result = {"train_s": round(train_s, 1)}
    if val_seeds.strip():
        from real3d.synth import generate_sequence

        views = [f for s in parse_seeds(val_seeds) for f in generate_sequence(s, frames, hw, kind, bank=bank).frames]
        result.update(evaluate_views(model, views))
        typer.echo(f"held-out mIoU {result['miou']:.4f} pixel acc {result['pixel_acc']:.4f} on {len(views)} views")
    card = {
        "command": "real3d " + shlex.join(sys.argv[1:]),
        "teacher": teacher,
        "segmenter": segmenter,
        "train": cfg.to_dict(),
        "eval": result,
        "origin": "trained from scratch by real3d on its own data engine (no pretrained part)",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    if mode == "rgb":
        save_weights(model, out, card)
    else:
        save_distill3d(model, out, card)
    out.with_suffix(".history.json").write_text(json.dumps(history) + "\n")
    out.with_suffix(".eval.json").write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(f"weights: {out} ({time.perf_counter() - t0:.0f} s in all, {train_s:.0f} s training)")
