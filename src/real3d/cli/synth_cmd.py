"""``real3d synth``: generate sequences with the data engine and write them to disk."""

from __future__ import annotations

from pathlib import Path

import typer


def parse_size(text: str) -> tuple[int, int]:
    """'240x320' -> (240, 320) as (H, W)."""
    from real3d.core.errors import InputError

    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size: expected HxW such as 240x320, got {text!r}") from None
    return h, w


def synth(
    out: Path = typer.Option(Path("real3d_synth"), "--out", help="Output folder."),
    scenes: int = typer.Option(1, "--scenes", min=1, help="Number of scenes (one sequence each)."),
    frames: int = typer.Option(60, "--frames", min=1, help="Frames per scene."),
    size: str = typer.Option("240x320", "--size", help="Image size HxW."),
    kind: str = typer.Option("home", "--kind", help="home | warehouse"),
    seed: int = typer.Option(0, "--seed", help="Seed of the first scene; scene k uses seed + k."),
    noise: bool = typer.Option(True, "--noise/--no-noise", help="Camera effects and depth noise."),
    mode: str = typer.Option("robot", "--mode", help="Camera motion: robot | handheld."),
    image_format: str = typer.Option("jpg", "--image-format", help="jpg | png colour images."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing scene folders."),
) -> None:
    """Generate synthetic RGB-D sequences with ground truth and a contact sheet PNG."""
    import numpy as np
    from PIL import Image
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from real3d.core.errors import InputError
    from real3d.core.files import atomic_path
    from real3d.synth import TextureBank, generate_sequence, write_sequence
    from real3d.synth.scene import SCENE_KINDS
    from real3d.viz.contact_sheet import contact_sheet

    hw = parse_size(size)
    if kind not in SCENE_KINDS:
        raise InputError(f"--kind: expected one of {', '.join(SCENE_KINDS)}, got {kind!r}")
    console = Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    bank = TextureBank(0)
    table = Table(title="real3d synth")
    for col in ("scene", "seed", "frames", "objects", "rooms", "valid depth", "folder"):
        table.add_column(col)
    sheets = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as progress:
        task = progress.add_task("scenes", total=scenes)
        for k in range(scenes):
            s = seed + k
            seq = generate_sequence(s, frames, size=hw, kind=kind, noise=noise, mode=mode, bank=bank)
            folder = write_sequence(
                out / f"scene_{s:05d}", seq.frames, seq.scene, image_format=image_format, overwrite=overwrite
            )
            sheets.append(contact_sheet(seq.frames, max_rows=4))
            valid = np.mean([(f.depth_m > 0).mean() for f in seq.frames])
            table.add_row(
                str(k),
                str(s),
                str(len(seq)),
                str(len(seq.scene.objects)),
                str(len(seq.scene.rooms)),
                f"{100 * valid:.1f} %",
                str(folder),
            )
            progress.advance(task)
    sheet = np.concatenate(sheets[:4], axis=0) if len(sheets) > 1 else sheets[0]
    with atomic_path(out / "contact_sheet.png") as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")
    Console().print(table)
    Console().print(f"contact sheet: {out / 'contact_sheet.png'}")
