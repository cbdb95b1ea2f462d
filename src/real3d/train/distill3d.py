"""3D-to-2D distillation: targets from a 3D network on fused maps, losses, training.

The student (``real3d.models.distill3d.Distill3DNet``) learns to simulate, from RGB alone,
the per-voxel features of the 3D network (``real3d.models.seg3d``, the teacher). Two ways:

*Paired*: for a generated sequence, a map is fused along the camera path with the pipeline's
map settings (``fuse_frames``), the teacher runs on it, and every pixel with depth gets the
feature of the surface voxel it sees (``pixel_voxel_rows``: the pixel is back-projected
with its depth, intrinsics and ``world_T_cam`` and matched to the nearest surface point of
the map within ``max_dist_m``). Loss: ``CE + feature_weight * L2(f3d_sim, f3d)`` on those
pixels (``paired_feature_loss``).

*Unpaired*: the 2D frames and the 3D scenes need not match. Per-category discriminators
(``CategoryDiscriminators``: one per class, six fully connected layers each) tell real 3D
features of class k (voxels labelled k in 3D) from simulated ones of class k (pixels
labelled k in 2D); the student is the generator. Discriminator and generator steps
alternate.

Frames: voxel points are world metres (z up); poses ``world_T_cam`` map camera points
(OpenCV: +x right, +y down, +z forward) to the world.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.geometry.projection import unproject_depth
from real3d.models.distill3d import Distill3DNet, channel_stats
from real3d.models.segmentation import Real3DVisionNet
from real3d.train.losses import seg_loss

MODES = ("paired", "unpaired", "rgb")


# ----------------------------------------------------------------------------- targets
def pixel_voxel_rows(
    depth_m: np.ndarray,
    intrinsics: Intrinsics,
    world_T_cam: np.ndarray,
    voxel_points: np.ndarray,
    max_dist_m: float,
    tree=None,
) -> np.ndarray:
    """The voxel each pixel sees: back-project, transform to the world, nearest voxel point.

    Args:
        depth_m: (H, W) float z-depth in metres, 0 = invalid.
        intrinsics: the camera of ``depth_m`` (same size).
        world_T_cam: (4, 4) camera-to-world pose.
        voxel_points: (N, 3) world metres, one point per voxel (a map's surface points).
        max_dist_m: a pixel whose world point lies farther than this from every voxel
            point sees none.
        tree: a ``scipy.spatial.cKDTree`` over ``voxel_points`` (built when None).

    Returns:
        (H, W) int64 row of ``voxel_points`` per pixel, -1 where the pixel has no depth or
        no voxel within ``max_dist_m``.
    """
    from scipy.spatial import cKDTree

    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2 or depth_m.dtype.kind != "f":
        raise InputError(f"pixel_voxel_rows: expected depth_m (H, W) float metres, got {describe_array(depth_m)}")
    T = np.asarray(world_T_cam, np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise InputError(f"pixel_voxel_rows: expected world_T_cam (4, 4) finite, got {describe_array(T)}")
    pts = np.asarray(voxel_points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"pixel_voxel_rows: expected voxel_points (N, 3) metres, got {describe_array(pts)}")
    if not (isinstance(max_dist_m, (int, float)) and math.isfinite(max_dist_m) and max_dist_m > 0):
        raise InputError(f"pixel_voxel_rows: expected max_dist_m > 0 metres, got {max_dist_m!r}")
    cam = unproject_depth(depth_m, intrinsics)  # raises InputError on a size mismatch
    rows = np.full(depth_m.shape, -1, np.int64)
    valid = depth_m > 0
    if not valid.any() or len(pts) == 0:
        return rows
    p = cam[valid].astype(np.float64) @ T[:3, :3].T + T[:3, 3]
    tree = tree if tree is not None else cKDTree(pts)
    dist, idx = tree.query(p, k=1, distance_upper_bound=max_dist_m)
    hit = np.isfinite(dist)
    r = np.full(len(p), -1, np.int64)
    r[hit] = idx[hit]
    rows[valid] = r
    return rows


@dataclass
class PairedScene:
    """Frames of one scene with the teacher's features of the voxels they see.

    Attributes:
        rgb: (F, H, W, 3) uint8 images.
        labels: (F, H, W) uint8 NYUv2-13 ground truth (0 = void).
        rows: (F, H, W) int64 row of ``features`` each pixel sees, -1 = unpaired.
        features: (N, C3) float32 teacher features of the map's surface voxels.
        voxel_labels: (N,) uint8 3D ground truth of those voxels (0 = void).
        meta: where it came from (seed, kind, frames, segmenter...).
    """

    rgb: np.ndarray
    labels: np.ndarray
    rows: np.ndarray
    features: np.ndarray
    voxel_labels: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = len(self.rgb)
        if self.rgb.ndim != 4 or self.rgb.shape[-1] != 3 or self.rgb.dtype != np.uint8:
            raise InputError(f"PairedScene.rgb: expected (F, H, W, 3) uint8, got {describe_array(self.rgb)}")
        hw = self.rgb.shape[1:3]
        for name in ("labels", "rows"):
            a = getattr(self, name)
            if a.shape != (f, *hw):
                raise InputError(f"PairedScene.{name}: expected {(f, *hw)}, got {describe_array(a)}")
        if self.features.ndim != 2 or self.voxel_labels.shape != (len(self.features),):
            raise InputError(
                f"PairedScene: expected features (N, C3) and voxel_labels (N,), got "
                f"{describe_array(self.features)} and {describe_array(self.voxel_labels)}"
            )
        if self.rows.max(initial=-1) >= len(self.features):
            raise InputError(f"PairedScene.rows: a row beyond the {len(self.features)} voxels")

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return len(self.rgb)


def paired_scene(
    frames: Sequence,
    mesh,
    teacher,
    segmenter=None,
    map_config=None,
    max_dist_m: float | None = None,
    meta: dict | None = None,
) -> PairedScene:
    """Fuse ``frames`` into a map, run ``teacher`` on it, pair every pixel with a voxel.

    Args:
        frames: ``Frame`` objects with depth, ``world_T_cam`` and labels (a generated
            sequence's frames).
        mesh: the scene's labelled mesh (``SceneMesh``), giving the voxels' 3D labels.
        teacher: a ``Seg3DNet`` (its ``predict(sample).features`` are the targets).
        segmenter: the 2D model whose probabilities the fusion uses (as the pipeline);
            None fuses the frames' ground-truth labels.
        map_config: ``SemanticMapConfig``; the pipeline's by default.
        max_dist_m: pairing distance (``pixel_voxel_rows``); 1.5 voxels by default.
    """
    from scipy.spatial import cKDTree

    from real3d.mapping.config import PIPELINE_MAP_CONFIG
    from real3d.train.map_data import fuse_frames, sample_from_map

    frames = list(frames)
    if not frames:
        raise InputError("paired_scene: expected at least one frame, got none")
    for f in frames:
        if f.depth_m is None or f.world_T_cam is None or f.labels is None:
            raise InputError(f"paired_scene: frame {f.index} lacks depth, pose or labels (all are needed)")
    map_config = map_config or PIPELINE_MAP_CONFIG
    m = fuse_frames(frames, segmenter, map_config)
    sample = sample_from_map(m, mesh)
    out = teacher.predict(sample)
    surf = np.flatnonzero(sample.surface)
    pts = sample.points[surf]
    feats = out.features[surf].astype(np.float32)
    vlab = sample.labels[surf]
    max_dist_m = 1.5 * sample.voxel_size_m if max_dist_m is None else max_dist_m
    tree = cKDTree(pts) if len(pts) else None
    rows = np.stack(
        [pixel_voxel_rows(f.depth_m, f.intrinsics, f.world_T_cam, pts, max_dist_m, tree=tree) for f in frames]
    )
    info = {"frames": len(frames), "voxels": len(pts), "paired_fraction": float((rows >= 0).mean())}
    return PairedScene(
        rgb=np.stack([f.rgb for f in frames]),
        labels=np.stack([f.labels for f in frames]),
        rows=rows,
        features=feats,
        voxel_labels=vlab,
        meta={**info, **(meta or {})},
    )


def generated_scenes(
    seeds: Sequence[int],
    n_frames: int,
    size_hw: tuple[int, int],
    teacher,
    kind: str = "home",
    segmenter=None,
    bank=None,
    log: Callable[[str], None] | None = None,
) -> list[PairedScene]:
    """``paired_scene`` for generated sequences (``real3d.synth.generate_sequence``), one
    per seed; ``bank`` (a ``TextureBank``, built once when None) is shared by all."""
    from real3d.synth import TextureBank, generate_sequence

    bank = bank if bank is not None else TextureBank(0)
    out = []
    for s in seeds:
        t0 = time.perf_counter()
        seq = generate_sequence(int(s), n_frames, size_hw, kind, bank=bank)
        sc = paired_scene(seq.frames, seq.scene.mesh, teacher, segmenter, meta={"seed": int(s), "kind": kind})
        out.append(sc)
        if log:
            log(
                f"scene {kind} {s}: {len(sc)} frames, {sc.meta['voxels']} voxels, "
                f"{sc.meta['paired_fraction']:.0%} pixels paired ({time.perf_counter() - t0:.1f} s)"
            )
    return out


# ----------------------------------------------------------------------------- losses
def paired_feature_loss(f3d_sim: torch.Tensor, f3d: torch.Tensor, paired: torch.Tensor) -> torch.Tensor:
    """Mean squared error between simulated and teacher features on paired pixels.

    Args:
        f3d_sim: (B, C3, h, w) simulated features (any stride; upsampled bilinearly here).
        f3d: (B, H, W, C3) teacher features per pixel (anything where not paired).
        paired: (B, H, W) bool pixels with a target.

    Returns:
        Scalar: the squared difference averaged over channels and paired pixels (0 with
        a gradient path when no pixel is paired).
    """
    if f3d_sim.ndim != 4 or f3d.ndim != 4 or f3d.shape[-1] != f3d_sim.shape[1] or f3d.shape[:3] != paired.shape:
        raise InputError(
            f"paired_feature_loss: expected f3d_sim (B, C3, h, w), f3d (B, H, W, C3) and paired (B, H, W), got "
            f"{tuple(f3d_sim.shape)}, {tuple(f3d.shape)}, {tuple(paired.shape)}"
        )
    if not bool(paired.any()):
        return f3d_sim.sum() * 0.0
    up = F.interpolate(f3d_sim.float(), size=paired.shape[-2:], mode="bilinear", align_corners=False)
    sim = up.permute(0, 2, 3, 1)[paired]
    return F.mse_loss(sim, f3d[paired].float())


class CategoryDiscriminators(nn.Module):
    """One discriminator per class, each six fully connected layers: C3 -> hidden (x5) -> 1.

    ``forward(feats (P, C3), classes (P,) int in 1..K)`` returns (P,) logits, each from its
    class's discriminator (> 0: "a real 3D feature").
    """

    def __init__(self, num_classes: int, channels: int, hidden: int = 64, layers: int = 6) -> None:
        super().__init__()
        if layers < 2:
            raise ConfigError(f"CategoryDiscriminators: expected at least 2 layers, got {layers}")
        self.num_classes = num_classes

        def mlp() -> nn.Sequential:
            mods: list[nn.Module] = []
            c = channels
            for _ in range(layers - 1):
                mods += [nn.Linear(c, hidden), nn.LeakyReLU(0.2)]
                c = hidden
            mods.append(nn.Linear(c, 1))
            return nn.Sequential(*mods)

        self.heads = nn.ModuleList(mlp() for _ in range(num_classes))

    def forward(self, feats: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        if feats.ndim != 2 or classes.shape != feats.shape[:1]:
            raise InputError(
                f"CategoryDiscriminators: expected feats (P, C3) and classes (P,), got "
                f"{tuple(feats.shape)} and {tuple(classes.shape)}"
            )
        out = feats.new_zeros(len(feats))
        for k in torch.unique(classes).tolist():
            if not 1 <= k <= self.num_classes:
                raise InputError(f"CategoryDiscriminators: class {k} outside 1..{self.num_classes}")
            sel = classes == k
            out = out.index_put((sel.nonzero(as_tuple=True)[0],), self.heads[k - 1](feats[sel]).squeeze(1))
        return out


def discriminator_loss(disc, real: torch.Tensor, real_cls: torch.Tensor, fake: torch.Tensor, fake_cls: torch.Tensor):
    """BCE of the discriminators: real 3D features -> 1, simulated (detached) -> 0."""
    parts = []
    if len(real):
        lr = disc(real, real_cls)
        parts.append(F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr)))
    if len(fake):
        lf = disc(fake.detach(), fake_cls)
        parts.append(F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)))
    if not parts:
        return torch.zeros((), requires_grad=True)
    return sum(parts) / len(parts)


def generator_loss(disc, fake: torch.Tensor, fake_cls: torch.Tensor) -> torch.Tensor:
    """BCE that rewards simulated features the discriminators take for real (-> 1)."""
    if not len(fake):
        return fake.sum() * 0.0
    lf = disc(fake, fake_cls)
    return F.binary_cross_entropy_with_logits(lf, torch.ones_like(lf))


def simulated_vectors(
    f3d_sim: torch.Tensor, labels: torch.Tensor, per_class: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature vectors of ``f3d_sim`` (B, C3, h, w) with their 2D class: each cell takes
    the label (B, H, W) at its centre pixel; at most ``per_class`` cells per class.
    Returns ((P, C3), (P,) int64 classes 1..K)."""
    b, c, h, w = f3d_sim.shape
    sy, sx = labels.shape[1] // h, labels.shape[2] // w
    lab = labels[:, sy // 2 :: sy, sx // 2 :: sx][:, :h, :w].reshape(-1)
    vec = f3d_sim.permute(0, 2, 3, 1).reshape(-1, c)
    return _per_class(vec, lab, per_class, gen)


def real_vectors(scenes: Sequence[PairedScene], per_class: int, gen: torch.Generator):
    """Teacher features of labelled voxels of ``scenes``, at most ``per_class`` per class."""
    feats = torch.from_numpy(np.concatenate([s.features for s in scenes]))
    lab = torch.from_numpy(np.concatenate([s.voxel_labels for s in scenes]).astype(np.int64))
    return _per_class(feats, lab, per_class, gen)


def _per_class(vec: torch.Tensor, lab: torch.Tensor, per_class: int, gen: torch.Generator):
    keep = []
    for k in torch.unique(lab).tolist():
        if k <= 0:
            continue
        idx = (lab == k).nonzero(as_tuple=True)[0]
        if len(idx) > per_class:
            idx = idx[torch.randperm(len(idx), generator=gen)[:per_class]]
        keep.append(idx)
    if not keep:
        return vec[:0], lab[:0]
    idx = torch.cat(keep)
    return vec[idx], lab[idx]


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class Distill3DTrainConfig:
    """Settings of ``train_distill3d``.

    Attributes:
        mode: ``"paired"`` (CE + feature regression), ``"unpaired"`` (CE + adversarial on
            per-category discriminators) or ``"rgb"`` (CE only on the plain base network:
            the baseline with the same backbone and schedule).
        steps: optimiser steps (each unpaired step is one D step then one G step).
        batch_size: frames per step.
        lr: AdamW learning rate of the student (cosine decay to a tenth).
        feature_weight: lambda of the paired L2 term.
        adv_weight: weight of the generator term (unpaired).
        disc_lr: Adam learning rate of the discriminators.
        per_class: feature vectors per class and step that the discriminators see.
        coarse_weight: deep supervision of the coarse head (``seg_loss``).
        flip: random horizontal flips of the frames.
        seed: of the initialisation and the batch schedule.
    """

    mode: str = "paired"
    steps: int = 200
    batch_size: int = 4
    lr: float = 2e-3
    feature_weight: float = 1.0
    adv_weight: float = 0.1
    disc_lr: float = 1e-3
    per_class: int = 64
    coarse_weight: float = 0.4
    flip: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"Distill3DTrainConfig.mode: unknown {self.mode!r}; valid: {', '.join(MODES)}")
        for name in ("steps", "batch_size", "per_class"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"Distill3DTrainConfig.{name}: expected an integer >= 1, got {v!r}")
        for name in ("lr", "disc_lr"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"Distill3DTrainConfig.{name}: expected a finite value > 0, got {v!r}")
        for name in ("feature_weight", "adv_weight", "coarse_weight"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"Distill3DTrainConfig.{name}: expected a finite value >= 0, got {v!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def paired_batch(scenes: Sequence[PairedScene], picks: list[tuple[int, int]], flips: list[bool]) -> dict:
    """Tensors of the frames ``picks`` ((scene, frame) indices), each mirrored left-right
    where ``flips`` says: rgb (B, 3, H, W) float in [0, 1], labels (B, H, W) int64, f3d
    (B, H, W, C3) float32 teacher features (0 where unpaired), paired (B, H, W) bool."""
    rgb, lab, tgt, paired = [], [], [], []
    for (si, fi), fl in zip(picks, flips):
        s = scenes[si]
        r, lb, rows = s.rgb[fi], s.labels[fi], s.rows[fi]
        if fl:
            r, lb, rows = r[:, ::-1], lb[:, ::-1], rows[:, ::-1]
        ok = rows >= 0
        t = np.zeros((*rows.shape, s.feature_dim), np.float32)
        t[ok] = s.features[rows[ok]]
        rgb.append(np.ascontiguousarray(r))
        lab.append(np.ascontiguousarray(lb))
        tgt.append(t)
        paired.append(ok)
    return {
        "rgb": torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).float() / 255.0,
        "labels": torch.from_numpy(np.stack(lab).astype(np.int64)),
        "f3d": torch.from_numpy(np.stack(tgt)),
        "paired": torch.from_numpy(np.stack(paired)),
    }


def _check_scenes(scenes, what: str, dim: int | None) -> None:
    if not scenes or not all(isinstance(s, PairedScene) for s in scenes):
        raise InputError(f"train_distill3d: expected a non-empty list of PairedScene as {what}, got {scenes!r:.80}")
    sizes = {s.rgb.shape[1:3] for s in scenes}
    if len(sizes) != 1:
        raise InputError(f"train_distill3d: {what} frames must share one size, got {sorted(sizes)}")
    h, w = sizes.pop()
    if h % 32 or w % 32:
        raise InputError(f"train_distill3d: expected {what} frame sides multiples of 32, got {h}x{w}")
    if dim is not None and any(s.feature_dim != dim for s in scenes):
        got = sorted({s.feature_dim for s in scenes})
        raise ConfigError(f"train_distill3d: the student simulates {dim} channels but the {what} features have {got}")


def train_distill3d(
    model: Distill3DNet | Real3DVisionNet,
    scenes: Sequence[PairedScene],
    cfg: Distill3DTrainConfig,
    real_scenes: Sequence[PairedScene] | None = None,
    log: Callable[[str], None] | None = None,
    log_every: int = 10,
) -> list[dict]:
    """Train ``model`` in place on ``scenes`` (see the module docstring); returns one dict
    of losses per step (``loss``, ``ce``, and ``feat`` or ``d``/``g``).

    Args:
        model: a ``Distill3DNet`` (``paired``, ``unpaired``) or the plain RGB network
            (``rgb``).
        scenes: the 2D frames (with their pairs, used by ``paired`` only).
        cfg: the schedule and loss weights.
        real_scenes: where the unpaired mode takes its real 3D features from (other scenes
            than ``scenes``; ``scenes`` themselves when None).

    Raises:
        InputError: no scenes, frames of different or unsupported sizes.
        ConfigError: a model that does not fit the mode, or features whose dimension
            differs from the student's ``sim_channels``.
    """
    distilled = cfg.mode != "rgb"
    if distilled and not isinstance(model, Distill3DNet):
        raise ConfigError(f"train_distill3d: mode {cfg.mode!r} needs a Distill3DNet, got {type(model).__name__}")
    if not isinstance(model, (Distill3DNet, Real3DVisionNet)) or not model.config.uses_rgb or model.uses_depth:
        raise ConfigError(f"train_distill3d: expected an RGB-only network, got {type(model).__name__}")
    dim = model.sim_channels if distilled else None
    _check_scenes(scenes, "scenes", dim if cfg.mode == "paired" else None)
    real_scenes = list(real_scenes) if real_scenes is not None else list(scenes)
    if cfg.mode == "unpaired":
        _check_scenes(real_scenes, "real_scenes", dim)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    index = [(si, fi) for si, s in enumerate(scenes) for fi in range(len(s))]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    disc = d_opt = None
    if cfg.mode == "unpaired":
        disc = CategoryDiscriminators(model.config.num_classes, dim)
        d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.disc_lr, betas=(0.5, 0.999))
        # DN1 has no pairs to learn the 3D statistics from: it takes them from the real pool
        m, v = channel_stats(torch.from_numpy(np.concatenate([s.features for s in real_scenes])))
        with torch.no_grad():
            model.dn1.target_mean.copy_(m)
            model.dn1.target_var.copy_(v)
    model.train()
    history = []
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        lr = cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        picks = [index[i] for i in rng.integers(0, len(index), cfg.batch_size)]
        flips = [bool(cfg.flip and rng.random() < 0.5) for _ in picks]
        b = paired_batch(scenes, picks, flips)
        rec: dict = {"step": step + 1}
        if cfg.mode == "rgb":
            refined, coarse = model(b["rgb"], head="both")
            loss = seg_loss(refined, coarse, b["labels"], coarse_weight=cfg.coarse_weight)
            rec["ce"] = float(loss.detach())
        else:
            if cfg.mode == "paired" and bool(b["paired"].any()):
                m, v = channel_stats(b["f3d"].permute(0, 3, 1, 2), b["paired"])
                model.dn1.update_target(m, v)
            refined, coarse, f3d_sim = model.forward_train(b["rgb"])
            ce = seg_loss(refined, coarse, b["labels"], coarse_weight=cfg.coarse_weight)
            rec["ce"] = float(ce.detach())
            if cfg.mode == "paired":
                feat = paired_feature_loss(f3d_sim, b["f3d"], b["paired"])
                rec["feat"] = float(feat.detach())
                loss = ce + cfg.feature_weight * feat
            else:
                fake, fake_cls = simulated_vectors(f3d_sim, b["labels"], cfg.per_class, gen)
                real, real_cls = real_vectors(real_scenes, cfg.per_class, gen)
                d_opt.zero_grad(set_to_none=True)
                d_loss = discriminator_loss(disc, real, real_cls, fake, fake_cls)
                d_loss.backward()
                d_opt.step()
                disc.requires_grad_(False)
                g = generator_loss(disc, fake, fake_cls)
                disc.requires_grad_(True)
                rec["d"], rec["g"] = float(d_loss.detach()), float(g.detach())
                loss = ce + cfg.adv_weight * g
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        rec["loss"] = float(loss.detach())
        history.append(rec)
        if log and ((step + 1) % log_every == 0 or step + 1 == cfg.steps):
            parts = " ".join(f"{k} {v:.4f}" for k, v in rec.items() if k != "step")
            log(f"step {step + 1}/{cfg.steps} {parts} lr {lr:.2e} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    return history


@torch.no_grad()
def evaluate_views(model, frames: Sequence, num_classes: int = 13) -> dict:
    """mIoU, pixel accuracy and per-class IoU of ``model.predict`` (RGB only) on labelled
    ``frames`` (e.g. held-out generated views)."""
    from real3d.eval.metrics import confusion_matrix, metrics_from_confusion

    conf = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    for f in frames:
        if f.labels is None:
            raise InputError(f"evaluate_views: frame {f.index} has no labels")
        pred = model.predict(f.replace(depth_m=None) if f.depth_m is not None else f).labels
        conf += confusion_matrix(pred, f.labels, num_classes)
    m = metrics_from_confusion(conf)
    return {
        "miou": m.miou,
        "pixel_acc": m.pixel_acc,
        "iou": [None if np.isnan(v) else float(v) for v in m.iou],
        "frames": len(frames),
    }
