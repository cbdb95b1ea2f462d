"""The pipeline's periodic refreshes (map refiner, scene graph, costmap) off the frame path.

With ``PipelineConfig.background_refresh`` (the default), a fused frame that makes a
refresh due hands it to one background thread instead of running it:

1. The frame takes a snapshot of the map (``snapshot_map``: a copy of its arrays, a few
   milliseconds; the frame's ``"refresh"`` latency) and the camera position, and submits
   a ``RefreshJob``. Fusion goes on at once.
2. The worker runs the job on the snapshot (``run_refresh``), in this order: the map
   refiner, the scene graph (updating the pipeline's working graph, so node ids stay
   stable from one refresh to the next), the costmap (over the graph just built).
3. The results replace the pipeline's graph / costmap (and the refinement joins the live
   map) when they are *published*:

   * offline mode: exactly when ``publish_at`` frames have been fused (half the shortest
     refresh period after the snapshot), waiting for the worker if it is not done then. The
     points are fixed by the frame count alone, so every ``StepResult`` and the final
     graph, costmap and map are the same on every run, and the same as with
     ``background_refresh=False`` (labels, map, node ids; only ``n_objects`` reports the
     graph later).
   * realtime mode and ``step`` in realtime mode: as soon as the worker is done (checked
     at every frame, never waiting).

   In both modes one job at most is in flight: when the next refresh comes due and the
   previous one has not been published, the frame waits for it (counted in
   ``RunSummary.refresh_waits``). So results are never more than one period late: the
   graph in use was built from the map of at most one refresh period before the last due
   refresh, and only a refresh slower than a whole period ever holds a frame up.

``Pipeline.scene_graph`` / ``costmap`` / ``refresh_costmap`` / ``plan`` first publish the
job in flight, then bring the result up to date with the live map when it changed
(fresh results on demand). An error inside the worker is reported in ``Pipeline.notes``
("refresh") and warned once; the previous results stay in use, and ``step`` goes on.
``Pipeline.close`` publishes the job in flight and ends the thread; ``reset`` drops it.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from real3d.mapping.semantic_map import SemanticMap
from real3d.nav.costmap import Costmap, IncrementalCostmap
from real3d.scene.graph import SceneGraph

#: what one refresh job may do, in the order it does it
REFRESH_KINDS = ("refine", "graph", "costmap")


@dataclass
class RefreshJob:
    """One background refresh.

    Attributes:
        frame: ``Pipeline.frames_fused`` when it came due (the map's age of the results).
        map: the snapshot of the map it works on (``snapshot_map``).
        map_version: ``SemanticMap.version`` of the live map when the snapshot was taken.
        kinds: what to do, a subset of ``REFRESH_KINDS`` in that order.
        center_xy: (2,) float64 world metres the costmap is centred on (the latest camera
            position) when the map is larger than its limits; None: the map's own choice.
        publish_at: offline mode: the ``frames_fused`` at which its results are put in
            place (None: as soon as they are done).
        snapshot_ms: milliseconds the frame spent copying the map.
    """

    frame: int
    map: SemanticMap
    map_version: int
    kinds: tuple[str, ...]
    center_xy: np.ndarray | None
    publish_at: int | None
    snapshot_ms: float = 0.0


@dataclass
class RefreshResult:
    """What a ``RefreshJob`` produced (None for what it was not asked to do).

    Attributes:
        graph: a copy of the working graph after the update (``publish_graph``), safe to
            hand out while the working graph changes at the next refresh.
        costmap: the new costmap.
        refinement: the map refiner's ``MapRefinement`` of the snapshot's rows.
        latency_ms: milliseconds per kind that ran on the worker.
    """

    graph: SceneGraph | None = None
    costmap: Costmap | None = None
    refinement: object | None = None
    latency_ms: dict = field(default_factory=dict)


def snapshot_map(semantic_map: SemanticMap) -> SemanticMap:
    """A copy of ``semantic_map`` that later fusion into the original does not change.

    Every array the map holds is copied (the per-voxel arrays up to the voxels in use
    only, not their spare capacity), lists and sets are copied shallowly (they hold
    values nobody changes in place), frozen dataclasses (the config, the refinement) are
    shared, and anything else with arrays inside (the voxel hashes) is copied the same
    way one level down. Costs a copy of the used storage: a few
    milliseconds for a room-sized map.
    """
    snap = copy.copy(semantic_map)
    n = len(semantic_map)
    cap = getattr(semantic_map, "_cap", None)
    for name, value in vars(semantic_map).items():
        if isinstance(value, np.ndarray):
            rows = value[:n] if cap is not None and value.ndim and value.shape[0] == cap and cap > n else value
            setattr(snap, name, rows.copy())
        elif isinstance(value, (list, set, dict)):
            setattr(snap, name, copy.copy(value))
        elif _frozen(value):
            continue  # never changed in place: shared
        elif hasattr(value, "__dict__") and any(isinstance(v, np.ndarray) for v in vars(value).values()):
            inner = copy.copy(value)
            for k, v in vars(value).items():
                if isinstance(v, np.ndarray):
                    setattr(inner, k, v.copy())
                elif isinstance(v, (list, set, dict)):
                    setattr(inner, k, copy.copy(v))
            setattr(snap, name, inner)
    if cap is not None and cap > n:
        snap._cap = n  # the trimmed arrays are full; growing them (nobody does) starts over
    return snap


def _frozen(value) -> bool:
    return dataclasses.is_dataclass(value) and value.__dataclass_params__.frozen


def publish_graph(graph: SceneGraph) -> SceneGraph:
    """A deep copy of ``graph`` sharing its box refiner (a network, never changed)."""
    memo = {} if graph.refiner is None else {id(graph.refiner): graph.refiner}
    return copy.deepcopy(graph, memo)


def build_graph_costmap(
    builder: IncrementalCostmap, semantic_map, graph: SceneGraph, center_xy, floor_z_m: float | None = None
) -> Costmap:
    """The costmap of ``semantic_map`` over ``graph``'s objects, its height band from
    ``floor_z_m`` (None: the graph's floor estimate once it has been built, else 0), cropped
    around ``center_xy`` where the extent is capped; ``builder`` updates incrementally."""
    built = graph.map_version >= 0
    if floor_z_m is None:
        floor_z_m = graph.floor_z_m if built else 0.0
    return builder.update(
        semantic_map, floor_z_m=floor_z_m, objects=graph.objects() if built else None, center_xy=center_xy
    )


def run_refresh(
    job: RefreshJob,
    graph: SceneGraph,
    map_refiner,
    costmap_builder: IncrementalCostmap,
) -> RefreshResult:
    """Do ``job`` on its snapshot (the worker's side): refine the snapshot with
    ``map_refiner``, update ``graph`` (the pipeline's working graph) from it and build the
    costmap over the graph's floor and objects with ``costmap_builder`` (the pipeline's
    incremental costmap: only the cells near what changed since its last update are
    recomputed; the result equals a full rebuild), as ``job.kinds`` asks."""
    out = RefreshResult()
    m = job.map
    if "refine" in job.kinds and map_refiner is not None and len(m):
        t0 = time.perf_counter()
        map_refiner.refine(m)
        out.refinement = m.refinement
        out.latency_ms["refine"] = (time.perf_counter() - t0) * 1e3
    if "graph" in job.kinds:
        t0 = time.perf_counter()
        graph.update(m)
        out.graph = publish_graph(graph)
        out.latency_ms["graph"] = (time.perf_counter() - t0) * 1e3
    if "costmap" in job.kinds:
        t0 = time.perf_counter()
        out.costmap = build_graph_costmap(costmap_builder, m, graph, job.center_xy)
        out.latency_ms["costmap"] = (time.perf_counter() - t0) * 1e3
    return out
