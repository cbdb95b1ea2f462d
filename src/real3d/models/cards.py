"""Model cards: the JSON file beside a ``.safetensors`` weights file (written by
``real3d.models.save_weights``), which records what the weights are, how they were made,
their measured figures and the sha256 of the weights file.

Tools that derive new weights from old ones (a weight average, a recalibration, a fine-tune)
start the new card from the old one without the entries that described the old weights
(``derived_card``) and record the command that made them (``tool_command``); tools that
measure weights rewrite the card in place (``read_card`` / ``write_card``).

Every card real3d writes carries ``"sha256"``, the digest of its weights file, and every
loader checks it (``verify_weights``): a corrupt or altered file is a FormatError naming the
file and both digests. A card without the entry (written by an older real3d) loads with an
``UnverifiedWeightsWarning``; ``write_card`` adds the entry to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import sys
import threading
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from real3d.core.errors import FormatError
from real3d.core.files import atomic_write_text

#: card entries that describe one set of weights only: the architecture (rewritten by
#: ``save_weights``), the measured figures and the weights file's digest
WEIGHTS_ONLY = ("config", "metrics", "sha256")

#: the card entry holding the hex sha256 of the weights file
DIGEST_KEY = "sha256"

_HEX64 = re.compile(r"[0-9a-f]{64}")


class UnverifiedWeightsWarning(UserWarning):
    """Weights were loaded whose card records no sha256, so their integrity is not checked."""


def card_path(weights: str | Path) -> Path:
    """The card of ``weights`` (``W.safetensors`` -> ``W.json``)."""
    return Path(weights).with_suffix(".json")


def parse_card(text: str | bytes, where: str | Path) -> dict:
    """A card from its JSON text; FormatError naming ``where`` for text that is not a
    JSON object."""
    try:
        card = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"model card {where} is not valid JSON ({e}); restore it or re-save the weights") from None
    if not isinstance(card, dict):
        raise FormatError(f"model card {where}: expected a JSON object, got {type(card).__name__}")
    return card


def read_card(weights: str | Path) -> dict:
    """The card of the weights file ``weights`` (``FileNotFoundError`` when there is none,
    FormatError when it is not a JSON object)."""
    path = card_path(weights)
    return parse_card(path.read_bytes(), path)


def write_card(weights: str | Path, card: dict) -> Path:
    """Write ``card`` as the card of ``weights`` atomically (indented JSON); returns its path.

    When the weights file exists its sha256 is recorded in the card (``DIGEST_KEY``)."""
    if Path(weights).is_file():
        card = {**card, DIGEST_KEY: file_sha256(weights)}
    return atomic_write_text(card_path(weights), json.dumps(card, indent=2) + "\n")


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of ``data`` (what a card records for a weights file of these bytes)."""
    return hashlib.sha256(data).hexdigest()


_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path``, remembered per (path, size, modification time)
    so that loading the same weights again does not read them twice (a few ms per MB)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(key)
    if known is not None:
        return known
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    with _DIGESTS_LOCK:
        if len(_DIGESTS) > 256:
            _DIGESTS.clear()
        _DIGESTS[key] = digest
    return digest


def verify_weights(weights: str | os.PathLike, card: dict, who: str) -> None:
    """Check the weights file against the sha256 its card records.

    Args:
        weights: the weights file.
        card: its card (a dict).
        who: the loader, for messages (``load_weights``...).

    Raises:
        FormatError: the card's ``sha256`` is not 64 hex digits, or the file's digest
            differs from it (the message names the file, both digests and what to do).

    A card without ``sha256`` gives an ``UnverifiedWeightsWarning`` and passes."""
    weights = Path(weights)
    expected = card.get(DIGEST_KEY)
    if expected is None:
        warnings.warn(
            f"{who}: the card {card_path(weights)} records no sha256, so {weights} is not checked for "
            "corruption; write_card (real3d.models.cards) adds it",
            UnverifiedWeightsWarning,
            stacklevel=3,
        )
        return
    if not isinstance(expected, str) or not _HEX64.fullmatch(expected):
        raise FormatError(
            f"{who}: {card_path(weights)} field {DIGEST_KEY}: expected 64 lower-case hex digits, got {expected!r}"
        )
    actual = file_sha256(weights)
    if actual != expected:
        raise FormatError(
            f"{who}: {weights} is corrupt or was changed after its card was written: sha256 {actual}, its card "
            f"{card_path(weights)} expects {expected}; restore the file (reinstall real3d for shipped weights) "
            "or save the weights again"
        )


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
