"""The streaming pipeline: segmentation -> semantic map -> scene graph -> navigation.

``Pipeline(config)`` composes the stages; ``step(frame)`` runs one frame through all of
them synchronously, ``run(frames)`` streams a whole source with the stages overlapping in
threads (segmentation of frame i + 1 while the map fuses frame i; torch, onnxruntime and
most numpy kernels release the GIL, so the stages really run side by side on two cores).

Two modes:

* ``"offline"``: every frame is processed, queues block instead of dropping, and the result
  is identical to calling ``step`` on each frame in order (deterministic).
* ``"realtime"``: the source is replayed at its own rate (frame timestamps, or
  ``source_fps``); when frames arrive faster than the pipeline takes them, the bounded input
  queue applies ``overload_policy``:

  - ``"drop"``: the oldest waiting frame is dropped so the freshest is processed next;
  - ``"keyframe"``: a frame that moved less than ``keyframe_translation_m`` /
    ``keyframe_rotation_deg`` from the last accepted frame is dropped when the queue is
    full; a keyframe always gets in (it evicts the oldest waiting frame).

  Every dropped frame is counted and reported with its index.

Per frame, in this order (nothing here is fatal; every outcome is a ``StepResult.status``):

* not a Frame, mutated into an invalid state (NaN/inf/negative depth, depth or intrinsics
  of another size than rgb), a size different from the stream's first frame, no pose
  (``missing_pose="skip"``), or a reader error (truncated or corrupt image) -> ``"skipped"``
  with the reason;
* no depth, or fewer than ``min_valid_depth`` valid depth pixels -> the RGB-only model
  segments it, the map is not updated -> ``"rgb_only"``;
* otherwise the RGB-D model segments it and the map fuses its class probabilities ->
  ``"fused"``;
* the network or the map rejects the frame (an error of real3d, torch or onnxruntime) ->
  ``"skipped"`` ("segmentation failed: ...") or ``"rgb_only"`` ("fusion failed: ...").

The scene graph and the costmap are derived from the map every ``graph_every`` /
``costmap_every`` fused frames (amortised) and on demand (``scene_graph``, ``costmap``,
``plan``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from real3d.core.errors import ConfigError, InputError, Real3DError
from real3d.core.frame import Frame
from real3d.mapping.semantic_map import SemanticMap, SemanticMapConfig
from real3d.models.contract import Segmenter
from real3d.models.factory import BACKENDS, ModelSpec
from real3d.models.segmentation import SegmentationResult
from real3d.nav.costmap import Costmap, CostmapConfig, build_costmap
from real3d.nav.planner import Path as NavPath
from real3d.nav.planner import plan_path
from real3d.scene.graph import SceneGraph, SceneGraphConfig


def __getattr__(name: str):
    # ``real3d.pipeline.SyntheticStream`` stays importable, but the data engine is loaded
    # only when asked for: the pipeline itself never needs it.
    if name == "SyntheticStream":
        from real3d.synth.sequence import SyntheticStream

        return SyntheticStream
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MODES = ("offline", "realtime")
OVERLOAD_POLICIES = ("drop", "keyframe")
MISSING_POSE = ("skip", "gravity")
GRAVITY = ("off", "floor")
STAGES = ("check", "segment", "fuse", "graph", "costmap")
STATUSES = ("fused", "rgb_only", "skipped", "dropped")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything ``Pipeline`` needs (metres, seconds unless named otherwise).

    Attributes:
        model: RGB-D segmentation model for ``real3d.models.create_model`` (a shipped name,
            a preset name = random weights, or a ``.safetensors`` path); None: no network,
            each frame fuses its own labels and instances (``Frame.labels``, ground truth)
            when it has them, else geometry only.
        rgb_model: model for frames without usable depth (None: such frames are skipped).
        backend: ``"torch"``, ``"onnx"`` (onnxruntime FP32) or ``"int8"`` (onnxruntime,
            static INT8 calibrated on synthetic frames). ONNX graphs are exported once and
            cached under ``cache_dir`` keyed by the weights' content.
        threads: intra-op threads of torch / onnxruntime (None: library default). The
            stages already run side by side in threads, so 1 is the default: on 2 cores,
            2 intra-op threads on top made a 40-frame demo 4x slower (spinning workers).
            ``torch.set_num_threads`` is process-wide: building a Pipeline sets it.
        mode: ``"offline"`` or ``"realtime"`` (see the module docstring).
        overload_policy: ``"drop"`` or ``"keyframe"`` (realtime mode only).
        queue_size: capacity of each inter-stage queue (frames).
        source_fps: realtime replay rate; None uses the frame timestamps (30 fps when they
            do not increase).
        keyframe_translation_m, keyframe_rotation_deg: motion that makes a frame a keyframe.
        min_valid_depth: share of valid depth pixels below which depth counts as failed.
        missing_pose: ``"skip"`` frames without a pose, or ``"gravity"``: place each such
            frame by a floor-plane fit of its own depth (camera above the world origin; right
            for a static camera or single frames, not for a moving one).
        gravity: ``"off"`` (poses are already z-up, floor at z = 0, as in synthetic data) or
            ``"floor"``: fit the floor plane in the first frame with depth and pose and
            re-express every pose in that gravity frame (z up, floor at z = 0).
        map: semantic map parameters.
        scene_graph: scene graph parameters.
        costmap: costmap parameters.
        graph_every, costmap_every: refresh the scene graph / costmap every this many fused
            frames (0: only on demand). In realtime mode a due refresh waits while another
            frame is queued for fusion, for at most three periods.
        plan_method: planner backend (``"skimage"`` or ``"astar"``).
        goal_tolerance_m: ``plan`` replaces a goal on a blocked cell by the nearest passable
            cell within this distance (see ``real3d.nav.plan_on_costmap``); 0 fails instead.
        cache_dir: where exported ONNX graphs are kept (None: ``$XDG_CACHE_HOME/real3d`` or
            ``~/.cache/real3d``).
        calibration_frames: synthetic frames used to calibrate the INT8 graph.
        seg_flip, seg_scales: test-time augmentation of the segmentation, as
            ``predict(frame, flip=..., scales=...)``: also run the mirrored frame, and/or
            run at these multiples of the model's size, averaging the class distributions.
            More accurate and several times slower (the shipped rgbd-default on the
            held-out synthetic views: 89.47 plain, 90.33 with flip and scales (1.0, 1.2)
            at about 3.5 times the segmentation time; docs/BENCHMARKS.md): for offline
            runs over recordings.
        seg_guided: upsample the class probabilities along the image's edges, as
            ``predict(frame, guided=True)`` (for models whose config sets
            ``guide_radius``, as the shipped cards do: 90.76 against 89.47 held-out mIoU for
            rgbd-default). Off by default: the real-time budget goes to the frame rate (on
            one thread of an AVX2-only CPU the INT8 pipeline at 320x240 ran 23.8 FPS
            without it, 16.9 with it; docs/BENCHMARKS.md, "Guided upsampling").
    """

    model: str | None = "rgbd-default"
    rgb_model: str | None = "rgb-default"
    backend: str = "torch"
    threads: int | None = 1
    mode: str = "offline"
    overload_policy: str = "drop"
    queue_size: int = 2
    source_fps: float | None = None
    keyframe_translation_m: float = 0.10
    keyframe_rotation_deg: float = 10.0
    min_valid_depth: float = 0.01
    missing_pose: str = "skip"
    gravity: str = "off"
    map: SemanticMapConfig = field(
        default_factory=lambda: SemanticMapConfig(
            voxel_size_m=0.05, truncation_m=0.15, pixel_stride=4
        )
    )
    scene_graph: SceneGraphConfig = field(default_factory=SceneGraphConfig)
    costmap: CostmapConfig = field(default_factory=CostmapConfig)
    graph_every: int = 30
    costmap_every: int = 30
    plan_method: str = "skimage"
    goal_tolerance_m: float = 0.0
    cache_dir: str | None = None
    calibration_frames: int = 16
    seg_flip: bool = False
    seg_scales: tuple[float, ...] = (1.0,)
    seg_guided: bool = False

    def __post_init__(self) -> None:
        from real3d.models.segmentation import check_scales

        if not isinstance(self.seg_guided, bool):
            raise ConfigError(f"PipelineConfig.seg_guided: expected True or False, got {self.seg_guided!r}")

        try:
            object.__setattr__(self, "seg_scales", check_scales(self.seg_scales))
        except InputError as e:
            raise ConfigError(f"PipelineConfig.seg_scales: {e}") from None
        for name, value, valid in (
            ("backend", self.backend, BACKENDS),
            ("mode", self.mode, MODES),
            ("overload_policy", self.overload_policy, OVERLOAD_POLICIES),
            ("missing_pose", self.missing_pose, MISSING_POSE),
            ("gravity", self.gravity, GRAVITY),
        ):
            if value not in valid:
                raise ConfigError(
                    f"PipelineConfig.{name}: unknown {value!r}; valid: {', '.join(valid)}"
                )
        if self.queue_size < 1:
            raise ConfigError(f"PipelineConfig.queue_size: expected >= 1, got {self.queue_size}")
        if self.graph_every < 0 or self.costmap_every < 0:
            raise ConfigError("PipelineConfig: graph_every and costmap_every must be >= 0")
        if self.source_fps is not None and not self.source_fps > 0:
            raise ConfigError(
                f"PipelineConfig.source_fps: expected > 0 or None, got {self.source_fps}"
            )
        if not 0 <= self.min_valid_depth < 1:
            raise ConfigError(
                f"PipelineConfig.min_valid_depth: expected [0, 1), got {self.min_valid_depth}"
            )


