"""Editing model cards: the JSON file beside a ``.safetensors`` weights file (written by
``real3d.models.save_weights``), which records what the weights are, how they were made and
their measured figures.

Tools that derive new weights from old ones (a weight average, a recalibration, a fine-tune)
start the new card from the old one without the entries that described the old weights
(``derived_card``) and record the command that made them (``tool_command``); tools that
measure weights rewrite the card in place (``read_card`` / ``write_card``).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from real3d.core.files import atomic_write_text

#: card entries that describe one set of weights only: the architecture (rewritten by
#: ``save_weights``) and the measured figures
WEIGHTS_ONLY = ("config", "metrics")


def card_path(weights: str | Path) -> Path:
    """The card of ``weights`` (``W.safetensors`` -> ``W.json``)."""
    return Path(weights).with_suffix(".json")


def read_card(weights: str | Path) -> dict:
    """The card of the weights file ``weights`` (``FileNotFoundError`` when there is none)."""
    return json.loads(card_path(weights).read_text())


def write_card(weights: str | Path, card: dict) -> Path:
    """Write ``card`` as the card of ``weights`` atomically (indented JSON); returns its path."""
    return atomic_write_text(card_path(weights), json.dumps(card, indent=2) + "\n")


def derived_card(model, drop: Iterable[str] = WEIGHTS_ONLY) -> dict:
    """A copy of ``model.card`` (empty where the model has none) without the ``drop`` keys:
    the start of the card of weights derived from ``model``'s."""
    drop = set(drop)
    return {k: v for k, v in (getattr(model, "card", None) or {}).items() if k not in drop}


def tool_command(script: str, argv: Sequence[str] | None = None) -> str:
    """The command line that ran ``script`` (a path such as ``tools/tune_decoder.py``) with
    the arguments ``argv[1:]`` (default ``sys.argv``), quoted as a shell would need."""
    argv = sys.argv if argv is None else argv
    return f"python {script} " + shlex.join(argv[1:])
