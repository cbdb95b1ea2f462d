"""Settings of a ``SemanticMap``."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields

import numpy as np

from real3d.core.errors import ConfigError


@dataclass(frozen=True)
class SemanticMapConfig:
    """Parameters of ``SemanticMap`` (metres unless named otherwise).

    Attributes:
        voxel_size_m: fine voxel edge.
        truncation_m: TSDF truncation distance (>= voxel_size_m).
        num_classes: channels of the class evidence, void included (14 for NYUv2-13).
        pixel_stride: TSDF and labels use every ``pixel_stride``-th pixel in u and v.
        free_stride: free-space carving uses every ``free_stride``-th pixel.
        free_voxel_size_m: edge of the coarse free-space cells.
        min_depth_m, max_depth_m: depth readings outside are ignored.
        max_weight: TSDF/colour weights saturate here (older data fades slowly).
        min_prob: probabilities are clipped from below before taking logs.
        min_log_evidence: per-class log evidence is floored here (relative to the best class).
        label_smoothing: when probabilities come from hard labels, mix the one-hot vector
            with this much uniform mass (0 = pure one-hot).
        label_band_voxels: voxels within this many voxel sizes of the measured surface take
            the class probabilities of the pixel they project to and colour.
        edge_step_px, edge_jump: pixels on depth edges (second difference of inverse depth
            over ``edge_step_px`` pixels above ``edge_jump`` of the pixel's own; see
            ``real3d.mapping.depth_tests.on_depth_edge``), where sensors return flying pixels between foreground and
            background, update geometry and colour but give no class or instance.
        geometry_edge_jump: a pixel whose depth differs from a 4-neighbour's by more than
            this fraction of its own sits on a depth discontinuity (either side of it, or a
            flying pixel between the two) and gives the TSDF no update; interpolated flying
            pixels seen from a slowly moving camera otherwise add up to a phantom surface
            along the viewing rays. Endpoint hits still use every pixel; 0 disables.
        instance_min_overlap: a frame segment joins a map instance when at least this
            fraction of its voxels already carry that instance (a fraction of all its
            voxels, so that the few voxels a new object's segment shares with a touching
            neighbour do not merge the two).
        instance_min_voxels: ... and at least this many voxels do.
        max_instance_votes: per-voxel instance votes saturate here.
    """

    voxel_size_m: float = 0.05
    truncation_m: float = 0.15
    num_classes: int = 14
    pixel_stride: int = 4
    free_stride: int = 12
    free_voxel_size_m: float = 0.1
    min_depth_m: float = 0.1
    max_depth_m: float = 6.0
    max_weight: float = 64.0
    min_prob: float = 1e-3
    min_log_evidence: float = -30.0
    label_smoothing: float = 0.1
    label_band_voxels: float = 1.0
    edge_step_px: int = 2
    edge_jump: float = 0.05
    geometry_edge_jump: float = 0.05
    instance_min_overlap: float = 0.2
    instance_min_voxels: int = 3
    max_instance_votes: float = 16.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            integral = f.type in ("int", int)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral if integral else numbers.Real):
                raise ConfigError(
                    f"SemanticMapConfig.{f.name}: expected {'an integer' if integral else 'a real number'}, "
                    f"got {type(v).__name__} {v!r}"
                )
            if not np.isfinite(float(v)):
                raise ConfigError(f"SemanticMapConfig.{f.name}: expected a finite value, got {v}")
        if not self.voxel_size_m > 0:
            raise ConfigError(f"SemanticMapConfig: voxel_size_m must be > 0, got {self.voxel_size_m}")
        if not self.truncation_m >= self.voxel_size_m:
            raise ConfigError(
                f"SemanticMapConfig: truncation_m ({self.truncation_m}) must be >= voxel_size_m ({self.voxel_size_m})"
            )
        if self.num_classes < 2:
            raise ConfigError(f"SemanticMapConfig: num_classes must be >= 2, got {self.num_classes}")
        if self.pixel_stride < 1 or self.free_stride < 1:
            raise ConfigError(
                f"SemanticMapConfig: strides must be >= 1, got pixel_stride={self.pixel_stride}, "
                f"free_stride={self.free_stride}"
            )
        if not self.free_voxel_size_m >= self.voxel_size_m:
            raise ConfigError("SemanticMapConfig: free_voxel_size_m must be >= voxel_size_m")
        if not 0 < self.min_depth_m < self.max_depth_m:
            raise ConfigError("SemanticMapConfig: need 0 < min_depth_m < max_depth_m")
        if not self.geometry_edge_jump >= 0:
            raise ConfigError(f"SemanticMapConfig: geometry_edge_jump must be >= 0, got {self.geometry_edge_jump}")
        if not 0 < self.min_prob < 1 or not 0 <= self.label_smoothing < 1:
            raise ConfigError("SemanticMapConfig: need 0 < min_prob < 1 and 0 <= label_smoothing < 1")
        positive = {
            "max_weight": self.max_weight,
            "max_instance_votes": self.max_instance_votes,
            "edge_step_px": self.edge_step_px,
            "edge_jump": self.edge_jump,
        }
        for name, v in positive.items():
            if not v > 0:
                raise ConfigError(f"SemanticMapConfig: {name} must be > 0, got {v}")
        if not self.min_log_evidence < 0 or not self.label_band_voxels >= 0 or not self.instance_min_voxels >= 0:
            raise ConfigError(
                "SemanticMapConfig: need min_log_evidence < 0, label_band_voxels >= 0 and "
                f"instance_min_voxels >= 0, got {self.min_log_evidence}, {self.label_band_voxels}, "
                f"{self.instance_min_voxels}"
            )
        if not 0 <= self.instance_min_overlap <= 1:
            raise ConfigError(
                f"SemanticMapConfig: instance_min_overlap must lie in [0, 1], got {self.instance_min_overlap}"
            )


# The map the pipeline builds by default (``PipelineConfig.map``) and the 3D training data
# is fused into: 5 cm voxels, 15 cm truncation, every 4th pixel.
PIPELINE_MAP_CONFIG = SemanticMapConfig(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=4)