@dataclass(frozen=True)
class StepResult:
    """What the pipeline did with one frame.

    Attributes:
        index: the frame's position in the stream in ``run`` (0-based, counting every item
            the source delivered or failed to deliver); ``Frame.index`` in ``step``.
        timestamp_s: the frame's capture time (0 when unknown).
        status: ``"fused"``, ``"rgb_only"``, ``"skipped"`` or ``"dropped"``.
        reason: why a frame was skipped, dropped or not fused (None when fused).
        labels: (H, W) uint8 NYUv2-13 labels, None for skipped / dropped frames.
        latency_ms: milliseconds per stage that ran (keys of ``STAGES``) and ``"total"``:
            from the frame's arrival to its result in realtime mode (queue waits included),
            from the start of its processing in offline mode (where the source is read
            ahead) and in ``step``.
        model: which segmentation model ran (``"rgbd"``, ``"rgb"`` or ``""``).
        map_voxels: fine voxels in the map after this frame.
        map_bytes: bytes of voxel storage after this frame.
        n_objects: object nodes in the scene graph as of its last refresh.
    """

    index: int
    timestamp_s: float
    status: str
    reason: str | None = None
    labels: np.ndarray | None = None
    latency_ms: dict = field(default_factory=dict)
    model: str = ""
    map_voxels: int = 0
    map_bytes: int = 0
    n_objects: int = 0


