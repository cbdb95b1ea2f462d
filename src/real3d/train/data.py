"""Training data: data-spec parsing, sample format, augmentation, step-indexed schedule.

A *sample* is a dict of tensors: ``rgb`` (3, H, W) uint8, ``depth_m`` (1, H, W) float32
metres (0 = invalid), ``labels`` (H, W) int64 NYUv2-13 (0 = void).

Data specs (strings, as on the command line):

- ``synth:kind=mixed,size=240x320,seed=0-999[,noise=1]``: the synthetic engine
  (``real3d.synth.SynthDataset``), frames rendered on the fly. ``seed=a-b`` takes items
  a..b of the seed-0 stream; ``seed=S,n=N`` takes the first N items of stream S. Streams
  with different seeds share no scene, so held-out sets use another seed
  (``synth:kind=mixed,seed=7,n=200``). ``fps=F`` sets views per scene (default 16).
  ``camera=robot`` (or ``handheld``) takes frames of camera trajectories instead
  (``real3d.synth.SyntheticStream``, the frames the pipeline streams): item j is frame
  ``(j % F) * (traj // F)`` of a ``traj``-frame trajectory (default 300) through scene
  ``1_000_000 + 100_000 * seed + j // F`` (those scene seeds keep clear of the small ones
  the map and navigation evaluations use); ``kind=mixed`` makes every fourth scene a
  warehouse. ``rays=bvh`` traces the engine's shadow rays with real3d's numba BVH on the
  CPU, ``rays=torch`` with torch (on a GPU where there is one), instead of Open3D, for
  hosts without Open3D (``RenderConfig.shadow_rays``). ``labels=warehouse`` gives the
  labels in the warehouse label set (``real3d.core.warehouse``) instead of NYUv2-13, made
  from the frames' instance images and the scenes' objects; any label set with a mapping
  from the engine's classes (``synth -> NAME``) can be named.
- ``A+B``: synth specs joined into one dataset (e.g. views and trajectory frames).
- anything else: a path that ``real3d.io.open_sequence`` reads (frames need labels).

``CachedData`` renders a spec once into ``.npy`` files and memory-maps them: training
visits items in random order, and rendering them directly in that order would rebuild a
scene for almost every item.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, Dataset, Sampler

from real3d.core.errors import ConfigError, InputError
from real3d.core.files import atomic_write_text
from real3d.train.corrupt_augment import DEFAULT_TRAIN_CORRUPTIONS, check_corruption_settings, corrupt_sample


@dataclass(frozen=True)
class SynthSpec:
    """A slice of a synthetic stream: items first..first + n - 1 of SynthDataset(seed)."""

    kind: str = "mixed"
    size_hw: tuple[int, int] = (240, 320)
    seed: int = 0
    first: int = 0
    n: int = 1000
    noise: bool = True
    fps: int = 16
    camera: str = "views"
    traj: int = 300
    rays: str = "open3d"
    labels: str = "nyu13"

    @property
    def length(self) -> int:
        return self.n

    def to_string(self) -> str:
        out = (
            f"synth:kind={self.kind},size={self.size_hw[0]}x{self.size_hw[1]},seed={self.seed},"
            f"first={self.first},n={self.n},noise={int(self.noise)},fps={self.fps}"
        )
        if self.camera != "views":  # views keep their earlier spelling (cache keys)
            out += f",camera={self.camera},traj={self.traj}"
        if self.rays != "open3d":
            out += f",rays={self.rays}"
        if self.labels != "nyu13":  # NYUv2-13 specs keep their spelling (cache keys)
            out += f",labels={self.labels}"
        return out

    def render_config(self):
        from real3d.synth import RenderConfig

        return RenderConfig(shadow_rays=self.rays)


def parse_synth_spec(spec: str) -> SynthSpec:
    """``synth:kind=...,size=HxW,seed=a-b|S,n=N,first=F,noise=0|1,fps=F`` -> SynthSpec."""
    if not spec.startswith("synth:") and spec != "synth":
        raise ConfigError(f"not a synth spec: {spec!r}")
    fields: dict = {}
    body = spec[len("synth:") :] if spec.startswith("synth:") else ""
    for part in filter(None, body.split(",")):
        if "=" not in part:
            raise ConfigError(f"synth spec: expected key=value, got {part!r} in {spec!r}")
        k, v = part.split("=", 1)
        try:
            if k == "kind":
                fields["kind"] = v
            elif k == "size":
                h, w = v.lower().split("x")
                fields["size_hw"] = (int(h), int(w))
            elif k == "seed" and "-" in v:
                a, b = v.split("-", 1)
                fields["seed"], fields["first"], fields["n"] = 0, int(a), int(b) - int(a) + 1
            elif k in ("seed", "n", "first", "fps", "traj"):
                fields[k] = int(v)
            elif k == "noise":
                fields["noise"] = v not in ("0", "false", "no")
            elif k == "camera":
                if v not in ("views", "robot", "handheld"):
                    raise ConfigError(f"synth spec: camera must be views, robot or handheld, got {v!r}")
                fields["camera"] = v
            elif k == "rays":
                if v not in ("open3d", "bvh", "torch"):
                    raise ConfigError(f"synth spec: rays must be open3d, bvh or torch, got {v!r}")
                fields["rays"] = v
            elif k == "labels":
                fields["labels"] = check_synth_labels(v)
            else:
                raise ConfigError(
                    f"synth spec: unknown key {k!r}; valid: kind, size, seed, n, first, noise, fps, camera, traj, "
                    "rays, labels"
                )
        except ValueError as e:
            raise ConfigError(f"synth spec: bad value for {k!r}: {v!r} ({e})") from None
    s = SynthSpec(**fields)
    if s.n < 1 or s.first < 0:
        raise ConfigError(f"synth spec: expected n >= 1 and first >= 0, got n={s.n}, first={s.first}")
    if s.camera != "views" and not (s.fps >= 1 and s.traj >= s.fps):
        raise ConfigError(f"synth spec: trajectories need fps >= 1 and traj >= fps, got fps={s.fps}, traj={s.traj}")
    return s


def check_synth_labels(name: str) -> str:
    """``name`` if the engine's frames can be labelled in that label set (one with a
    ``synth -> name`` mapping, e.g. ``nyu13`` or ``warehouse``); else ConfigError."""
    from real3d.core.labels import map_labels

    try:
        map_labels(np.zeros(1, np.uint8), "synth", name)
    except ConfigError as e:
        raise ConfigError(f"synth spec: labels={name!r} cannot be made from the engine's classes ({e})") from None
    return name


def data_label_set(data) -> str | None:
    """Name of the label set of a dataset's ``labels`` (``open_data`` records it), or None
    where a dataset does not say."""
    if isinstance(data, ConcatDataset):
        names = {data_label_set(d) for d in data.datasets}
        return names.pop() if len(names) == 1 else None
    return getattr(data, "label_set", None)


class SynthData(Dataset):
    """Samples of a SynthSpec, rendered on the fly; ``labels`` in ``spec.labels``."""

    def __init__(self, spec: SynthSpec):
        self.spec = spec
        self.label_set = spec.labels
        # the engine is built on first use: a cache that already holds these samples never
        # needs it (nor its compiled kernels and Open3D)
        self.ds = None
        self._stream = (None, None)  # (scene index, SyntheticStream) of the last trajectory
        self._bank = None
        self._objects = (None, None)  # (scene key, SceneGT) for labels made from instances

    def _views(self):
        if self.ds is None:
            from real3d.synth import SynthDataset

            sp = self.spec
            self.ds = SynthDataset(
                sp.first + sp.n,
                size_hw=sp.size_hw,
                kind=sp.kind,
                seed=sp.seed,
                noise=sp.noise,
                frames_per_scene=sp.fps,
                render_config=sp.render_config(),
            )
        return self.ds

    def __len__(self) -> int:
        return self.spec.n

    def _trajectory_item(self, j: int) -> dict:
        from real3d.synth import SyntheticStream, TextureBank

        sp = self.spec
        k, slot = divmod(j, sp.fps)
        if self._stream[0] != k:
            if self._bank is None:
                self._bank = TextureBank(0)
            kind = sp.kind if sp.kind != "mixed" else ("warehouse" if k % 4 == 3 else "home")
            self._stream = (
                k,
                SyntheticStream(
                    1_000_000 + 100_000 * sp.seed + k,
                    sp.traj,
                    sp.size_hw,
                    kind,
                    sp.noise,
                    mode=sp.camera,
                    bank=self._bank,
                    render_config=sp.render_config(),
                ),
            )
        f = self._stream[1][slot * (sp.traj // sp.fps)]
        return {
            "rgb": np.moveaxis(f.rgb, -1, 0),
            "depth_m": f.depth_m,
            "labels": self._labels(f, self._stream[1].scene),
        }

    def _labels(self, frame, scene) -> np.ndarray:
        """The frame's labels in ``spec.labels``: the engine's NYUv2-13 image, or one made
        from its instance image and the scene's objects."""
        if self.spec.labels == "nyu13":
            return frame.labels
        from real3d.core.warehouse import labels_from_instances

        return labels_from_instances(frame.instances, scene.objects, self.spec.labels)

    def _view_item(self, j: int) -> dict:
        ds = self._views()
        if self.spec.labels == "nyu13":
            return ds[j]
        # the scene's objects name the class of every instance; the engine builds the
        # same scene for its own renderer (scenes depend only on their seed and kind)
        from real3d.synth import generate_scene

        key = ds.scene_for(j)
        if self._objects[0] != key:
            self._objects = (key, generate_scene(*key))
        f = ds.frame(j)
        return {"rgb": np.moveaxis(f.rgb, -1, 0), "depth_m": f.depth_m, "labels": self._labels(f, self._objects[1])}

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.spec.n:
            raise IndexError(f"SynthData index {i} out of range [0, {self.spec.n})")
        if self.spec.camera != "views":
            item = self._trajectory_item(self.spec.first + i)
        else:
            item = self._view_item(self.spec.first + i)
        return {
            "rgb": torch.as_tensor(item["rgb"], dtype=torch.uint8),
            "depth_m": torch.as_tensor(item["depth_m"], dtype=torch.float32).reshape(1, *item["rgb"].shape[-2:]),
            "labels": torch.as_tensor(item["labels"], dtype=torch.int64),
        }


