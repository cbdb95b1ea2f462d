"""The streaming pipeline: segmentation -> semantic map -> scene graph -> navigation.

``Pipeline`` (``runner``) composes the stages; its settings are ``PipelineConfig``
(``config``), its reports ``StepResult`` / ``RunSummary`` (``results``); ``segment`` gets and
runs the segmenters and checks frames; ``source`` reads frames for ``run``; ``refresh``
runs the periodic scene graph / costmap refreshes on a background thread; ``bench``
measures a whole run; ``RobotNavigator`` (``navigator``) is the seed's robot-facing API
over a ``Pipeline``. See ``real3d.pipeline.runner`` for the per-frame contract.
"""

from real3d.models.contract import Segmenter
from real3d.models.factory import BACKENDS
from real3d.pipeline.bench import benchmark, peak_rss_mb, peak_rss_reset
from real3d.pipeline.config import (
    GRAVITY,
    MISSING_POSE,
    MODES,
    OVERLOAD_POLICIES,
    PIPELINE_BACKENDS,
    STAGES,
    STATUSES,
    PipelineConfig,
    available_cores,
    intra_op_threads,
)
from real3d.pipeline.navigator import RobotNavigator
from real3d.pipeline.results import RunSummary, StepResult
from real3d.pipeline.runner import Pipeline
from real3d.pipeline.refresh import snapshot_map
from real3d.pipeline.segment import (
    auto_backend,
    calibration_feeds_from_frames,
    check_frame,
    load_segmenter,
    segment_frame,
)


def __getattr__(name: str):
    # ``real3d.pipeline.SyntheticStream`` stays importable, but the data engine is loaded
    # only when asked for: the pipeline itself never needs it.
    if name == "SyntheticStream":
        from real3d.synth.sequence import SyntheticStream

        return SyntheticStream
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BACKENDS",
    "GRAVITY",
    "MISSING_POSE",
    "MODES",
    "OVERLOAD_POLICIES",
    "PIPELINE_BACKENDS",
    "STAGES",
    "STATUSES",
    "Pipeline",
    "PipelineConfig",
    "RobotNavigator",
    "RunSummary",
    "Segmenter",
    "StepResult",
    "SyntheticStream",
    "auto_backend",
    "available_cores",
    "benchmark",
    "calibration_feeds_from_frames",
    "check_frame",
    "intra_op_threads",
    "load_segmenter",
    "peak_rss_mb",
    "peak_rss_reset",
    "segment_frame",
    "snapshot_map",
]