@dataclass
class RunSummary:
    """Counts and timings of a ``Pipeline.run``.

    Attributes:
        frames_in: items taken from the source.
        counts: {status: frames}.
        skipped: (index, reason) of skipped frames. dropped: indices of dropped frames.
        rgb_only: (index, reason) of frames segmented without depth and not fused.
        wall_s: wall-clock seconds of the run.
        fps: processed (fused + rgb_only) frames per wall-clock second.
        latency_ms: {stage: (N,) float64 per processed frame, 0 where the stage did not run}.
        mode, overload_policy: how the run was made.
    """

    frames_in: int = 0
    counts: dict = field(default_factory=lambda: {s: 0 for s in STATUSES})
    skipped: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    rgb_only: list = field(default_factory=list)
    wall_s: float = 0.0
    latency_ms: dict = field(default_factory=dict)
    mode: str = "offline"
    overload_policy: str = "drop"

    @property
    def processed(self) -> int:
        return self.counts["fused"] + self.counts["rgb_only"]

    @property
    def fps(self) -> float:
        return self.processed / self.wall_s if self.wall_s > 0 else 0.0

    def latency_percentiles(self, q=(50, 95)) -> dict:
        """{stage: {"p50": ms, "p95": ms, "mean": ms}} over the frames where it ran."""
        out = {}
        for k, v in self.latency_ms.items():
            v = np.asarray(v, np.float64)
            v = v[v > 0] if k in ("graph", "costmap") else v
            if len(v):
                out[k] = {f"p{p}": float(np.percentile(v, p)) for p in q}
                out[k]["mean"] = float(v.mean())
        return out

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "overload_policy": self.overload_policy,
            "frames_in": self.frames_in,
            "counts": dict(self.counts),
            "processed": self.processed,
            "wall_s": self.wall_s,
            "fps": self.fps,
            "skipped": [{"index": i, "reason": r} for i, r in self.skipped],
            "rgb_only": [{"index": i, "reason": r} for i, r in self.rgb_only],
            "dropped": list(self.dropped),
            "latency_ms": self.latency_percentiles(),
        }


# ---------------------------------------------------------------------------- models
def load_segmenter(spec: ModelSpec, backend: str = "torch", config: PipelineConfig | None = None) -> Segmenter:
    """``real3d.models.create_model(spec, backend)`` with the pipeline's settings: the
    graph cache folder (``config.cache_dir``), ``config.calibration_frames`` for INT8 and
    ``config.threads`` (which also sets torch's process-wide thread count)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    config = config or PipelineConfig()
    from real3d.models import create_model

    if config.threads:
        import torch

        torch.set_num_threads(int(config.threads))
    return create_model(spec, backend, cache_dir=config.cache_dir, threads=config.threads,
                        calibration_frames=config.calibration_frames)


def _predict(segmenter: Segmenter, frame: Frame, flip: bool = False, scales: tuple[float, ...] = (1.0,),
             guided: bool | None = None) -> SegmentationResult:
    """``segmenter.predict(frame)`` with the test-time settings that differ from the
    defaults (a segmenter is asked nothing it need not do)."""
    tta = {}
    if flip:
        tta["flip"] = True
    if tuple(scales) != (1.0,):
        tta["scales"] = tuple(scales)
    # guided=True always reaches predict (which refuses it without supports_guided);
    # guided=False only where it changes the answer
    if guided or (guided is not None and segmenter.supports_guided):
        tta["guided"] = bool(guided)
    return segmenter.predict(frame, **tta)


def segment_frame(segmenter: Segmenter, frame: Frame, flip: bool = False,
                  scales: tuple[float, ...] = (1.0,), guided: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run a segmenter on a frame: (labels (H, W) uint8 NYUv2-13 ids 1..13, probs (13, H, W)
    float32, no void channel), as its ``predict`` gives them (``flip`` and ``scales`` passed
    on when not the defaults; ``guided`` when True, or when False for a segmenter that
    ``supports_guided``; ``predict`` raises InputError for True without that capability)."""
    r = _predict(segmenter, frame, flip, scales, guided)
    return r.labels, r.probs[1:]


def calibration_feeds_from_frames(frames, model_config) -> list[dict]:
    """Alias of ``real3d.deploy.calibration_feeds_from_frames`` (INT8 calibration lives there)."""
    from real3d.deploy.runtime import calibration_feeds_from_frames as feeds

    return feeds(frames, model_config)


def _check_segmenter(seg, role: str) -> None:
    from real3d.models.contract import missing_members

    missing = missing_members(seg)
    if missing:
        raise ConfigError(f"Pipeline: {role} must implement real3d.models.Segmenter; "
                          f"{type(seg).__name__} lacks {', '.join(missing)}")


