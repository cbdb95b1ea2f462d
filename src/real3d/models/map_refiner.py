"""Refining a fused ``SemanticMap`` with a 3D network (``Seg3DNet``).

``MapRefiner.refine(map)`` runs the network over the voxels of the map, groups the
surface voxels of object classes into instances from the predicted centre offsets
(``cluster_instances``), and hands the result to ``map.set_refinement``: the map's label
queries and the scene graph then read the network's labels and instances, while the fused
2D evidence stays in the map untouched (and keeps growing with new frames).

Incremental runs (``incremental=True``, the default): the refiner keeps the network's
outputs of its last run on the same map. The next run finds the voxels whose TSDF weight
or label evidence changed since, or that are new, takes the blocks of ``block_voxels``^3
voxels holding them, runs the network on those blocks plus ``margin_blocks`` blocks of
context around them, and replaces the outputs of the changed blocks only; instances are
regrouped over the whole map from the kept and new offsets. The network sees less context
at the edge of the margin than over the whole map, so an incremental result is close to,
not equal to, a whole-map run (``tests/models/test_map_refiner.py`` measures the
agreement). When most blocks changed, or the map is another one, it runs on everything.
"""

from __future__ import annotations

import os
import time
import weakref

import numpy as np

from real3d.core.errors import InputError
from real3d.core.refinement import MapRefinement
from real3d.models.seg3d import Seg3DNet, clean_islands, cluster_instances, create_seg3d, voxel_arrays


