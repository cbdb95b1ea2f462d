"""Pipeline settings (``PipelineConfig``) and the names of its modes, policies and stages."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from real3d.core.errors import ConfigError, InputError
from real3d.core.values import is_int
from real3d.mapping.config import PIPELINE_MAP_CONFIG, SemanticMapConfig
from real3d.models.factory import BACKENDS
from real3d.nav.costmap import CostmapConfig
from real3d.scene.graph import SceneGraphConfig

MODES = ("offline", "realtime")
OVERLOAD_POLICIES = ("drop", "keyframe")
MISSING_POSE = ("skip", "gravity")
GRAVITY = ("off", "floor")
STAGES = ("check", "segment", "fuse", "refine", "graph", "costmap", "refresh")
STATUSES = ("fused", "rgb_only", "skipped", "dropped")
#: ``PipelineConfig.backend`` values: ``"auto"`` and the model backends
PIPELINE_BACKENDS = ("auto", *BACKENDS)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def intra_op_threads(cores: int) -> int:
    """Intra-op threads of the network for ``threads="auto"`` on ``cores`` cores.

    ``run`` keeps up to three threads busy besides the network's own: segmentation (the
    network), fusion and the background refresh. The network gets the cores left once
    fusion has one and the refresh another, and at least one: 1 on up to 3 cores, 2 on
    4, ``cores - 2`` above, at most 8 (small networks gain nothing from more). A network
    given more threads than it has cores of its own makes its spinning workers fight the
    stage threads.
    """
    if not (is_int(cores) and cores >= 1):
        raise ConfigError(f"intra_op_threads: expected a core count >= 1, got {cores!r}")
    return int(min(8, max(1, cores - 2)))


@dataclass(frozen=True)
class PipelineConfig:
    """Everything ``Pipeline`` needs (metres, seconds unless named otherwise).

    Attributes:
        model: RGB-D segmentation model for ``real3d.models.create_model`` (a shipped name,
            a preset name = random weights, or a ``.safetensors`` path); None: no network,
            each frame fuses its own labels and instances (``Frame.labels``, ground truth)
            when it has them, else geometry only.
        rgb_model: model for frames without usable depth (None: such frames are skipped).
        backend: ``"auto"`` (the default), ``"torch"``, ``"onnx"`` (onnxruntime FP32) or
            ``"int8"`` (onnxruntime, static INT8 calibrated on synthetic frames). ``"auto"``
            is the fastest backend that keeps the labels: ``"int8"`` for weights read from
            a file (shipped or ``.safetensors``) when onnxruntime is installed, else
            ``"torch"`` (random-weight presets would be exported on every build). ONNX
            graphs are exported once, on first use, and cached under ``cache_dir`` keyed by
            the weights' content.
        threads: intra-op threads of torch / onnxruntime: an int >= 1, ``"auto"`` (the
            default: ``intra_op_threads`` of the cores this process may use, 1 on 2
            cores) or None (the libraries' own default). ``torch.set_num_threads`` is
            process-wide: building a Pipeline with a network sets it.
        mode: ``"offline"`` or ``"realtime"`` (see the module docstring).
        overload_policy: ``"drop"`` or ``"keyframe"`` (realtime mode only).
        queue_size: capacity of each inter-stage queue (frames).
        source_fps: realtime replay rate; None uses the frame timestamps (30 fps when they
            do not increase).
        max_gap_s: realtime replay waits at most this long for a frame whose timestamp
            follows the previous one by more (a pause in the recording); every such gap is
            reported in ``RunSummary.gaps``.
        keyframe_translation_m, keyframe_rotation_deg: motion that makes a frame a keyframe.
        min_valid_depth: share of valid depth pixels below which depth counts as failed.
        missing_pose: ``"skip"`` frames without a pose, or ``"gravity"``: place each such
            frame by a floor-plane fit of its own depth (camera above the world origin; right
            for a static camera or single frames, not for a moving one).
        gravity: ``"off"`` (poses are already z-up, floor at z = 0, as in synthetic data) or
            ``"floor"``: fit the floor plane in the first frame with depth, pose and a
            convincing floor, and re-express every pose in that gravity frame (z up, floor
            at z = 0).
        gravity_wait_frames: with ``gravity="floor"``, how many frames without a
            convincing floor are left unfused (``"rgb_only"``, "waiting for a floor to fix
            gravity") before the source's frame is kept instead: a map fitted to a plane
            that is not the floor would be tilted as a whole.
        map: semantic map parameters.
        scene_graph: scene graph parameters.
        costmap: costmap parameters.
        graph_every, costmap_every: refresh the scene graph / costmap every this many fused
            frames (0: only on demand).
        background_refresh: True: the periodic refreshes (graph, costmap, map refiner) run
            on one background thread over a copy of the map taken when they come due, and
            their results replace the pipeline's when done (see ``real3d.pipeline.refresh``
            for when, and the determinism of offline mode). False: they run inside the
            frame that makes them due; in realtime mode such a refresh then waits while
            another frame is queued for fusion, for at most three periods.
        plan_method: planner backend (``"skimage"`` or ``"astar"``).
        goal_tolerance_m: ``plan`` replaces a goal on a blocked cell by the nearest passable
            cell within this distance (see ``real3d.nav.plan_on_costmap``); 0 fails instead.
        cache_dir: where exported ONNX graphs are kept (None: ``$XDG_CACHE_HOME/real3d`` or
            ``~/.cache/real3d``).
        calibration_frames: synthetic frames used to calibrate the INT8 graph.
        seg_flip, seg_scales: test-time augmentation of the segmentation, as
            ``predict(frame, flip=..., scales=...)``: also run the mirrored frame, and/or
            run at these multiples of the model's size, averaging the class distributions.
            More accurate and several times slower (figures: docs/BENCHMARKS.md): for
            offline runs over recordings.
        seg_guided: upsample the class probabilities along the image's edges, as
            ``predict(frame, guided=True)`` (for models whose config sets
            ``guide_radius``, as the shipped cards do). Off by default: the real-time budget
            goes to the frame rate (accuracy and cost:
            docs/history/2026-12-02-segmentation-experiments.md, "Guided upsampling").
        seg_network_probs: hand the map the class probabilities at the network's size
            (``predict(frame, probs_at="network")``; the map resamples them bilinearly at
            the pixels it reads) instead of resizing all of them to the frame; labels are
            the same. Used for real3d's own networks without test-time augmentation or
            guided upsampling; other segmenters answer as usual. Off by default: the map
            quality is the same, but the time saved in ``predict`` goes to the resampling
            in ``integrate`` (docs/pipeline.md, "Probabilities at the network's size").
        map_refiner: a 3D network over the map (``real3d.models.MapRefiner``: a ``seg3d``
            preset name or weights path): its labels and object instances replace the
            fusion's in the scene graph and the map's label queries; None: fusion alone.
        refine_every: run the map refiner every this many fused frames (and before an
            on-demand scene graph when the map changed since).
        pose_max_speed_mps: ``step`` and ``run`` skip a frame whose camera moved farther
            from the last accepted pose than ``pose_max_speed_mps * dt + pose_max_jump_m``
            (dt: seconds between the two timestamps); None disables the check. Frames
            placed by ``missing_pose="gravity"`` and ``fuse`` are not checked.
        pose_max_jump_m: metres a pose may move on top of what the speed allows: SLAM loop
            closures and relocalisations within a building.
        pose_max_step_m: metres per frame the camera may move (plus ``pose_max_jump_m``)
            when the timestamps cannot say (missing, equal or decreasing).
        pose_reanchor_after: after this many consecutive frames were skipped as a jump
            while agreeing with each other, the next agreeing frame is accepted and becomes
            the new reference (a relocalisation; its ``StepResult.reason`` says so).
        min_median_depth_m, max_median_depth_m: a frame whose valid depth has a median
            outside this range (a depth scale off by 1000, e.g. millimetres read as metres)
            goes down the RGB path with the reason; the pipeline warns once.
        trajectory_step_m: ``Pipeline.trajectory`` gets a new entry when the camera moved
            at least this far from the previous one (else its last entry moves along).
        trajectory_max_points: when ``trajectory`` reaches this many entries every other
            one is dropped (and the spacing doubles); None keeps every entry.
        depth_model: metric depth network for frames without usable depth
            (``real3d.models.depth.load_depth_model``: ``"depth-rgb-default"``, a preset
            name = random weights, or a ``.safetensors`` path); such a frame is segmented
            by ``rgb_model`` and fused with the predicted depth (``StepResult.depth_source``
            ``"predicted"``). None (the default): such frames are not fused.
        predicted_depth_weight: the say of a predicted-depth frame in the map, in (0, 1]
            (a sensor frame has 1).
        predicted_truncation_scale: a predicted-depth frame fuses with the map's
            ``truncation_m`` times this (>= 1): its depth is less certain.
        depth_floor_prior: rescale predicted depth so that its floor lies at the camera's
            known height (``real3d.models.depth.floor_scale``); when the floor is not seen
            the depth is used as predicted (docs/camera_only.md: it puts the predicted
            floor where the costmap's height band expects it).
        camera_height_m: the camera's height above the floor for the floor prior; None:
            the pose's z in the gravity frame (floor at z = 0).
        health_check: run the sensor health check (``real3d.robust.health.check_health``)
            on every frame: its result is in ``StepResult.health`` and counted in
            ``RunSummary.health``, and a frame whose depth fails it goes down the RGB path
            (and to ``depth_model`` when one is set).
    """

    model: str | None = "rgbd-default"
    rgb_model: str | None = "rgb-default"
    backend: str = "auto"
    threads: int | str | None = "auto"
    mode: str = "offline"
    overload_policy: str = "drop"
    queue_size: int = 2
    source_fps: float | None = None
    max_gap_s: float = 1.0
    keyframe_translation_m: float = 0.10
    keyframe_rotation_deg: float = 10.0
    min_valid_depth: float = 0.01
    missing_pose: str = "skip"
    gravity: str = "off"
    gravity_wait_frames: int = 10
    map: SemanticMapConfig = PIPELINE_MAP_CONFIG
    scene_graph: SceneGraphConfig = field(default_factory=SceneGraphConfig)
    costmap: CostmapConfig = field(default_factory=CostmapConfig)
    graph_every: int = 30
    costmap_every: int = 30
    background_refresh: bool = True
    plan_method: str = "skimage"
    goal_tolerance_m: float = 0.0
    cache_dir: str | None = None
    calibration_frames: int = 16
    seg_flip: bool = False
    seg_scales: tuple[float, ...] = (1.0,)
    seg_guided: bool = False
    seg_network_probs: bool = False
    map_refiner: str | None = None
    refine_every: int = 30
    pose_max_speed_mps: float | None = 5.0
    pose_max_jump_m: float = 5.0
    pose_max_step_m: float = 1.0
    pose_reanchor_after: int = 10
    min_median_depth_m: float = 0.02
    max_median_depth_m: float = 20.0
    trajectory_step_m: float = 0.02
    trajectory_max_points: int | None = 10_000
    depth_model: str | None = None
    predicted_depth_weight: float = 0.3
    predicted_truncation_scale: float = 2.0
    depth_floor_prior: bool = True
    camera_height_m: float | None = None
    health_check: bool = False

    def __post_init__(self) -> None:
        from real3d.models.segmentation import check_scales

        for name in ("seg_guided", "seg_network_probs", "background_refresh", "depth_floor_prior", "health_check"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"PipelineConfig.{name}: expected True or False, got {getattr(self, name)!r}")

        try:
            object.__setattr__(self, "seg_scales", check_scales(self.seg_scales))
        except InputError as e:
            raise ConfigError(f"PipelineConfig.seg_scales: {e}") from None
        for name, value, valid in (
            ("backend", self.backend, PIPELINE_BACKENDS),
            ("mode", self.mode, MODES),
            ("overload_policy", self.overload_policy, OVERLOAD_POLICIES),
            ("missing_pose", self.missing_pose, MISSING_POSE),
            ("gravity", self.gravity, GRAVITY),
        ):
            if value not in valid:
                raise ConfigError(f"PipelineConfig.{name}: unknown {value!r}; valid: {', '.join(valid)}")
        for name, low in (
            ("refine_every", 1),
            ("gravity_wait_frames", 0),
            ("queue_size", 1),
            ("graph_every", 0),
            ("costmap_every", 0),
            ("calibration_frames", 1),
        ):
            value = getattr(self, name)
            if not (is_int(value) and value >= low):
                raise ConfigError(f"PipelineConfig.{name}: expected an int >= {low}, got {value!r}")
        if self.threads is not None and self.threads != "auto" and not (is_int(self.threads) and self.threads >= 1):
            raise ConfigError(f"PipelineConfig.threads: expected an int >= 1, 'auto' or None, got {self.threads!r}")
        for name in (
            "max_gap_s",
            "pose_max_jump_m",
            "pose_max_step_m",
            "min_median_depth_m",
            "max_median_depth_m",
            "trajectory_step_m",
            "min_valid_depth",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"PipelineConfig.{name}: expected a number, got {value!r}")
        for name in ("source_fps", "pose_max_speed_mps"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ConfigError(f"PipelineConfig.{name}: expected a number or None, got {value!r}")
        if self.map_refiner is not None and not isinstance(self.map_refiner, str):
            raise ConfigError(
                f"PipelineConfig.map_refiner: expected a 3D model name or weights path, "
                f"got {type(self.map_refiner).__name__}"
            )
        if self.queue_size < 1:
            raise ConfigError(f"PipelineConfig.queue_size: expected >= 1, got {self.queue_size}")
        if self.graph_every < 0 or self.costmap_every < 0:
            raise ConfigError("PipelineConfig: graph_every and costmap_every must be >= 0")
        if self.source_fps is not None and not self.source_fps > 0:
            raise ConfigError(f"PipelineConfig.source_fps: expected > 0 or None, got {self.source_fps}")
        if not self.max_gap_s > 0:  # also refuses NaN
            raise ConfigError(f"PipelineConfig.max_gap_s: expected > 0 seconds, got {self.max_gap_s}")
        if self.pose_max_speed_mps is not None and not self.pose_max_speed_mps > 0:
            raise ConfigError(f"PipelineConfig.pose_max_speed_mps: expected > 0 or None, got {self.pose_max_speed_mps}")
        if not (self.pose_max_jump_m >= 0 and self.pose_max_step_m > 0):
            raise ConfigError(
                f"PipelineConfig: expected pose_max_jump_m >= 0 and pose_max_step_m > 0, got "
                f"{self.pose_max_jump_m} and {self.pose_max_step_m}"
            )
        if not (is_int(self.pose_reanchor_after) and self.pose_reanchor_after >= 1):
            raise ConfigError(
                f"PipelineConfig.pose_reanchor_after: expected an int >= 1, got {self.pose_reanchor_after!r}"
            )
        if not 0 <= self.min_median_depth_m < self.max_median_depth_m:
            raise ConfigError(
                f"PipelineConfig: expected 0 <= min_median_depth_m < max_median_depth_m, got "
                f"{self.min_median_depth_m} and {self.max_median_depth_m}"
            )
        if not self.trajectory_step_m >= 0:
            raise ConfigError(f"PipelineConfig.trajectory_step_m: expected >= 0, got {self.trajectory_step_m}")
        if self.trajectory_max_points is not None and not (
            is_int(self.trajectory_max_points) and self.trajectory_max_points >= 2
        ):
            raise ConfigError(
                f"PipelineConfig.trajectory_max_points: expected an int >= 2 or None, got "
                f"{self.trajectory_max_points!r}"
            )
        if self.depth_model is not None and not (isinstance(self.depth_model, str) and self.depth_model):
            raise ConfigError(
                f"PipelineConfig.depth_model: expected None, a depth model name or a weights path, got "
                f"{self.depth_model!r}"
            )
        w = self.predicted_depth_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w <= 1:
            raise ConfigError(f"PipelineConfig.predicted_depth_weight: expected a number in (0, 1], got {w!r}")
        t = self.predicted_truncation_scale
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 1 <= t <= 10:
            raise ConfigError(f"PipelineConfig.predicted_truncation_scale: expected a number in [1, 10], got {t!r}")
        h = self.camera_height_m
        if h is not None and (isinstance(h, bool) or not isinstance(h, (int, float)) or not 0 < h < 10):
            raise ConfigError(f"PipelineConfig.camera_height_m: expected None or metres in (0, 10), got {h!r}")
        if not 0 <= self.min_valid_depth < 1:
            raise ConfigError(f"PipelineConfig.min_valid_depth: expected [0, 1), got {self.min_valid_depth}")

    def resolved_threads(self) -> int | None:
        """The intra-op thread count ``threads`` stands for: ``intra_op_threads`` of
        ``available_cores()`` for ``"auto"``, else ``threads`` itself (None: the
        libraries' default)."""
        if self.threads == "auto":
            return intra_op_threads(available_cores())
        return self.threads
