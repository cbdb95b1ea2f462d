"""Labels and instances that a 3D network gives a map's voxels, kept beside the fusion:
the contract between a 3D model (``real3d.models.MapRefiner``) and ``real3d.mapping``.

A ``MapRefinement`` covers the first ``len(labels)`` rows of a ``SemanticMap`` (rows are
only ever appended, so a row keeps its voxel). The map's own fused evidence is left as it
is: ``SemanticMap.set_refinement`` stores the network's answer next to it, the map's label
queries (``semantic_points``, ``query_labels``) and ``instances_of_rows`` read the refined
values where they exist and the fusion's elsewhere (rows added since), and the next
refinement replaces the last. A refinement is derived data and is not saved with the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError, describe_array


@dataclass(frozen=True)
class MapRefinement:
    """A 3D network's labels (and instances) for the rows of a semantic map.

    Attributes:
        labels: (R,) uint8 class ids 1..K of map rows 0..R-1 (0: no label, as a voxel
            the fusion has no class evidence for).
        confidence: (R,) float32 probability of that class, in [0, 1].
        instances: (R,) int32 object instance ids (0 = none), or None (the map's fused
            instances stay in use).
        map_version: ``SemanticMap.version`` of the map the network read.
        source: name of what produced it (e.g. the 3D model's name).
    """

    labels: np.ndarray
    confidence: np.ndarray
    instances: np.ndarray | None
    map_version: int
    source: str = ""

    def __post_init__(self) -> None:
        n = self.labels.shape[0] if isinstance(self.labels, np.ndarray) else -1
        if not isinstance(self.labels, np.ndarray) or self.labels.dtype != np.uint8 or self.labels.ndim != 1:
            raise InputError(f"MapRefinement.labels: expected (R,) uint8, got {describe_array(self.labels)}")
        c = self.confidence
        if not isinstance(c, np.ndarray) or c.dtype != np.float32 or c.shape != (n,) or not np.isfinite(c).all():
            raise InputError(f"MapRefinement.confidence: expected ({n},) finite float32, got {describe_array(c)}")
        i = self.instances
        if i is not None and (not isinstance(i, np.ndarray) or i.dtype != np.int32 or i.shape != (n,)):
            raise InputError(f"MapRefinement.instances: expected ({n},) int32 or None, got {describe_array(i)}")
        if isinstance(self.map_version, (bool, np.bool_)) or not isinstance(self.map_version, (int, np.integer)):
            raise InputError(f"MapRefinement.map_version: expected an integer, got {self.map_version!r}")
        if not isinstance(self.source, str):
            raise InputError(f"MapRefinement.source: expected a string, got {type(self.source).__name__}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])