class CachedData(Dataset):
    """A Dataset of samples stored as memory-mapped ``.npy`` arrays in ``cache_dir``
    (rgb uint8 (N, 3, H, W), depth float16 metres (N, 1, H, W), labels uint8 (N, H, W)),
    filled once from ``source`` (rendered in order by ``workers`` processes).

    float16 depth keeps about 1 mm resolution at 2 m and 4 mm at 8 m, below the sensor
    noise the data engine adds.
    """

    def __init__(self, source: Dataset, cache_dir: str | Path, key: str, workers: int = 0, progress: bool = True):
        import json

        self.label_set = data_label_set(source)
        d = Path(cache_dir)
        meta_path = d / "meta.json"
        if not (meta_path.is_file() and json.loads(meta_path.read_text()).get("key") == key):
            _fill_cache(source, d, key, workers, progress)
        self.rgb = np.load(d / "rgb.npy", mmap_mode="r")
        self.depth = np.load(d / "depth_m.npy", mmap_mode="r")
        self.labels = np.load(d / "labels.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self.rgb)

    def __getitem__(self, i: int) -> dict:
        return {
            "rgb": torch.from_numpy(np.array(self.rgb[i])),
            "depth_m": torch.from_numpy(np.array(self.depth[i], dtype=np.float32)),
            "labels": torch.from_numpy(np.array(self.labels[i], dtype=np.int64)),
        }


def _fill_cache(source: Dataset, d: Path, key: str, workers: int, progress: bool) -> None:
    import json

    from torch.utils.data import DataLoader

    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.json").unlink(missing_ok=True)
    n = len(source)
    first = source[0]
    h, w = first["labels"].shape
    rgb = np.lib.format.open_memmap(d / "rgb.npy", mode="w+", dtype=np.uint8, shape=(n, 3, h, w))
    depth = np.lib.format.open_memmap(d / "depth_m.npy", mode="w+", dtype=np.float16, shape=(n, 1, h, w))
    labels = np.lib.format.open_memmap(d / "labels.npy", mode="w+", dtype=np.uint8, shape=(n, h, w))
    # in-order batches of one scene each, so every worker builds each scene once
    fps = getattr(getattr(source, "spec", None), "fps", 16)
    # rendering item 0 above may have started CUDA (shadow rays traced with torch on a GPU);
    # CUDA cannot be used again in a forked worker, so such workers are spawned
    ctx = "spawn" if workers and torch.cuda.is_initialized() else None
    loader = DataLoader(source, batch_size=fps, shuffle=False, num_workers=workers, multiprocessing_context=ctx)
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(loader, desc=f"render {d.name}", unit="batch")
    i = 0
    for b in it:
        k = len(b["labels"])
        rgb[i : i + k] = b["rgb"].numpy()
        depth[i : i + k] = b["depth_m"].numpy().astype(np.float16)
        labels[i : i + k] = b["labels"].numpy().astype(np.uint8)
        i += k
    for a in (rgb, depth, labels):
        a.flush()
    # written last and whole: its key marks the arrays as complete
    atomic_write_text(d / "meta.json", json.dumps({"key": key, "n": n, "size_hw": [h, w]}))


def frame_to_sample(frame) -> dict:
    """real3d.Frame with labels -> sample dict (depth zeros when the frame has none)."""
    if frame.labels is None:
        raise InputError(f"frame {frame.index} has no labels; training and evaluation need them")
    h, w = frame.size_hw
    depth = frame.depth_m if frame.depth_m is not None else np.zeros((h, w), np.float32)
    return {
        "rgb": torch.from_numpy(np.ascontiguousarray(frame.rgb)).permute(2, 0, 1).contiguous(),
        "depth_m": torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))[None],
        "labels": torch.from_numpy(frame.labels.astype(np.int64)),
    }


