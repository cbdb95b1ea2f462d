"""Corruption-aware training: the sensor corruptions of ``real3d.robust`` as augmentation.

``corrupt_sample`` applies to one augmented training sample (the tensors ``augment``
produces) at most one corruption of the colour or depth image, drawn with probability
``AugmentConfig.corrupt_p`` from ``AugmentConfig.corruptions`` at a severity drawn uniformly
from ``AugmentConfig.corrupt_severity``, and then, with its own probability
``AugmentConfig.depth_missing_p``, zeroes the whole depth image (a depth camera that dropped
out, fed to the network as zero-filled depth) so the RGB path of an RGB-D network learns to
segment alone. Every draw comes from the sample's torch Generator, so a sample is a pure
function of (seed, schedule item) as the rest of the augmentation is.

The corruptions run on the CPU in numpy through ``real3d.robust.corrupt`` on a Frame built
from the sample (rgb (H, W, 3) uint8, depth float32 metres with 0 = invalid); geometric
corruptions are not offered here, the affine warp of ``augment`` covers geometry.
"""

from __future__ import annotations

import numpy as np
import torch

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError
from real3d.core.frame import Frame
from real3d.robust.corruptions import GROUPS, check_corruption, corrupt

#: the corruptions training draws from by default: every colour one and every depth one
#: except ``depth_missing``, which has its own probability (``depth_missing_p``)
DEFAULT_TRAIN_CORRUPTIONS: tuple[str, ...] = GROUPS["rgb"] + tuple(n for n in GROUPS["depth"] if n != "depth_missing")

#: names ``AugmentConfig.corruptions`` accepts: the colour and depth groups
TRAINABLE_CORRUPTIONS: tuple[str, ...] = GROUPS["rgb"] + GROUPS["depth"]


def check_corruption_settings(
    corruptions, severity, corrupt_p, depth_missing_p
) -> tuple[tuple[str, ...], tuple[int, int], float, float]:
    """The corruption fields of ``AugmentConfig`` checked and normalised.

    Returns (names, (lo, hi) severities, corrupt_p, depth_missing_p). Raises ConfigError for an
    unknown or geometric corruption name, an empty list when ``corrupt_p`` > 0, a severity
    range that is not two integers lo <= hi in 1..5, or a probability outside [0, 1].
    """
    for name, p in (("corrupt_p", corrupt_p), ("depth_missing_p", depth_missing_p)):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
            raise ConfigError(f"AugmentConfig.{name}: expected a probability in [0, 1], got {p!r}")
    if isinstance(corruptions, str):
        corruptions = tuple(c.strip() for c in corruptions.split(",") if c.strip())
    try:
        names = tuple(corruptions)
    except TypeError:
        raise ConfigError(f"AugmentConfig.corruptions: expected corruption names, got {corruptions!r}") from None
    for n in names:
        check_corruption(n)
        if n not in TRAINABLE_CORRUPTIONS:
            raise ConfigError(
                f"AugmentConfig.corruptions: {n!r} is a geometric corruption (the affine warp covers geometry); "
                f"expected colour or depth ones: {', '.join(TRAINABLE_CORRUPTIONS)}"
            )
    if float(corrupt_p) > 0 and not names:
        raise ConfigError("AugmentConfig.corruptions: corrupt_p > 0 needs at least one corruption name")
    try:
        lo, hi = severity
    except (TypeError, ValueError):
        raise ConfigError(f"AugmentConfig.corrupt_severity: expected (lo, hi) in 1..5, got {severity!r}") from None
    for s in (lo, hi):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 1 <= s <= 5:
            raise ConfigError(f"AugmentConfig.corrupt_severity: expected integers in 1..5, got {severity!r}")
    if lo > hi:
        raise ConfigError(f"AugmentConfig.corrupt_severity: expected lo <= hi, got {severity!r}")
    return tuple(dict.fromkeys(names)), (int(lo), int(hi)), float(corrupt_p), float(depth_missing_p)


def parse_corruption_names(text: str) -> tuple[str, ...]:
    """``"jpeg,depth_noise"`` -> names; ``default`` (``DEFAULT_TRAIN_CORRUPTIONS``), ``rgb``
    and ``depth`` expand. ConfigError for an unknown or geometric name."""
    names: list[str] = []
    for part in (p.strip() for p in str(text).split(",")):
        if part == "default":
            names.extend(DEFAULT_TRAIN_CORRUPTIONS)
        elif part in ("rgb", "depth"):
            names.extend(GROUPS[part])
        elif part:
            names.append(part)
    if not names:
        raise ConfigError(f"--corruptions: expected corruption names, 'default', 'rgb' or 'depth', got {text!r}")
    return check_corruption_settings(names, (1, 5), 0.0, 0.0)[0]


def parse_severity_range(text: str, where: str = "--corrupt-severity") -> tuple[int, int]:
    """``"1-5"`` -> (1, 5), ``"3"`` -> (3, 3); ConfigError for anything else."""
    a, dash, b = str(text).strip().partition("-")
    try:
        lo = int(a)
        hi = int(b) if dash else lo
    except ValueError:
        raise ConfigError(f"{where}: expected a severity or a range like 1-5, got {text!r}") from None
    return lo, hi


def corrupt_sample(
    rgb: torch.Tensor,
    depth: torch.Tensor,
    corruptions: tuple[str, ...],
    severity: tuple[int, int],
    corrupt_p: float,
    depth_missing_p: float,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, str | None]:
    """One sample under at most one corruption, then maybe without depth.

    Args:
        rgb: (1, 3, H, W) float in [0, 1].
        depth: (1, 1, H, W) float metres, 0 = invalid, finite and >= 0.
        corruptions, severity, corrupt_p, depth_missing_p: as ``check_corruption_settings``
            returns them.
        gen: the sample's Generator; this function draws the same number of values from it
            whatever it applies (four when ``corrupt_p`` > 0, one more when
            ``depth_missing_p`` > 0).

    Returns:
        (rgb, depth, what) of the same shapes, dtypes and ranges; ``what`` names what was
        applied (``"jpeg:3"``, ``"depth_missing"``, ``"jpeg:3+depth_missing"``) or is None.
        A corrupted colour image is quantised to 8 bits as a camera delivers it.
    """
    applied: list[str] = []
    if corrupt_p > 0:
        hit = float(torch.rand((), generator=gen)) < corrupt_p
        which = int(torch.randint(0, len(corruptions), (), generator=gen))
        sev = int(torch.randint(severity[0], severity[1] + 1, (), generator=gen))
        seed = int(torch.randint(0, 2**62, (), generator=gen))
        if hit:
            name = corruptions[which]
            h, w = rgb.shape[-2:]
            rgb_u8 = (rgb[0].permute(1, 2, 0).clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).numpy()
            frame = Frame(
                rgb=rgb_u8,
                depth_m=np.ascontiguousarray(depth[0, 0].numpy(), dtype=np.float32),
                intrinsics=Intrinsics(fx=float(w), fy=float(w), cx=w / 2.0, cy=h / 2.0, width=w, height=h),
            )
            out = corrupt(frame, name, sev, seed)
            rgb = torch.from_numpy(np.ascontiguousarray(out.rgb)).permute(2, 0, 1)[None].float() / 255.0
            depth = torch.from_numpy(np.ascontiguousarray(out.depth_m, dtype=np.float32))[None, None]
            applied.append(f"{name}:{sev}")
    if depth_missing_p > 0 and float(torch.rand((), generator=gen)) < depth_missing_p:
        depth = torch.zeros_like(depth)
        applied.append("depth_missing")
    return rgb, depth, "+".join(applied) or None