# ---------------------------------------------------------------------------- frames
def check_frame(frame, expect_hw: tuple[int, int] | None = None) -> str | None:
    """Why ``frame`` cannot enter the pipeline, or None when it can.

    Frames are validated when built, but their arrays are mutable and drivers hand over
    objects of any kind, so the pipeline checks again: type, rgb (H, W, 3) uint8, depth
    (H, W) float32 finite and >= 0, intrinsics of the rgb size, and (``expect_hw``) the
    stream's size.
    """
    if not isinstance(frame, Frame):
        return f"not a real3d.Frame ({type(frame).__name__})"
    rgb = frame.rgb
    if not (
        isinstance(rgb, np.ndarray)
        and rgb.ndim == 3
        and rgb.shape[2] == 3
        and rgb.dtype == np.uint8
    ):
        return f"rgb is not (H, W, 3) uint8 ({getattr(rgb, 'dtype', '?')} {getattr(rgb, 'shape', '?')})"
    hw = rgb.shape[:2]
    if expect_hw is not None and tuple(hw) != tuple(expect_hw):
        return f"wrong size: {hw[0]}x{hw[1]}, the stream is {expect_hw[0]}x{expect_hw[1]} (H x W)"
    if frame.intrinsics.size_hw != hw:
        return f"intrinsics are for {frame.intrinsics.height}x{frame.intrinsics.width}, rgb is {hw[0]}x{hw[1]}"
    d = frame.depth_m
    if d is not None:
        if not (isinstance(d, np.ndarray) and d.shape == hw and d.dtype == np.float32):
            return f"depth is not ({hw[0]}, {hw[1]}) float32 ({getattr(d, 'dtype', '?')} {getattr(d, 'shape', '?')})"
        bad = ~np.isfinite(d)
        if bad.any():
            return f"depth has {int(bad.sum())} NaN/inf pixels"
        if (d < 0).any():
            return f"depth has {int((d < 0).sum())} negative pixels"
    if frame.world_T_cam is not None and not np.isfinite(frame.world_T_cam).all():
        return "pose has NaN/inf entries"
    return None


def _pose_delta(a_T: np.ndarray, b_T: np.ndarray) -> tuple[float, float]:
    """(translation metres, rotation degrees) between two poses."""
    t = float(np.linalg.norm(a_T[:3, 3] - b_T[:3, 3]))
    r = a_T[:3, :3].T @ b_T[:3, :3]
    ang = float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))
    return t, ang


def _floor_pose(frame: Frame) -> np.ndarray:
    """world_T_cam of a camera whose world is the gravity frame of its own floor plane
    (z up, floor z = 0); raises InputError when no floor is found."""
    from real3d.geometry.projection import depth_to_world_points
    from real3d.nav.gravity import floor_alignment

    d = np.zeros_like(frame.depth_m)
    d[::4, ::4] = frame.depth_m[::4, ::4]
    pts, _ = depth_to_world_points(d, frame.intrinsics, np.eye(4))
    if len(pts) < 100:
        raise InputError("too few depth points for a floor fit")
    # Camera frame as world: image-up (-y) is the rough up direction.
    _, gravity_T_cam = floor_alignment(pts, up_hint=(0.0, -1.0, 0.0))
    return gravity_T_cam


# ---------------------------------------------------------------------------- pipeline
class _Item:
    """A frame travelling between the stages, with its timings."""

    __slots__ = (
        "index",
        "frame",
        "t_in",
        "lat",
        "labels",
        "segmentation",
        "model",
        "status",
        "reason",
        "pose",
    )

    def __init__(self, index: int, frame, t_in: float):
        self.index, self.frame, self.t_in = index, frame, t_in
        self.lat: dict = {}
        self.labels = None  # (H, W) uint8
        self.segmentation = None  # SegmentationResult; None: the frame's own labels
        self.model = ""
        self.status = ""
        self.reason = None
        self.pose = None


class _ReadError:
    """Stands in for a frame the source could not deliver (reader error)."""

    def __init__(self, index: int, reason: str):
        self.index, self.reason = index, reason