class FrameData(Dataset):
    """Samples from a list of labelled Frames; ``label_set`` is theirs (None when they
    differ)."""

    def __init__(self, frames: list):
        self.frames = list(frames)
        names = {getattr(f, "label_set", "nyu13") for f in self.frames}
        self.label_set = names.pop() if len(names) == 1 else None

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> dict:
        return frame_to_sample(self.frames[i])


def split_data_spec(spec: str) -> list[str]:
    """``A+B+...`` -> [A, B, ...] where every part is a synth spec; any other spec (a path,
    which may itself contain '+') is one part."""
    if "+" not in spec or Path(spec).exists():
        return [spec]
    parts = [p.strip() for p in spec.split("+")]
    if not all(p == "synth" or p.startswith("synth:") for p in parts):
        return [spec]
    return parts


def calibration_frames(n: int, size_hw: tuple[int, int]) -> list:
    """``n`` noisy frames (``Frame``) of data-engine home 11 along its robot path at
    ``size_hw``: the default INT8 calibration set of ``create_model(backend="int8")``."""
    from real3d.synth import generate_sequence

    return list(generate_sequence(11, n, size=tuple(size_hw), kind="home", noise=True).frames)


def spec_cache_dir(root: str | Path, spec: str) -> Path:
    """A folder under ``root`` named after the data spec (``:``, ``,`` and ``=`` replaced,
    ``/`` and ``+`` too), for callers that keep one rendered cache per spec
    (``open_data(spec, spec_cache_dir(...))``). A name longer than file systems take (a
    long ``A+B+...`` join) keeps its first 100 characters and a hash of the whole spec."""
    name = spec.replace(":", "_").replace(",", "_").replace("=", "-").replace("/", "_").replace("+", "__")
    if len(name) > 120:
        import hashlib

        name = f"{name[:100]}-{hashlib.sha256(spec.encode()).hexdigest()[:16]}"
    return Path(root) / name


