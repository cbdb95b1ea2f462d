"""``real3d train seg``: train a segmentation network (also under torchrun)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Train networks.", no_args_is_help=True)


@app.command("seg")
def seg(
    preset: str = typer.Option("rgbd-small", "--preset", help="Model preset (real3d.models.PRESETS)."),
    data: str = typer.Option("synth:kind=mixed,size=240x320,seed=0-999", "--data", help="Data spec: synth:... or a sequence path."),
    out: Path = typer.Option(Path("runs/seg"), "--out", help="Output folder (log, checkpoints, weights)."),
    steps: int = typer.Option(2000, "--steps", min=1, help="Optimizer steps."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Samples per step per process."),
    size: str = typer.Option("240x320", "--size", help="Training crop HxW (multiples of 16)."),
    lr: float = typer.Option(2e-3, "--lr", help="Peak AdamW learning rate."),
    warmup: int = typer.Option(50, "--warmup", help="Linear warm-up steps."),
    amp: str = typer.Option("bf16", "--amp", help="bf16 | off"),
    workers: int = typer.Option(0, "--workers", help="Data loader processes."),
    cache: Path | None = typer.Option(None, "--cache", help="Render the data once into this folder."),
    seed: int = typer.Option(0, "--seed", help="Seed of init and data schedule."),
    ckpt_every: int = typer.Option(200, "--ckpt-every", help="Steps between checkpoints."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Disable augmentation."),
    threads: int = typer.Option(0, "--threads", help="torch threads per process (0 = default)."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an existing checkpoint in --out."),
    init: Path | None = typer.Option(None, "--init", help="Start from these .safetensors weights (new schedule)."),
    grad_clip: float = typer.Option(5.0, "--grad-clip", help="Clip gradients to this global norm (0 = off)."),
) -> None:
    """Train; resumes from OUT/ckpt/last.* when present. Multi-process:
    ``torchrun --nproc-per-node 2 -m real3d.cli.main train seg ...``."""
    from real3d.cli.synth_cmd import parse_size
    from real3d.train import AugmentConfig, TrainConfig, train

    cfg = TrainConfig(
        preset=preset, data=data, out_dir=str(out), steps=steps, batch_size=batch_size,
        crop_hw=parse_size(size), lr=lr, warmup_steps=warmup, amp=amp, workers=workers,
        cache_dir=str(cache) if cache else None, seed=seed, ckpt_every=ckpt_every,
        augment=None if no_augment else AugmentConfig(), threads=threads,
        init_weights=str(init) if init else None, grad_clip=grad_clip,
    )
    summary = train(cfg, resume=not fresh)
    if "weights" in summary:
        typer.echo(f"final loss {summary['final_loss']:.4f} after {summary['steps']} steps; weights: {summary['weights']}")