class Pipeline:
    """Segmentation -> semantic map -> scene graph -> navigation, frame by frame.

    Example::

        pipe = Pipeline.default()                  # shipped weights
        for frame in real3d.io.open_sequence(path):
            r = pipe.step(frame)                   # StepResult
        pipe.scene_graph.to_json("graph.json")
        path = pipe.plan((2.0, 1.5))               # nav Path, world metres

    Args:
        config: PipelineConfig (default settings when None).
        segmenter, rgb_segmenter: already built segmenters (``real3d.models.Segmenter``)
            instead of loading ``config.model`` / ``config.rgb_model``.

    Raises:
        ConfigError: a segmenter that does not implement ``Segmenter``, or an RGB-only
            segmenter that needs depth.
    """

    def __init__(
        self, config: PipelineConfig | None = None, *, segmenter: Segmenter | None = None,
        rgb_segmenter: Segmenter | None = None,
    ) -> None:
        self.config = config = config or PipelineConfig()
        if segmenter is None and config.model is not None:
            segmenter = load_segmenter(config.model, config.backend, config)
        if rgb_segmenter is None and config.rgb_model is not None:
            rgb_segmenter = load_segmenter(config.rgb_model, config.backend, config)
        for seg, role in ((segmenter, "segmenter"), (rgb_segmenter, "rgb_segmenter")):
            if seg is not None:
                _check_segmenter(seg, role)
        if rgb_segmenter is not None and rgb_segmenter.uses_depth:
            raise ConfigError(f"rgb_model {rgb_segmenter.name} needs depth; choose an RGB-only model")
        self.segmenter: Segmenter | None = segmenter
        self.rgb_segmenter: Segmenter | None = rgb_segmenter
        self.reset()

    @classmethod
    def default(cls, **overrides) -> Pipeline:
        """The shipped RGB-D and RGB-only weights with the default map / nav settings;
        ``overrides`` replace PipelineConfig fields. Raises ConfigError when the shipped
        weights are not installed."""
        from real3d.models.pretrained import WEIGHTS_DIR

        config = PipelineConfig(**overrides)
        missing = [
            str(WEIGHTS_DIR / f"{n}.{ext}")
            for n in (config.model, config.rgb_model)
            if n in ("rgbd-default", "rgb-default")
            for ext in ("safetensors", "json")
            if not (WEIGHTS_DIR / f"{n}.{ext}").is_file()
        ]
        if missing:
            raise ConfigError(
                "Pipeline.default: the shipped weights are missing (" + ", ".join(missing) + "); "
                "install a release that ships them, or give the models as a .safetensors path "
                "or a preset name (random weights, for testing only): model= / rgb_model= in "
                "Python, --model / --rgb-model on the command line"
            )
        return cls(config)

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the map, graph, costmap and trajectory (models stay loaded)."""
        cfg = self.config
        self.map = SemanticMap(cfg.map)
        self._graph = SceneGraph(cfg.scene_graph)
        self._costmap: Costmap | None = None
        self._costmap_version = -1
        self.trajectory: list[np.ndarray] = []
        self.gravity_T_world: np.ndarray | None = None if cfg.gravity == "floor" else np.eye(4)
        #: how the gravity frame was found (for reports)
        self.gravity_note = (
            "poses used as given (z up)" if cfg.gravity == "off" else "no frame fused yet"
        )
        self.size_hw: tuple[int, int] | None = None
        self.frames_fused = 0
        self._graph_at = self._costmap_at = 0  # frames_fused at the last periodic refresh
        self.class_pixels = np.zeros(14, np.int64)
        self._last_key_pose: np.ndarray | None = None
        self.path: NavPath | None = None

    @property
    def scene_graph(self) -> SceneGraph:
        """The scene graph of the current map (refreshed when the map changed)."""
        if self.map.version != self._graph.map_version and len(self.map):
            self._graph.update(self.map)
        return self._graph

    @property
    def costmap(self) -> Costmap | None:
        """The costmap of the current map (rebuilt when the map changed); None while the
        map is empty."""
        if not len(self.map):
            return None
        if self._costmap is None or self._costmap_version != self.map.version:
            self._refresh_costmap()
        return self._costmap

    def plan(self, goal_xy: ArrayLike, start_xy: ArrayLike | None = None) -> NavPath:
        """Path from ``start_xy`` (default: the last fused camera position) to ``goal_xy``,
        both (2,) world metres in the map's frame (z up), on the current costmap. The
        robot's footprint at the start counts as free (``Costmap.with_free_footprint``;
        the costmap itself is left as it is). Raises NoPathError (no map yet, outside,
        blocked or disconnected)."""
        from real3d.core.errors import NoPathError

        cm = self.costmap
        if cm is None:
            raise NoPathError("Pipeline.plan: the map is empty; fuse frames first")
        if start_xy is None:
            if not self.trajectory:
                raise NoPathError("Pipeline.plan: no camera position yet; pass start_xy")
            start_xy = self.trajectory[-1][:2]
        self.path = plan_path(cm, goal_xy, start_xy, method=self.config.plan_method,
                               goal_tolerance_m=self.config.goal_tolerance_m)
        return self.path

    def refresh_costmap(self, floor_z_m: float | None = None) -> Costmap:
        """Rebuild the costmap from the current map now and return it.

        ``floor_z_m``: the floor height the robot's height band starts from; None: the
        scene graph's floor estimate once the graph has been built, else 0. The object
        layer takes the graph's objects as of its last refresh (none before the first)."""
        self._refresh_costmap(floor_z_m)
        return self._costmap

    def _refresh_costmap(self, floor_z_m: float | None = None) -> float:
        t0 = time.perf_counter()
        built = self._graph.map_version >= 0
        if floor_z_m is None:
            floor_z_m = self._graph.floor_z_m if built else 0.0
        # The object layer takes the graph as it was last refreshed (every graph_every frames).
        self._costmap = build_costmap(self.map, self.config.costmap, floor_z_m=floor_z_m,
                                      objects=self._graph.objects() if built else None)
        self._costmap_version = self.map.version
        return (time.perf_counter() - t0) * 1e3

    # ------------------------------------------------------------------ stages
    def _check(self, item: _Item) -> bool:
        """Validate and place the frame; sets status/reason when it must be skipped."""
        t0 = time.perf_counter()
        f = item.frame
        reason = check_frame(f, self.size_hw)
        if reason is None:
            pose = f.world_T_cam
            if pose is None and f.depth_m is not None and self.config.missing_pose == "gravity":
                try:
                    pose = _floor_pose(f)
                except Real3DError as e:
                    reason = f"no pose, and no floor for a gravity pose ({e})"
            elif pose is None:
                reason = "missing pose"
            item.pose = pose
        if reason is None and self.size_hw is None:
            self.size_hw = tuple(f.size_hw)
        item.lat["check"] = (time.perf_counter() - t0) * 1e3
        if reason is not None:
            item.status, item.reason = "skipped", reason
            return False
        return True

    def _segment(self, item: _Item) -> None:
        t0 = time.perf_counter()
        try:
            self._segment_frame(item)
        except (Real3DError, RuntimeError, ValueError) as e:
            # One frame the network cannot take (odd size, a backend error) must not end
            # a robot's run: report it and go on.
            item.labels = item.segmentation = None
            item.status, item.reason = "skipped", f"segmentation failed: {e}"
        item.lat["segment"] = (time.perf_counter() - t0) * 1e3

    def _segment_frame(self, item: _Item) -> None:
        cfg = self.config
        f = item.frame
        d = f.depth_m
        depth_ok = (
            d is not None and float(np.count_nonzero(d)) >= self.config.min_valid_depth * d.size
        )
        no_depth = "no depth" if d is None else "depth failed (too few valid pixels)"
        if self.segmenter is None:
            # No network: the map takes the frame's own labels and instances (ground
            # truth; segmentation None), else geometry only.
            if depth_ok:
                item.labels, item.status = f.labels, "fused"
            else:
                item.status, item.reason = "skipped", f"{no_depth} and no segmentation model"
            return
        if depth_ok or not self.segmenter.uses_depth:
            seg, model = self.segmenter, "rgbd"
        elif self.rgb_segmenter is not None:
            seg, model = self.rgb_segmenter, "rgb"
        else:
            item.status, item.reason = "skipped", "no usable depth and no rgb_model configured"
            return
        item.segmentation = _predict(seg, f, cfg.seg_flip, cfg.seg_scales, cfg.seg_guided)
        item.labels = item.segmentation.labels
        item.model = model
        item.status = "fused" if depth_ok else "rgb_only"
        if not depth_ok:
            item.reason = no_depth

    def _gravity_pose(self, f: Frame, pose: np.ndarray, index: int) -> np.ndarray:
        """``pose`` in the gravity frame (``gravity_T_world``, fitted on the first frame
        fused when ``config.gravity`` is ``"floor"``); ``pose`` itself when that is the identity."""
        if self.gravity_T_world is None:
            try:
                self.gravity_T_world = _floor_pose(f) @ np.linalg.inv(pose)
                self.gravity_note = f"floor plane fitted in frame {index}"
            except Real3DError as e:
                # No floor in the first frame: keep the source's frame rather than guess.
                self.gravity_T_world = np.eye(4)
                self.gravity_note = (
                    f"no floor found in frame {index} ({e}); the source's frame is kept"
                )
        if not np.array_equal(self.gravity_T_world, np.eye(4)):
            pose = self.gravity_T_world @ pose
        return pose

    def fuse(self, frame: Frame, segmentation: SegmentationResult | np.ndarray | None = None) -> None:
        """Fuse one posed RGB-D frame whose segmentation is already known, without running
        a network (ground truth, or a segmentation made elsewhere).

        ``segmentation``: anything ``SemanticMap.integrate`` takes (a SegmentationResult,
        (C, H, W) probabilities, (H, W) uint8 labels; None: ``frame.labels`` and
        ``frame.instances``, else geometry only). The pose goes through ``gravity_T_world``
        as in ``step`` and joins ``trajectory``. No periodic graph or costmap refresh.
        Unlike ``step`` it raises: InputError for a frame without depth or pose, or input
        the map refuses.
        """
        if not isinstance(frame, Frame):
            raise InputError(f"Pipeline.fuse: expected a real3d.Frame, got {type(frame).__name__}")
        if frame.world_T_cam is None:
            raise InputError("Pipeline.fuse: the frame has no pose (world_T_cam is None)")
        pose = self._gravity_pose(frame, frame.world_T_cam, frame.index)
        if pose is not frame.world_T_cam:
            frame = frame.replace(world_T_cam=pose)
        self.map.integrate(frame, segmentation)
        self.trajectory.append(pose[:3, 3].copy())
        self.frames_fused += 1

    def _fuse(self, item: _Item, defer: bool = False) -> None:
        """Map fusion and the amortised graph / costmap refresh (fuse thread only);
        ``defer``: another frame is waiting, postpone a due refresh if allowed."""
        if item.labels is not None:
            self.class_pixels += np.bincount(item.labels.ravel(), minlength=14)[:14]
        if item.status != "fused":
            return
        cfg = self.config
        t0 = time.perf_counter()
        f = item.frame
        pose = self._gravity_pose(f, item.pose, item.index)
        if pose is not f.world_T_cam:
            if item.segmentation is None:  # no network: the frame's own labels and instances go along
                f = f.replace(world_T_cam=pose)
            else:
                f = Frame(
                    rgb=f.rgb,
                    depth_m=f.depth_m,
                    intrinsics=f.intrinsics,
                    world_T_cam=pose,
                    timestamp_s=f.timestamp_s,
                    index=f.index,
                )
        try:
            self.map.integrate(f, item.segmentation)
        except Real3DError as e:
            item.status, item.reason = "rgb_only", f"fusion failed: {e}"
            return
        finally:
            item.segmentation = None  # the fuse queue holds frames; drop the biggest array early
        self.trajectory.append(pose[:3, 3].copy())
        self.frames_fused += 1
        item.lat["fuse"] = (time.perf_counter() - t0) * 1e3
        # A due refresh may wait while another frame is queued for fusion (realtime mode
        # only, where a 30-100 ms refresh would back the queue up into drops), but never
        # past three periods. Offline it runs exactly every N frames (deterministic ids).
        n = self.frames_fused
        if cfg.graph_every and n - self._graph_at >= cfg.graph_every:
            if not defer or n - self._graph_at >= 3 * cfg.graph_every:
                t0 = time.perf_counter()
                self._graph.update(self.map)
                item.lat["graph"] = (time.perf_counter() - t0) * 1e3
                self._graph_at = n
        if cfg.costmap_every and n - self._costmap_at >= cfg.costmap_every:
            if not defer or n - self._costmap_at >= 3 * cfg.costmap_every:
                item.lat["costmap"] = self._refresh_costmap()
                self._costmap_at = n

    def _result(self, item: _Item, t_done: float) -> StepResult:
        f = item.frame
        lat = {k: float(v) for k, v in item.lat.items()}
        lat["total"] = (t_done - item.t_in) * 1e3
        return StepResult(
            index=item.index,
            timestamp_s=float(getattr(f, "timestamp_s", 0.0) or 0.0)
            if isinstance(f, Frame)
            else 0.0,
            status=item.status,
            reason=item.reason,
            labels=item.labels,
            latency_ms=lat,
            model=item.model,
            map_voxels=len(self.map),
            map_bytes=self.map.nbytes,
            n_objects=len(self._graph.objects()),
        )

    def step(self, frame: Frame) -> StepResult:
        """Run one frame through every stage (synchronously). Never raises for a bad frame
        (anything that is not a valid ``Frame`` included): the result's ``status`` and
        ``reason`` say what happened."""
        t_in = time.perf_counter()
        index = frame.index if isinstance(frame, Frame) else -1
        item = _Item(index, frame, t_in)
        if self._check(item):
            self._segment(item)
            self._fuse(item)
        return self._result(item, time.perf_counter())

    # ------------------------------------------------------------------ streaming
    def run(
        self,
        source: Sequence[Frame] | Iterable[Frame],
        on_result: Callable[[StepResult, Frame | None], None] | None = None,
        max_frames: int | None = None,
    ) -> RunSummary:
        """Stream ``source`` through the pipeline with overlapping stages.

        Args:
            source: a sequence with ``len`` and indexing (e.g. ``real3d.io`` sequences: a
                frame whose decoding fails is skipped with the reader's message) or any
                iterable of Frames.
            on_result: called in stream order as ``on_result(result, frame)`` for every
                frame, dropped and skipped ones included (``frame`` None when the source
                could not deliver it). Runs on the calling thread.
            max_frames: stop after taking this many items from the source.

        Returns:
            RunSummary. The map, graph and costmap stay on the pipeline.
        """
        cfg = self.config
        summary = RunSummary(mode=cfg.mode, overload_policy=cfg.overload_policy)
        lat = {k: [] for k in (*STAGES, "total")}
        stop = threading.Event()
        errors: list[BaseException] = []
        q_in: deque = deque()
        cv = threading.Condition()
        q_fuse: queue.Queue = queue.Queue(maxsize=cfg.queue_size)
        done_reading = threading.Event()
        order_out: queue.Queue = queue.Queue()  # dropped frames, from the source thread

        def produce():
            try:
                t_start = time.perf_counter()
                t0_frame = None
                for k, obj in enumerate(_iterate(source, max_frames)):
                    if stop.is_set():
                        break
                    f = obj if not isinstance(obj, _ReadError) else None
                    if cfg.mode == "realtime" and f is not None:
                        # Replay at the source's rate: wait until the frame's capture time.
                        ts = self._replay_time(f, k, t0_frame)
                        if t0_frame is None:
                            t0_frame = ts
                        delay = (ts - t0_frame) - (time.perf_counter() - t_start)
                        if delay > 0:
                            time.sleep(delay)
                    item = _Item(k, obj, time.perf_counter())
                    with cv:
                        if cfg.mode == "offline":
                            while len(q_in) >= cfg.queue_size and not stop.is_set():
                                cv.wait(0.1)
                            q_in.append(item)
                        else:
                            self._admit(q_in, item, order_out)
                        cv.notify_all()
                    summary.frames_in += 1
            except BaseException as e:  # surfaced on the calling thread
                errors.append(e)
            finally:
                done_reading.set()
                with cv:
                    cv.notify_all()

        def segment_worker():
            try:
                while not stop.is_set():
                    with cv:
                        while not q_in and not done_reading.is_set():
                            cv.wait(0.1)
                        if not q_in:
                            break
                        item = q_in.popleft()
                        cv.notify_all()
                    if cfg.mode == "offline":
                        # Offline, the source is read ahead on purpose: latency counts from
                        # when the frame's processing starts, not from the read-ahead.
                        item.t_in = time.perf_counter()
                    if isinstance(item.frame, _ReadError):
                        item.status, item.reason, item.frame = "skipped", item.frame.reason, None
                    elif self._check(item):
                        self._segment(item)
                    q_fuse.put(item)
            except BaseException as e:
                errors.append(e)
            finally:
                q_fuse.put(None)

        t_run = time.perf_counter()
        threads = [
            threading.Thread(target=produce, name="real3d-source", daemon=True),
            threading.Thread(target=segment_worker, name="real3d-segment", daemon=True),
        ]
        for t in threads:
            t.start()
        # Dropped frames are reported by the source thread as they happen, processed ones
        # after fusion: results wait here until every earlier index has its result.
        pending: dict = {}
        next_index = 0

        def settle(it: _Item) -> None:
            nonlocal next_index
            pending[it.index] = (self._result(it, time.perf_counter()), it.frame)
            while next_index in pending:
                self._emit(*pending.pop(next_index), summary, lat, on_result)
                next_index += 1

        try:
            while True:
                while True:
                    try:
                        settle(order_out.get_nowait())
                    except queue.Empty:
                        break
                item = q_fuse.get()
                if item is None:
                    break
                if item.status in ("fused", "rgb_only"):
                    self._fuse(item, defer=cfg.mode == "realtime" and not q_fuse.empty())
                settle(item)
            while not order_out.empty():
                settle(order_out.get_nowait())
            for k in sorted(pending):  # only reached if the source skipped indices
                self._emit(*pending.pop(k), summary, lat, on_result)
        finally:
            stop.set()
            with cv:
                cv.notify_all()
            # Unblock a worker waiting on a full fuse queue.
            while any(t.is_alive() for t in threads):
                try:
                    q_fuse.get(timeout=0.05)
                except queue.Empty:
                    pass
            for t in threads:
                t.join()
        summary.wall_s = time.perf_counter() - t_run
        summary.latency_ms = {k: np.asarray(v, np.float64) for k, v in lat.items()}
        if errors:
            raise errors[0]
        return summary

    def _replay_time(self, f: Frame, k: int, t0: float | None) -> float:
        cfg = self.config
        if cfg.source_fps is not None:
            return k / cfg.source_fps
        ts = float(f.timestamp_s)
        if t0 is not None and ts <= t0 and k > 0:
            return k / 30.0  # timestamps do not increase: assume 30 fps
        return ts

    def _admit(self, q_in: deque, item: _Item, dropped_out: queue.Queue) -> None:
        """Realtime admission into the bounded input queue (caller holds the lock)."""
        cfg = self.config
        full = len(q_in) >= cfg.queue_size
        if cfg.overload_policy == "drop":
            if full:
                old = q_in.popleft()
                old.status, old.reason = "dropped", "input queue full (drop oldest)"
                dropped_out.put(old)
            q_in.append(item)
            return
        f = item.frame
        is_key = True
        if isinstance(f, Frame) and f.world_T_cam is not None and self._last_key_pose is not None:
            t, r = _pose_delta(self._last_key_pose, f.world_T_cam)
            is_key = t >= cfg.keyframe_translation_m or r >= cfg.keyframe_rotation_deg
        if full and not is_key:
            item.status, item.reason = "dropped", "input queue full and not a keyframe"
            dropped_out.put(item)
            return
        if full:
            old = q_in.popleft()
            old.status, old.reason = "dropped", "input queue full (evicted by a keyframe)"
            dropped_out.put(old)
        if isinstance(f, Frame) and f.world_T_cam is not None and is_key:
            self._last_key_pose = f.world_T_cam
        q_in.append(item)

    def _emit(self, res: StepResult, frame, summary: RunSummary, lat: dict, on_result) -> None:
        summary.counts[res.status] += 1
        if res.status == "skipped":
            summary.skipped.append((res.index, res.reason))
        elif res.status == "dropped":
            summary.dropped.append(res.index)
        else:
            if res.status == "rgb_only":
                summary.rgb_only.append((res.index, res.reason))
            for k in lat:
                lat[k].append(res.latency_ms.get(k, 0.0))
        if on_result is not None:
            on_result(res, frame if isinstance(frame, Frame) else None)