def open_data(
    spec: str,
    cache_dir: str | Path | None = None,
    workers: int = 0,
    progress: bool = False,
    labels: str | None = None,
) -> Dataset:
    """Dataset of samples for a data spec (see the module docstring); with ``cache_dir``,
    the samples are rendered/read once into a memory-mapped cache there.

    ``labels`` names the label set the samples' ``labels`` must be in (the model's): synth
    specs without a ``labels=`` key are rendered in it, and a spec or a sequence whose labels
    are in another set raises ConfigError. None: as the spec says (NYUv2-13 by default). The
    dataset's ``label_set`` (``data_label_set``) names the set.

    ``A+B`` joins synth specs into one dataset of len(A) + len(B) samples (A's first), so
    training draws from each in proportion to its size: e.g. single views and trajectory
    frames together. Each part is cached in its own subfolder of ``cache_dir``, named by
    its position (``part0``, ``part1``, ...), and keyed by its own spec as a single spec is."""
    parts = split_data_spec(spec)
    if len(parts) > 1:
        from torch.utils.data import ConcatDataset

        return ConcatDataset(
            [
                open_data(p, None if cache_dir is None else Path(cache_dir) / f"part{i}", workers, progress, labels)
                for i, p in enumerate(parts)
            ]
        )
    if spec == "synth" or spec.startswith("synth:"):
        parsed = parse_synth_spec(spec)
        if labels is not None:
            explicit = any(p.startswith("labels=") for p in spec.split(","))
            if explicit and parsed.labels != labels:
                raise ConfigError(f"data spec {spec!r} gives {parsed.labels} labels, the model needs {labels}")
            parsed = dataclasses.replace(parsed, labels=check_synth_labels(labels))
        ds: Dataset = SynthData(parsed)
        from real3d.synth import engine_fingerprint

        # A cache drawn by another version of the engine is not this spec's data.
        key = f"{parsed.to_string()},engine={engine_fingerprint()}"
    else:
        from real3d.io import open_sequence  # another stage; imported only when a path is given

        ds = FrameData(list(open_sequence(spec)))
        if labels is not None and ds.label_set != labels:
            raise ConfigError(
                f"data {spec!r}: its frames' labels are {ds.label_set or 'of several label sets'}, "
                f"the model needs {labels}"
            )
        key = f"path:{Path(spec).resolve()}"
    if cache_dir is not None:
        ds = CachedData(ds, cache_dir, key, workers=workers, progress=progress)
    return ds


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation. Geometric ops are one affine warp (scale, rotation, flip,
    crop); photometric ops act on RGB; depth gets noise and holes like a real sensor.

    Corruption-aware training (``real3d.train.corrupt_augment``, off by default): with
    probability ``corrupt_p`` per sample one corruption of ``corruptions`` (names of
    ``real3d.robust``, colour and depth ones) at a severity drawn uniformly from
    ``corrupt_severity`` (lo, hi) in 1..5 is applied to the augmented sample; then, with
    probability ``depth_missing_p``, its depth image is all 0 (the sensor dropped out), so
    an RGB-D network also learns to segment from colour alone. Bad names, severities or
    probabilities raise ConfigError. With both probabilities 0 the augmentation draws
    exactly what it drew before these fields existed.
    """

    scale: tuple[float, float] = (0.75, 1.3)
    rotation_deg: float = 8.0
    flip: bool = True
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.3
    depth_noise_rel: float = 0.02
    depth_holes: int = 4
    depth_dropout: float = 0.02
    corrupt_p: float = 0.0
    corruptions: tuple[str, ...] = DEFAULT_TRAIN_CORRUPTIONS
    corrupt_severity: tuple[int, int] = (1, 5)
    depth_missing_p: float = 0.0

    def __post_init__(self) -> None:
        names, sev, p, p_missing = check_corruption_settings(
            self.corruptions, self.corrupt_severity, self.corrupt_p, self.depth_missing_p
        )
        object.__setattr__(self, "corruptions", names)
        object.__setattr__(self, "corrupt_severity", sev)
        object.__setattr__(self, "corrupt_p", p)
        object.__setattr__(self, "depth_missing_p", p_missing)


def stack_views(items: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples (as ``open_data`` gives them) -> (rgb (B, 3, H, W) float
    in [0, 1], depth (B, 1, H, W) metres) at the samples' own size."""
    rgb = torch.stack([s["rgb"] for s in items]).float() / 255.0
    depth = torch.stack([s["depth_m"].reshape(1, *s["labels"].shape) for s in items]).float()
    return rgb, depth


