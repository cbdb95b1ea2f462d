"""Pipeline settings (``PipelineConfig``) and the names of its modes, policies and stages."""

from __future__ import annotations

from dataclasses import dataclass, field

from real3d.core.errors import ConfigError, InputError
from real3d.mapping.config import PIPELINE_MAP_CONFIG, SemanticMapConfig
from real3d.models.factory import BACKENDS
from real3d.nav.costmap import CostmapConfig
from real3d.scene.graph import SceneGraphConfig

MODES = ("offline", "realtime")
OVERLOAD_POLICIES = ("drop", "keyframe")
MISSING_POSE = ("skip", "gravity")
GRAVITY = ("off", "floor")
STAGES = ("check", "segment", "fuse", "refine", "graph", "costmap")
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
        max_gap_s: realtime replay waits at most this long for a frame whose timestamp
            follows the previous one by more (a pause in the recording); every such gap is
            reported in ``RunSummary.gaps``.
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
            More accurate and several times slower (figures: docs/BENCHMARKS.md): for
            offline runs over recordings.
        seg_guided: upsample the class probabilities along the image's edges, as
            ``predict(frame, guided=True)`` (for models whose config sets
            ``guide_radius``, as the shipped cards do). Off by default: the real-time budget
            goes to the frame rate (accuracy and cost: docs/BENCHMARKS.md, "Guided
            upsampling").
        map_refiner: a 3D network over the map (``real3d.models.MapRefiner``: a ``seg3d``
            preset name or weights path): its labels and object instances replace the
            fusion's in the scene graph and the map's label queries; None: fusion alone.
        refine_every: run the map refiner every this many fused frames (and before an
            on-demand scene graph when the map changed since).
    """

    model: str | None = "rgbd-default"
    rgb_model: str | None = "rgb-default"
    backend: str = "torch"
    threads: int | None = 1
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
    map: SemanticMapConfig = PIPELINE_MAP_CONFIG
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
    map_refiner: str | None = None
    refine_every: int = 30

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
        if self.refine_every < 1:
            raise ConfigError(f"PipelineConfig.refine_every: expected >= 1, got {self.refine_every}")
        if self.map_refiner is not None and not isinstance(self.map_refiner, str):
            raise ConfigError(f"PipelineConfig.map_refiner: expected a 3D model name or weights path, "
                              f"got {type(self.map_refiner).__name__}")
        if self.queue_size < 1:
            raise ConfigError(f"PipelineConfig.queue_size: expected >= 1, got {self.queue_size}")
        if self.graph_every < 0 or self.costmap_every < 0:
            raise ConfigError("PipelineConfig: graph_every and costmap_every must be >= 0")
        if self.source_fps is not None and not self.source_fps > 0:
            raise ConfigError(
                f"PipelineConfig.source_fps: expected > 0 or None, got {self.source_fps}"
            )
        if not self.max_gap_s > 0:  # also refuses NaN
            raise ConfigError(f"PipelineConfig.max_gap_s: expected > 0 seconds, got {self.max_gap_s}")
        if not 0 <= self.min_valid_depth < 1:
            raise ConfigError(
                f"PipelineConfig.min_valid_depth: expected [0, 1), got {self.min_valid_depth}"
            )
