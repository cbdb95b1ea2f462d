"""Refining a fused ``SemanticMap`` with a 3D network (``Seg3DNet``).

``MapRefiner.refine(map)`` runs the network over every voxel of the map, groups the
surface voxels of object classes into instances from the predicted centre offsets
(``cluster_instances``), and hands the result to ``map.set_refinement``: the map's label
queries and the scene graph then read the network's labels and instances, while the fused
2D evidence stays in the map untouched (and keeps growing with new frames).
"""

from __future__ import annotations

import os
import time

import numpy as np

from real3d.core.errors import InputError
from real3d.core.refinement import MapRefinement
from real3d.models.seg3d import Seg3DNet, cluster_instances, create_seg3d, voxel_arrays


class MapRefiner:
    """Args:
        model: a ``Seg3DNet``, a preset name or a weights path (``create_seg3d``).
        instances: group object voxels into instances (needs the network's instance head);
            False keeps the map's fused instances.
        cluster_radius_m: neighbouring points whose shifted points (point + predicted centre
            offset) are closer than this join one instance, metres.
        adjacency_m: points closer than this are neighbours (None: group the shifted
            points alone, PointGroup-style); see ``cluster_instances``. The defaults were
            chosen on training maps, not on the held-out homes.
        min_instance_points: smaller groups get no instance.
        labels: use the network's labels; False keeps the fusion's (and groups instances
            on them), which isolates what the instances alone change.

    Voxels the fusion has no class evidence for stay unlabelled, as they are without the
    refiner.
    """

    def __init__(self, model: Seg3DNet | str | os.PathLike = "seg3d-small", instances: bool = True,
                 cluster_radius_m: float = 0.1, min_instance_points: int = 20, labels: bool = True,
                 adjacency_m: float | None = 0.08) -> None:
        self.net = model if isinstance(model, Seg3DNet) else create_seg3d(model)
        self.net.eval()
        self.instances = bool(instances) and self.net.offset_head is not None
        if not cluster_radius_m > 0 or min_instance_points < 1:
            raise InputError(f"MapRefiner: cluster_radius_m > 0 and min_instance_points >= 1 expected, got "
                             f"{cluster_radius_m}, {min_instance_points}")
        self.cluster_radius_m = float(cluster_radius_m)
        self.min_instance_points = int(min_instance_points)
        self.labels = bool(labels)
        self.adjacency_m = adjacency_m
        self.last_ms = 0.0

    @property
    def name(self) -> str:
        return self.net.name

    def refine(self, semantic_map) -> MapRefinement:
        """Run the network on ``semantic_map`` and set the map's refinement (returned).

        Raises:
            InputError: not a ``real3d.mapping.SemanticMap``, an empty map, or a map whose voxel size differs
                from the one the network was trained for by more than 1 %.
        """
        if not all(hasattr(semantic_map, a) for a in ("voxel_arrays", "semantic_points", "set_refinement")):
            raise InputError(f"MapRefiner.refine: expected a SemanticMap, got {type(semantic_map).__name__}")
        if not len(semantic_map):
            raise InputError("MapRefiner.refine: the map is empty")
        want = self.net.config.voxel_size_m
        if abs(semantic_map.voxel_size_m - want) > 0.01 * want:
            raise InputError(f"MapRefiner.refine: {self.name} was trained on {want} m voxels, the map has "
                             f"{semantic_map.voxel_size_m} m")
        t = time.perf_counter()
        version = semantic_map.version
        arrays = voxel_arrays(semantic_map)
        out = self.net.predict(arrays)
        if self.labels:
            labels, conf = out.labels, out.probs.max(axis=1).astype(np.float32)
            none = np.asarray(arrays["class_weight"]) <= 0
            labels[none], conf[none] = 0, 0.0
        else:
            labels, conf = semantic_map.fused_labels()
        inst = None
        if self.instances:
            sp = semantic_map.semantic_points()
            inst = np.zeros(len(labels), np.int32)
            if len(sp.rows):
                inst[sp.rows] = cluster_instances(sp.points, out.offsets[sp.rows], labels[sp.rows],
                                                  self.cluster_radius_m, self.min_instance_points,
                                                  adjacency_m=self.adjacency_m)
        ref = MapRefinement(labels, conf, inst, version, self.name)
        semantic_map.set_refinement(ref)
        self.last_ms = (time.perf_counter() - t) * 1e3
        return ref
