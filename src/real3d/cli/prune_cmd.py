"""``real3d prune``: structured channel pruning of a segmentation model to a MAC budget
(``real3d.deploy.prune``), written as weights with a model card."""

from __future__ import annotations

import math
from pathlib import Path

import typer

_SUFFIXES = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}


def parse_macs(text: str, option: str = "--macs") -> int:
    """``'1.0G'``, ``'750M'``, ``'2.5e9'`` -> multiply-accumulates (an integer > 0).

    Raises:
        ConfigError: anything else (the message names ``option``)."""
    from real3d.core.errors import ConfigError

    t = str(text).strip().upper()
    scale = _SUFFIXES.get(t[-1:], None) if t and t[-1:].isalpha() else 1
    number = t[:-1] if t and t[-1:].isalpha() else t
    try:
        value = float(number) * scale if scale is not None else float("nan")
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{option}: expected a MAC count > 0 such as 1.0G, 750M or 2.5e9, got {text!r}")
    return int(value)


def prune(
    model: str = typer.Option(..., "--model", help="The model to prune: .safetensors path, pretrained name or preset."),
    macs_of: str | None = typer.Option(
        None, "--macs-of", help="Budget: the MACs of this model (name, preset or path) at --size."
    ),
    macs: str | None = typer.Option(None, "--macs", help="Budget: multiply-accumulates at --size, e.g. 1.0G, 750M."),
    size: str = typer.Option("224x288", "--size", help="Input size HxW at which MACs are counted (multiples of 16)."),
    importance: str = typer.Option("l1", "--importance", help="l1 | l2 (weight magnitude) | taylor (needs --data)."),
    data: str | None = typer.Option(None, "--data", help="Labelled data spec for --importance taylor."),
    cache: Path | None = typer.Option(None, "--cache", help="Render / read --data once into this folder."),
    samples: int = typer.Option(8, "--samples", help="Samples of --data whose gradients rank the channels."),
    round_to: int = typer.Option(8, "--round-to", help="Pruned widths are multiples of this (8 suits INT8)."),
    step: float = typer.Option(0.01, "--step", help="Fraction of every layer's width pruned per step."),
    name: str | None = typer.Option(None, "--name", help="Name of the pruned model (default: <source>-pruned)."),
    out: Path = typer.Option(Path("pruned.safetensors"), "--out", help="Output weights (.safetensors + .json card)."),
) -> None:
    """Prune a model's channels until one forward pass at --size costs at most the budget
    (--macs-of or --macs); writes OUT and its card (source, budget, MACs and parameters
    before and after, the kept encoder channels, the command). Needs torch-pruning
    (pip install "real3d\\[prune]"); loading the result does not."""
    import shlex
    import sys

    from real3d.cli.values import check_count, parse_hw
    from real3d.core.errors import ConfigError
    from real3d.deploy.prune import IMPORTANCES, batches_from_samples, prune_to_macs
    from real3d.models import create_model
    from real3d.models.pretrained import count_macs, save_weights

    # every argument is checked before any model is loaded
    hw = parse_hw(size, "--size", multiple=16)
    if (macs_of is None) == (macs is None):
        raise ConfigError("real3d prune: give the budget as exactly one of --macs-of MODEL or --macs N")
    budget = parse_macs(macs) if macs is not None else None
    if importance not in IMPORTANCES:
        raise ConfigError(f"--importance: unknown {importance!r}; valid: {', '.join(IMPORTANCES)}")
    if importance == "taylor" and not data:
        raise ConfigError("--importance taylor: needs labelled data (--data SPEC)")
    check_count(samples, "--samples", 1)
    check_count(round_to, "--round-to", 1)

    source = create_model(model)
    if budget is None:
        budget = count_macs(create_model(macs_of), hw)
    batches = None
    if importance == "taylor":
        from real3d.train.data import open_data
        from real3d.train.loop import model_label_set

        dataset = open_data(data, cache, progress=True, labels=model_label_set(source.config))
        batches = batches_from_samples(dataset, samples)
    result = prune_to_macs(
        source, budget, hw, importance=importance, batches=batches, round_to=round_to, step_fraction=step, name=name
    )
    # a new card: the source's entries (history, measured figures, float list) describe other weights
    src_card = source.card or {}
    card = {
        "name": result.model.config.name,
        "source": {
            "model": model,
            "name": src_card.get("name", source.config.name),
            "sha256": src_card.get("sha256"),
            "command": src_card.get("command"),
        },
        "budget": {"macs": int(budget), "macs_of": macs_of, "size_hw": list(hw)},
        "pruned": {**result.card_entry(), "source_sha256": src_card.get("sha256")},
        "command": "real3d " + shlex.join(sys.argv[1:]),
    }
    path = save_weights(result.model, out, card)
    typer.echo(
        f"{source.config.name}: {result.macs_before / 1e9:.3f} -> {result.macs_after / 1e9:.3f} GMAC at "
        f"{hw[0]}x{hw[1]} (budget {budget / 1e9:.3f}), {result.params_before / 1e6:.2f} M -> "
        f"{result.params_after / 1e6:.2f} M parameters in {result.steps} steps; wrote {path}"
    )
