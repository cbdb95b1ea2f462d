"""Saving and loading segmentation weights: safetensors tensors + a JSON model card.

Loading never unpickles: tensors come from safetensors, the config and metadata from JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from real3d.core.errors import ConfigError, FormatError
from real3d.core.files import atomic_write_files
from real3d.models.cards import DIGEST_KEY, bytes_sha256, parse_card, verify_weights
from real3d.models.presets import PRESETS
from real3d.models.segmentation import Real3DVisionNet, SegNetConfig

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
PRETRAINED = ("rgbd-default", "rgb-default", "rgbd-warehouse-default", "rgb-warehouse-default")

ModelSpec = str | os.PathLike | SegNetConfig | Real3DVisionNet


def save_weights(model: Real3DVisionNet, path: str | Path, card: dict | None = None) -> Path:
    """Write ``path`` (.safetensors) and a model card next to it (same stem, .json).

    The card holds ``config`` (the SegNetConfig as a dict), ``sha256`` (of the weights file,
    checked by ``load_weights``) plus whatever ``card`` adds (command, data, seeds,
    metrics). Returns the safetensors path.
    """
    path = Path(path).with_suffix(".safetensors")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    data = save(state, metadata={"preset": model.config.name})
    meta = dict(card or {})
    meta["config"] = model.config.to_dict()
    meta[DIGEST_KEY] = bytes_sha256(data)
    meta.setdefault("params", int(sum(p.numel() for p in model.parameters())))
    meta.setdefault("size_bytes", len(data))
    # tensors and card as one group: a failed write leaves the old pair intact
    atomic_write_files({path: data, path.with_suffix(".json"): json.dumps(meta, indent=2) + "\n"})
    return path


def weights_fingerprint(net: torch.nn.Module, extra: str = "") -> str:
    """Content hash (16 hex digits) of a network's config and every tensor of its state
    dict, with ``extra`` (e.g. an export recipe) mixed in: equal for the same weights,
    different for any other (random-init presets differ per build)."""
    h = hashlib.sha1()
    h.update(repr(net.config.to_dict()).encode())
    if extra:
        h.update(extra.encode())
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def average_weights(paths: list[str | Path], coefficients: list[float] | None = None) -> Real3DVisionNet:
    """One model whose every floating-point tensor (parameters and BatchNorm running
    statistics) is the weighted mean of that tensor in the models at ``paths``.

    The models must share one network (the same config). Weights fine-tuned from a common
    start average into a working model; unrelated ones do not. Integer tensors (BatchNorm's
    batch counters) are taken from the first model, and so is the card, with an
    ``averaged_from`` entry naming the inputs and coefficients. ``coefficients`` (default
    equal) must be finite, non-negative and sum to 1.
    """
    if len(paths) < 2:
        raise ConfigError(f"average_weights: expected at least 2 weights files, got {len(paths)}")
    coef = [1.0 / len(paths)] * len(paths) if coefficients is None else [float(c) for c in coefficients]
    if len(coef) != len(paths):
        raise ConfigError(f"average_weights: {len(coef)} coefficients for {len(paths)} weights files")
    if not all(math.isfinite(c) and c >= 0 for c in coef) or abs(sum(coef) - 1.0) > 1e-6:
        raise ConfigError(f"average_weights: coefficients must be finite, >= 0 and sum to 1; got {coef}")
    models = [load_weights(p) for p in paths]
    first = models[0]
    for p, m in zip(paths[1:], models[1:]):
        if m.config.to_dict() != first.config.to_dict():
            raise ConfigError(f"average_weights: {p} is a different network from {paths[0]}")
    states = [m.state_dict() for m in models]
    out = {}
    for k, v in states[0].items():
        if v.is_floating_point():
            out[k] = sum(c * s[k].double() for c, s in zip(coef, states)).to(v.dtype)
        else:
            out[k] = v.clone()
    first.load_state_dict(out)
    first.card = {**first.card, "averaged_from": {"weights": [str(p) for p in paths], "coefficients": coef}}
    return first.eval()


def load_weights(path: str | Path) -> Real3DVisionNet:
    """Model from a ``.safetensors`` file and its ``.json`` card (in eval mode): what
    ``create_model`` does with a weights path. Any suffix is replaced by ``.safetensors``.

    The card is checked whole (``SegNetConfig``'s fields, types and ranges), the file
    against the card's ``sha256`` (a card without one loads with an
    ``UnverifiedWeightsWarning``), and the tensors must fit the network and be finite.

    Raises:
        FormatError: a missing, corrupt or altered file or card (the message names the file
            and, for the card, the field). ``create_model`` raises ConfigError for a string
            that is neither a name nor a path.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise FormatError(f"load_weights: expected {path} and {card_path}; missing")
    card = parse_card(card_path.read_bytes(), card_path)
    if "config" not in card:
        raise FormatError(f"load_weights: {card_path} has no 'config'")
    try:
        config = SegNetConfig.from_dict(card["config"])
    except ConfigError as e:
        raise FormatError(f"load_weights: {card_path} has an invalid 'config': {e}") from None
    name = card.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise FormatError(f"load_weights: {card_path} field name: expected a non-empty string, got {name!r}")
    verify_weights(path, card, "load_weights")
    model = Real3DVisionNet(config)
    state = read_tensors(path, "load_weights")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a tensor of the wrong shape
        raise FormatError(
            f"load_weights: {path} does not fit {config.name} as its card describes it: "
            f"{str(e).splitlines()[-1].strip()}"
        ) from None
    if missing or unexpected:
        raise FormatError(
            f"load_weights: {path} does not fit {model.config.name}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.card = card
    return model.eval()


def load_card_weights(module: torch.nn.Module, path: str | Path, card: dict, who: str) -> None:
    """Load the safetensors file ``path`` into ``module`` after checking it against its
    ``card`` (sha256, ``verify_weights``): every tensor must fit, none may be missing or
    extra; FormatError naming ``who`` otherwise."""
    verify_weights(path, card, who)
    state = read_tensors(path, who)
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a tensor of the wrong shape
        raise FormatError(f"{who}: {path} does not fit its card ({str(e).splitlines()[-1].strip()})") from None
    if missing or unexpected:
        raise FormatError(f"{who}: {path} does not fit its card: missing {missing[:5]}, unexpected {unexpected[:5]}")


def read_tensors(path: str | Path, who: str) -> dict[str, torch.Tensor]:
    """Every tensor of the safetensors file ``path``; FormatError naming ``who`` for a file
    that cannot be parsed or holds a floating-point tensor with NaN or inf."""
    from safetensors import SafetensorError

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise FormatError(
            f"{who}: {path} is not a readable safetensors file ({e}); restore it or save the weights again"
        ) from None
    # any NaN or inf makes the sum non-finite; float64 sums cannot overflow for real weights
    bad = [
        k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v.sum(dtype=torch.float64)))
    ]
    if bad:
        raise FormatError(
            f"{who}: {path} holds NaN or inf in {len(bad)} tensors (first: {bad[0]}): the file is "
            "corrupt; restore it or save the weights again"
        )
    return state