class MapRefiner:
    """A 3D network that relabels a semantic map (and groups its objects), whole or by changed blocks.

    Args:
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
        incremental, block_voxels, margin_blocks: rerun only the blocks that changed since
            the last run on the same map, with this much context (see the module docstring).
        min_island_voxels: with the network's labels, surface voxels of one class forming a
            connected island smaller than this take their neighbours' class
            (``clean_islands``; 0 = off, the default). 10 was best for map mIoU on training
            maps; on held-out homes it raised map mIoU and lowered object F1 (docs/sparse.md),
            so it is opt-in. Instances are grouped on the labels before the clean-up.

        Voxels the fusion has no class evidence for stay unlabelled, as they are without the
        refiner.
    """

    def __init__(
        self,
        model: Seg3DNet | str | os.PathLike = "seg3d-small",
        instances: bool = True,
        cluster_radius_m: float = 0.1,
        min_instance_points: int = 20,
        labels: bool = True,
        adjacency_m: float | None = 0.08,
        incremental: bool = True,
        block_voxels: int = 16,
        margin_blocks: int = 1,
        min_island_voxels: int = 0,
    ) -> None:
        self.net = model if isinstance(model, Seg3DNet) else create_seg3d(model)
        self.net.eval()
        self.instances = bool(instances) and self.net.offset_head is not None
        if not cluster_radius_m > 0 or min_instance_points < 1:
            raise InputError(
                f"MapRefiner: cluster_radius_m > 0 and min_instance_points >= 1 expected, got "
                f"{cluster_radius_m}, {min_instance_points}"
            )
        self.cluster_radius_m = float(cluster_radius_m)
        self.min_instance_points = int(min_instance_points)
        self.labels = bool(labels)
        self.adjacency_m = adjacency_m
        if block_voxels < 1 or margin_blocks < 0:
            raise InputError(
                f"MapRefiner: block_voxels >= 1 and margin_blocks >= 0 expected, got {block_voxels}, {margin_blocks}"
            )
        if isinstance(min_island_voxels, bool) or not isinstance(min_island_voxels, int) or min_island_voxels < 0:
            raise InputError(f"MapRefiner: min_island_voxels must be an integer >= 0, got {min_island_voxels!r}")
        self.min_island_voxels = min_island_voxels
        self.incremental = bool(incremental)
        self.block_voxels = int(block_voxels)
        self.margin_blocks = int(margin_blocks)
        self.last_ms = 0.0
        #: rows the network ran on in the last refine (all rows when it ran on everything)
        self.last_rows_run = 0
        self._state: dict | None = None  # the last run's outputs, per map row

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
            raise InputError(
                f"MapRefiner.refine: {self.name} was trained on {want} m voxels, the map has "
                f"{semantic_map.voxel_size_m} m"
            )
        t = time.perf_counter()
        version = semantic_map.version
        arrays = voxel_arrays(semantic_map)
        probs, offsets = self._predict(semantic_map, arrays)
        if self.labels:
            labels = (probs.argmax(axis=1) + 1).astype(np.uint8)
            conf = probs.max(axis=1).astype(np.float32)
            none = np.asarray(arrays["class_weight"]) <= 0
            labels[none], conf[none] = 0, 0.0
        else:
            labels, conf = semantic_map.fused_labels()
        sp = semantic_map.semantic_points()
        group_labels = labels  # instances are grouped on the labels before the clean-up
        if self.labels and self.min_island_voxels > 1 and len(sp.rows):
            labels = labels.copy()
            coords = np.asarray(arrays["coords"])
            cleaned = clean_islands(coords[sp.rows], labels[sp.rows], self.min_island_voxels)
            moved = sp.rows[cleaned != labels[sp.rows]]
            labels[moved] = cleaned[cleaned != labels[sp.rows]]
            conf[moved] = probs[moved, labels[moved].astype(np.int64) - 1]
        inst = None
        if self.instances:
            inst = np.zeros(len(labels), np.int32)
            if len(sp.rows):
                inst[sp.rows] = cluster_instances(
                    sp.points,
                    offsets[sp.rows],
                    group_labels[sp.rows],
                    self.cluster_radius_m,
                    self.min_instance_points,
                    adjacency_m=self.adjacency_m,
                )
        ref = MapRefinement(labels, conf, inst, version, self.name)
        semantic_map.set_refinement(ref)
        self.last_ms = (time.perf_counter() - t) * 1e3
        return ref

    def _predict(self, semantic_map, arrays: dict) -> tuple[np.ndarray, np.ndarray]:
        """(N, 13) probabilities and (N, 3) offsets (zeros without an instance head) for
        every map row, rerunning only what changed when incremental (module docstring)."""
        n = len(arrays["coords"])
        weight = np.asarray(arrays["weight"], np.float32)
        evidence = np.asarray(arrays["class_weight"], np.float32)
        st = self._state
        rows = None
        if self.incremental and st is not None and st["map"]() is semantic_map and st["n"] <= n:
            m = st["n"]
            changed = np.ones(n, bool)
            changed[:m] = (weight[:m] != st["weight"]) | (evidence[:m] != st["evidence"])
            rows = self._rows_to_run(np.asarray(arrays["coords"]), changed)
        if rows is None:  # everything
            out = self.net.predict(arrays)
            probs = out.probs
            offsets = out.offsets if out.offsets is not None else np.zeros((n, 3), np.float32)
            self.last_rows_run = n
        else:
            run, write = rows
            probs = np.zeros((n, st["probs"].shape[1]), np.float32)
            offsets = np.zeros((n, 3), np.float32)
            m = st["n"]
            probs[:m], offsets[:m] = st["probs"], st["offsets"]
            self.last_rows_run = int(run.size)
            if run.size:
                out = self.net.predict({k: np.asarray(v)[run] for k, v in arrays.items()})
                probs[run[write]] = out.probs[write]
                if out.offsets is not None:
                    offsets[run[write]] = out.offsets[write]
        self._state = {
            "map": weakref.ref(semantic_map),
            "n": n,
            "weight": weight.copy(),
            "evidence": evidence.copy(),
            "probs": probs,
            "offsets": offsets,
        }
        return probs, offsets

    def _rows_to_run(self, coords: np.ndarray, changed: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows to run the network on, mask of those whose outputs are replaced), or None
        to run on everything (more than half of the blocks changed)."""
        if not changed.any():
            return np.zeros(0, np.int64), np.zeros(0, bool)
        blocks = np.floor_divide(coords.astype(np.int64), self.block_voxels)
        ublocks, block_of_row = np.unique(blocks, axis=0, return_inverse=True)
        block_of_row = block_of_row.reshape(-1)
        hot = np.zeros(len(ublocks), bool)
        hot[block_of_row[changed]] = True
        if hot.sum() * 2 > len(ublocks):
            return None
        # context: blocks within margin_blocks (Chebyshev) of a changed block
        key = {tuple(b): i for i, b in enumerate(ublocks.tolist())}
        ctx = hot.copy()
        r = self.margin_blocks
        span = range(-r, r + 1)
        for b in ublocks[hot].tolist():
            for dx in span:
                for dy in span:
                    for dz in span:
                        j = key.get((b[0] + dx, b[1] + dy, b[2] + dz))
                        if j is not None:
                            ctx[j] = True
        run = np.flatnonzero(ctx[block_of_row])
        return run, hot[block_of_row[run]]