def augment(
    sample: dict, out_hw: tuple[int, int], cfg: AugmentConfig | None, gen: torch.Generator, keep_clean: bool = False
) -> dict:
    """Augment one sample and bring it to out_hw (H, W). ``cfg=None``: resize only.

    Returns rgb (3, H, W) float [0, 1], depth_m (1, H, W) float metres, labels (H, W) int64.
    Pixels warped in from outside the image get label 0 (void) and depth 0 (invalid). With
    ``keep_clean`` and the corruptions of ``cfg`` on, also rgb_clean and depth_m_clean: the
    same crop before the sensor corruption (equal to rgb / depth_m where none was drawn). The
    random draws do not depend on ``keep_clean``.
    """
    rgb = sample["rgb"].float()[None] / 255.0
    depth = sample["depth_m"].float()[None]
    labels = sample["labels"].float()[None, None]
    h_in, w_in = rgb.shape[-2:]
    if cfg is None:
        if (h_in, w_in) != tuple(out_hw):
            rgb = F.interpolate(rgb, size=out_hw, mode="bilinear", align_corners=False, antialias=True)
            depth = F.interpolate(depth, size=out_hw, mode="nearest")
            labels = F.interpolate(labels, size=out_hw, mode="nearest")
        return {"rgb": rgb[0], "depth_m": depth[0], "labels": labels[0, 0].long()}

    def u(a: float, b: float) -> float:
        return float(a + (b - a) * torch.rand((), generator=gen))

    # affine map from output normalised coords to input normalised coords
    s = u(*cfg.scale)
    # zooming in (s > 1) shows a smaller window of the input
    zoom = 1.0 / s
    ang = math.radians(u(-cfg.rotation_deg, cfg.rotation_deg))
    flip = -1.0 if cfg.flip and torch.rand((), generator=gen) < 0.5 else 1.0
    tx_max = ty_max = max(0.0, 1.0 - zoom)
    tx, ty = u(-tx_max, tx_max), u(-ty_max, ty_max)
    # (xo, yo) normalised output coords -> input coords: flip, rotate in pixel units (the
    # aspect r = W/H converts between normalised x and y), zoom, shift. The output is a
    # resize of the whole input window, so an output of another aspect is stretched.
    c, sn = math.cos(ang), math.sin(ang)
    r = w_in / h_in
    theta = torch.tensor(
        [[flip * zoom * c, -zoom * sn / r, tx], [flip * zoom * sn * r, zoom * c, ty]], dtype=torch.float32
    )[None]
    grid = F.affine_grid(theta, [1, 1, *out_hw], align_corners=False)
    rgb = F.grid_sample(rgb, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    depth = F.grid_sample(depth, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    labels = F.grid_sample(labels, grid, mode="nearest", padding_mode="zeros", align_corners=False)

    # photometric
    rgb = rgb * u(1 - cfg.brightness, 1 + cfg.brightness)
    mean = rgb.mean()
    rgb = (rgb - mean) * u(1 - cfg.contrast, 1 + cfg.contrast) + mean
    gray = rgb.mean(dim=1, keepdim=True)
    rgb = (rgb - gray) * u(1 - cfg.saturation, 1 + cfg.saturation) + gray
    rgb = rgb.clamp(0.0, 1.0)

    # depth: multiplicative noise, random rectangular holes, scattered dropouts
    if cfg.depth_noise_rel > 0:
        depth = depth * (1.0 + cfg.depth_noise_rel * torch.randn(depth.shape, generator=gen))
    oh, ow = out_hw
    n_holes = int(torch.randint(0, cfg.depth_holes + 1, (), generator=gen))
    for _ in range(n_holes):
        hh = int(torch.randint(4, max(5, oh // 4), (), generator=gen))
        ww = int(torch.randint(4, max(5, ow // 4), (), generator=gen))
        y0 = int(torch.randint(0, max(1, oh - hh), (), generator=gen))
        x0 = int(torch.randint(0, max(1, ow - ww), (), generator=gen))
        depth[..., y0 : y0 + hh, x0 : x0 + ww] = 0.0
    if cfg.depth_dropout > 0:
        depth = depth * (torch.rand(depth.shape, generator=gen) >= cfg.depth_dropout)
    depth = depth.clamp(min=0.0)
    clean = {}
    if cfg.corrupt_p > 0 or cfg.depth_missing_p > 0:
        if keep_clean:
            clean = {"rgb_clean": rgb[0].clone(), "depth_m_clean": depth[0].clone()}
        # the sensor's faults come last, on the crop the network sees
        rgb, depth, _ = corrupt_sample(
            rgb, depth, cfg.corruptions, cfg.corrupt_severity, cfg.corrupt_p, cfg.depth_missing_p, gen
        )
    return {"rgb": rgb[0], "depth_m": depth[0], "labels": labels[0, 0].long(), **clean}


class ScheduleDataset(Dataset):
    """Item k of the training schedule: sample ``perm_epoch[k % N]`` of ``base`` with
    epoch = k // N, augmented with a generator seeded by (seed, k).

    Everything a training step sees is a pure function of (seed, k), so resuming at any
    step, with any number of loader workers or processes, replays exactly the same data.
    """

    def __init__(
        self, base: Dataset, out_hw: tuple[int, int], aug: AugmentConfig | None, seed: int, keep_clean: bool = False
    ):
        self.base, self.out_hw, self.aug, self.seed = base, tuple(out_hw), aug, int(seed)
        self.keep_clean = bool(keep_clean)
        self._perm_epoch, self._perm = -1, None

    def __len__(self) -> int:
        return 2**62

    def _index(self, k: int) -> int:
        n = len(self.base)
        epoch = k // n
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(n, generator=g), epoch
        return int(self._perm[k % n])

    def __getitem__(self, k: int) -> dict:
        gen = torch.Generator().manual_seed((self.seed * 2_654_435_761 + k) % (2**63))
        return augment(self.base[self._index(k)], self.out_hw, self.aug, gen, self.keep_clean)


class StepSampler(Sampler):
    """Schedule indices for one process: step s, rank r of world w, batch b per process
    -> k = s * w * b + r * b + j, for s from start_step to total_steps - 1."""

    def __init__(self, start_step: int, total_steps: int, batch_size: int, rank: int = 0, world: int = 1):
        self.start, self.total, self.b, self.rank, self.world = start_step, total_steps, batch_size, rank, world

    def __len__(self) -> int:
        return max(0, self.total - self.start) * self.b

    def __iter__(self):
        for s in range(self.start, self.total):
            base = s * self.world * self.b + self.rank * self.b
            yield from range(base, base + self.b)


class ToySegData(Dataset):
    """A tiny procedural dataset for smoke tests and examples: a wall, a floor band and one
    box whose colour and depth identify its class (chair, table or furniture), plus a void
    strip at the top. Item i depends only on i. Samples as in the module docstring.
    """

    _COLORS = {12: (0.8, 0.8, 0.7), 5: (0.4, 0.3, 0.2), 4: (0.9, 0.1, 0.1), 10: (0.1, 0.8, 0.1), 6: (0.1, 0.1, 0.9)}

    def __init__(self, n: int = 8, size_hw: tuple[int, int] = (64, 96)):
        self.n, self.size_hw = n, tuple(size_hw)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n:
            raise IndexError(f"ToySegData index {i} out of range [0, {self.n})")
        g = torch.Generator().manual_seed(i)
        h, w = self.size_hw
        labels = torch.full((h, w), 12, dtype=torch.int64)
        labels[h * 2 // 3 :] = 5
        y0 = int(torch.randint(0, h // 2, (), generator=g))
        x0 = int(torch.randint(0, w // 2, (), generator=g))
        labels[y0 : y0 + h // 3, x0 : x0 + w // 3] = (4, 10, 6)[i % 3]
        labels[:2] = 0
        palette = torch.zeros(14, 3)
        for k, c in self._COLORS.items():
            palette[k] = torch.tensor(c)
        rgb = palette[labels].permute(2, 0, 1) + 0.05 * torch.randn(3, h, w, generator=g)
        depth = torch.full((1, h, w), 4.0)
        depth[0, labels == 5] = 2.0
        depth[0, (labels == 4) | (labels == 10) | (labels == 6)] = 2.5
        return {"rgb": (rgb.clamp(0, 1) * 255).to(torch.uint8), "depth_m": depth, "labels": labels}