def list_models() -> tuple[str, ...]:
    """Every model name ``create_model`` takes: shipped weights first, then presets."""
    return PRETRAINED + tuple(PRESETS)


def network_for(spec: ModelSpec) -> Real3DVisionNet:
    """The torch network for ``spec`` (what ``create_model(spec)`` serves): a shipped name,
    a preset name (random init), a weights path, a ``SegNetConfig`` or a network (as is)."""
    if isinstance(spec, Real3DVisionNet):
        return spec
    if isinstance(spec, SegNetConfig):
        return Real3DVisionNet(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(
            f"create_model: expected a model name, a weights path, a SegNetConfig or a "
            f"Real3DVisionNet, got {type(spec).__name__}"
        )
    s = str(spec)
    if s in PRETRAINED:
        return load_weights(WEIGHTS_DIR / f"{s}.safetensors")
    if s in PRESETS:
        return Real3DVisionNet(PRESETS[s])
    p = Path(s)
    if p.suffix in (".safetensors", ".json") or p.exists():
        if p.is_dir():
            p = p / "model.safetensors"
        return load_weights(p)
    raise ConfigError(f"unknown model {s!r}; expected a path to .safetensors or one of {', '.join(list_models())}")


def load_pretrained(name: str = "rgbd-default") -> Real3DVisionNet:
    """Shipped weights by name (``PRETRAINED``: ``rgbd-default``, ``rgb-default``, and
    ``rgbd-warehouse-default`` / ``rgb-warehouse-default`` for the warehouse label set), in
    eval mode.

    Alias of ``create_model(name)`` restricted to ``PRETRAINED`` (a preset name raises)."""
    if name not in PRETRAINED:
        raise ConfigError(f"unknown pretrained model {name!r}; valid: {', '.join(PRETRAINED)}")
    return load_weights(WEIGHTS_DIR / f"{name}.safetensors")


def load_model(spec: str | Path) -> Real3DVisionNet:
    """A pretrained name, a preset name (random init) or a path to ``.safetensors``, in
    eval mode. Alias of ``create_model(spec)`` (torch backend)."""
    return network_for(spec).eval()


def count_macs(model: torch.nn.Module, size_hw: tuple[int, int] = (240, 320), head: str = "refined") -> int:
    """Multiply-accumulates of one forward pass at size_hw (conv, linear and matmul ops)."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = model.config
    rgb = torch.rand(1, 3, *size_hw) if cfg.uses_rgb else None
    depth = torch.rand(1, 1, *size_hw) * 5 if cfg.uses_depth else None
    was = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(rgb, depth, head=head)
    model.train(was)
    return int(fc.get_total_flops() // 2)