def peak_rss_reset() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ``clear_refs``); False when
    not possible (then ``peak_rss_mb`` keeps the process-wide peak)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory since the last ``peak_rss_reset`` (or process start), MiB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def benchmark(pipeline: Pipeline, frames, warmup: int = 5) -> dict:
    """Throughput and latency of ``pipeline.run`` over ``frames[warmup:]`` (already
    decoded, so the source costs nothing), after ``frames[:warmup]`` went through ``step``
    (allocator and kernel warm-up).

    Returns:
        {"frames", "fps", "wall_s", "latency_ms": {stage: {"p50", "p95", "mean"}},
         "peak_rss_mb", "counts"}; the map is reset before the measured run.
    """
    frames = list(frames)
    for f in frames[:warmup]:
        pipeline.step(f)
    pipeline.reset()
    peak_rss_reset()
    s = pipeline.run(frames[warmup:])
    return {
        "frames": s.frames_in,
        "fps": s.fps,
        "wall_s": s.wall_s,
        "latency_ms": s.latency_percentiles(),
        "peak_rss_mb": peak_rss_mb(),
        "counts": dict(s.counts),
    }


def _iterate(source, max_frames: int | None):
    """Frames of ``source``; indexable sources are read by index so that one undecodable
    frame becomes a ``_ReadError`` instead of ending the iteration."""
    n_max = max_frames if max_frames is not None else None
    if hasattr(source, "__len__") and hasattr(source, "__getitem__"):
        n = len(source)
        if n_max is not None:
            n = min(n, n_max)
        for k in range(n):
            try:
                yield source[k]
            except (Real3DError, OSError, ValueError) as e:
                yield _ReadError(k, f"read error: {e}")
        return
    it = iter(source)
    k = 0
    while n_max is None or k < n_max:
        try:
            obj = next(it)
        except StopIteration:
            return
        except (Real3DError, OSError, ValueError) as e:
            # A generator cannot continue after raising: report it and stop.
            yield _ReadError(k, f"read error (source ended): {e}")
            return
        yield obj
        k += 1


__all__ = [
    "Pipeline",
    "PipelineConfig",
    "StepResult",
    "RunSummary",
    "load_segmenter",
    "check_frame",
    "calibration_feeds_from_frames",
    "Segmenter",
    "segment_frame",
    "SyntheticStream",
    "benchmark",
    "peak_rss_mb",
    "peak_rss_reset",
    "BACKENDS",
    "MODES",
    "OVERLOAD_POLICIES",
    "STAGES",
]
