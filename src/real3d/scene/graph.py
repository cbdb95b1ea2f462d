"""3D scene graph built from a ``SemanticMap``: objects, structure, rooms and relations.

``SceneGraph`` holds the graph (nodes, edges, floor height, free space, rooms) with its
queries and its JSON form. Each ``update`` rebuilds it from the map with the algorithms
beside it (``real3d.scene.builder``): it groups the map's labelled surface voxels into
instances (``clusters``: by the map's fused instance ids where the map has them, by
connected components on a coarse grid elsewhere), fits a gravity-aligned yaw box to every
cluster and completes it (``completion``), refines object boxes (``refine``), matches the
clusters to the previous nodes of the same class, so node ids stay stable while the map
grows, and derives rooms from the free space (``rooms``: cores that survive an erosion by
``room_erosion_m``, doors closed, with the rest of the free space joining the nearest core)
and relations (``relations``).

JSON schema (``to_json``; the JSON Schema file is ``real3d/schemas/scene_graph.schema.json``)::

    {"schema": "real3d.scene_graph", "version": 2,
     "frame_id": "map", "frame": str, "map_T_input": 4x4 nested list | null,
     "alignment": str | null, "stamp_s": float | null,
     "units": {"length": "m", "angle": "rad", "time": "s"}, "yaw": str,
                (the frame header, ``frame_header``: every coordinate below is in the
                 gravity-aligned map frame, z up, metres; yaw counter-clockwise about +z
                 from +x, radians; p_map = map_T_input @ p_input)
     "label_set": str (the label set of every "label": "nyu13" or "warehouse"; files
                without it are NYUv2-13),
     "floor_z_m": float,
     "nodes": [{"id": int, "kind": "object" | "structure" | "room",
                "label": int (of "label_set"; 0 for rooms), "class_name": str,
                "confidence": float, "centroid": [x, y, z],
                "box": {"center": [x, y, z], "size": [sx, sy, sz], "yaw_rad": float} | null,
                "observed_box": same as "box" | null (objects whose box the refiner
                    changed: the box of what was seen, on which relations are judged),
                "n_observations": int, "n_voxels": int, "room_id": int | null,
                "area_m2": float (rooms only),
                "map_instance": int | null (the map's instance id the node was built from)}],
     "edges": [{"subject": int, "predicate": "on" | "next_to" | "in", "object": int}]}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from real3d.core.errors import ConfigError, FormatError, InputError, describe_array
from real3d.core.files import atomic_write_text
from real3d.mapping.grid2d import Grid2D
from real3d.mapping.semantic_map import SemanticMap
from real3d.scene.builder import SceneGraphBuilder
from real3d.scene.config import (  # noqa: F401 (re-exported: their home was this module)
    CONTAINER_CLASSES,
    FLOOR_STANDING_CLASSES,
    HANGING_CLASSES,
    SMALL_OBJECT_CLASSES,
    STRUCTURE_CLASSES,
    TYPICAL_DEPTH_M,
    SceneGraphConfig,
)
from real3d.scene.nodes import Edge, SceneNode
from real3d.scene.refine import BoxRefiner, ClusterView, check_refiner, load_default_refiner
from real3d.scene.relations import build_relations
from real3d.scene.roles import roles_for

if TYPE_CHECKING:
    import networkx as nx

SCENE_GRAPH_SCHEMA = "real3d.scene_graph"
SCENE_GRAPH_SCHEMA_VERSION = 2

#: name of the frame a run's outputs are in: the gravity-aligned frame the pipeline maps in
MAP_FRAME_ID = "map"
#: the yaw convention of every box and pose a run's outputs hold
YAW_CONVENTION = "radians about +z, counter-clockwise from +x seen from above (right-handed)"


def frame_header(map_T_input=None, alignment: str | None = None, stamp_s: float | None = None) -> dict:
    """The keys that say which frame a JSON output is in (``docs/outputs.md``).

    Args:
        map_T_input: (4, 4) rigid transform with p_map = map_T_input @ p_input, from the frame
            of the input's poses to the map frame (``Pipeline.gravity_T_world``); None when
            not known yet (nothing fused).
        alignment: how the map frame was found (``Pipeline.gravity_note``).
        stamp_s: capture time, seconds on the input's clock, of the last frame fused into
            the map; None when none was.

    Returns:
        {"frame_id", "frame", "map_T_input", "alignment", "stamp_s", "units", "yaw"}.

    Raises:
        InputError: ``map_T_input`` is not a finite (4, 4) matrix, or ``stamp_s`` is not finite.
    """
    t = None
    if map_T_input is not None:
        m = np.asarray(map_T_input, np.float64)
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise InputError(f"frame_header: expected map_T_input a finite (4, 4) matrix, got {describe_array(m)}")
        t = m.tolist()
    if stamp_s is not None and not np.isfinite(stamp_s):
        raise InputError(f"frame_header: expected a finite stamp_s in seconds or None, got {stamp_s!r}")
    return {
        "frame_id": MAP_FRAME_ID,
        "frame": f"world frame {MAP_FRAME_ID!r}: gravity-aligned, z up, metres",
        "map_T_input": t,
        "alignment": None if alignment is None else str(alignment),
        "stamp_s": None if stamp_s is None else float(stamp_s),
        "units": {"length": "m", "angle": "rad", "time": "s"},
        "yaw": YAW_CONVENTION,
    }


@dataclass
class SceneGraph:
    """Scene graph of a ``SemanticMap``; call ``update(map)`` after integrating frames.

    Attributes:
        config: parameters of the algorithms that build the graph.
        nodes: node id -> ``SceneNode`` (objects, structure and rooms).
        edges: relations between node ids.
        floor_z_m: floor height, world metres.
        free_space: top-down free/occupied grid of the last update, or None.
        room_map: (H, W) int64 room node id of each ``free_space`` cell (0 = none), or None.
        refiner: the box refiner object boxes pass through, or None (without an explicit
            one, the shipped refiner when ``config.refine_boxes``).
    """

    config: SceneGraphConfig = field(default_factory=SceneGraphConfig)
    nodes: dict[int, SceneNode] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    floor_z_m: float = 0.0
    free_space: Grid2D | None = None
    room_map: np.ndarray | None = None
    refiner: BoxRefiner | None = None
    _builder: SceneGraphBuilder = field(default_factory=SceneGraphBuilder, init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.config, SceneGraphConfig):
            raise ConfigError(f"SceneGraph.config: expected a SceneGraphConfig, got {type(self.config).__name__}")
        roles = roles_for(self.config.label_set)  # a label set without roles fails here, not at the first update
        if roles.label_set.name != "nyu13":
            if self.refiner is not None:
                raise ConfigError(
                    f"SceneGraph: the box refiner takes NYUv2-13 classes; the graph's label set is "
                    f"{roles.label_set.name!r} (build it without a refiner)"
                )
            return
        if self.refiner is None and self.config.refine_boxes:
            self.refiner = load_default_refiner()
        elif self.refiner is not None:
            check_refiner(self.refiner)

    # ------------------------------------------------------------------ building
    @property
    def map_version(self) -> int:
        """Version of the map the graph was last built from (-1: never built)."""
        return self._builder.map_version

    def update(self, semantic_map: SemanticMap, force: bool = False) -> bool:
        """Rebuild nodes and edges from the map, keeping ids. Returns False (no work) when
        the map has not changed since the last update."""
        if not isinstance(semantic_map, SemanticMap):
            raise InputError(f"SceneGraph.update: expected a SemanticMap, got {type(semantic_map).__name__}")
        if not force and semantic_map.version == self._builder.map_version:
            return False
        self._builder.update(self, semantic_map)
        return True

    def _update_relations(self) -> None:
        """Recompute the edges from the current nodes (``real3d.scene.relations``)."""
        self.edges = build_relations(self.nodes, self.floor_z_m, self.config)

    def cluster_views(self) -> tuple[list[ClusterView], list[int]]:
        """What the box refiner saw of each object node at the last update (boxes before
        refinement), and the node ids."""
        views = self._builder.views
        ids = sorted(views)
        return [views[i] for i in ids], ids

    def cluster_points(self) -> dict[int, np.ndarray]:
        """Surface points (N, 3) world metres of each object node at the last update."""
        return dict(self._builder.points)

    # ------------------------------------------------------------------ queries
    def objects(self) -> list[SceneNode]:
        return [n for n in self.nodes.values() if n.kind == "object"]

    def structures(self) -> list[SceneNode]:
        return [n for n in self.nodes.values() if n.kind == "structure"]

    def rooms(self) -> list[SceneNode]:
        return [n for n in self.nodes.values() if n.kind == "room"]

    def get_free_space(self) -> Grid2D:
        """Top-down free/occupied grid of the last update (see ``Grid2D``)."""
        if self.free_space is None:
            raise InputError("SceneGraph.get_free_space: call update(map) first")
        return self.free_space

    def get_obstacles(self, z_min_m: float | None = None, z_max_m: float | None = None) -> list[SceneNode]:
        """Object and wall nodes whose boxes reach into the height band (default the
        config's band above the floor)."""
        lo = self.floor_z_m + (self.config.z_min_m if z_min_m is None else z_min_m)
        hi = self.floor_z_m + (self.config.z_max_m if z_max_m is None else z_max_m)
        return [
            n
            for n in self.nodes.values()
            if n.kind != "room" and n.class_name not in ("floor", "ceiling") and n.box.z_max >= lo and n.box.z_min <= hi
        ]

    def relations(self, predicate: str | None = None) -> list[Edge]:
        return [e for e in self.edges if predicate is None or e.predicate == predicate]

    # ------------------------------------------------------------------ export
    def to_dict(self, header: dict | None = None) -> dict:
        """The graph's JSON form (schema in the module docstring). ``header``: the frame
        keys (``frame_header``; default: the map frame with no transform or time known)."""
        return {
            "schema": SCENE_GRAPH_SCHEMA,
            "version": SCENE_GRAPH_SCHEMA_VERSION,
            **(frame_header() if header is None else header),
            "label_set": self.config.label_set,
            "floor_z_m": float(self.floor_z_m),
            "nodes": [n.to_dict() for n in sorted(self.nodes.values(), key=lambda n: n.id)],
            "edges": [e.to_dict() for e in self.edges],
        }

    def to_json(self, path: str | os.PathLike | None = None, header: dict | None = None) -> str:
        """JSON text of the graph (schema in the module docstring; ``header`` as in
        ``to_dict``); written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(header), indent=1)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_dict(
        cls, d: dict, config: SceneGraphConfig | None = None, refiner: BoxRefiner | None = None
    ) -> SceneGraph:
        """The graph ``to_dict`` describes (nodes, edges, floor height); ``config`` and
        ``refiner`` as in the constructor (without ``config``: the default one for the
        file's label set). Free space and rooms' cells are not stored: they come back with
        the next ``update``, which keeps the nodes' ids.

        Raises:
            FormatError: ``d`` is not a scene graph of a version this code reads, or its
                label set is not ``config``'s.
        """
        if not isinstance(d, dict) or d.get("schema") != SCENE_GRAPH_SCHEMA:
            raise FormatError(
                f"SceneGraph.from_dict: expected schema {SCENE_GRAPH_SCHEMA!r}, got "
                f"{d.get('schema') if isinstance(d, dict) else type(d).__name__!r}"
            )
        if not isinstance(d.get("version"), int) or not 1 <= d["version"] <= SCENE_GRAPH_SCHEMA_VERSION:
            raise FormatError(
                f"SceneGraph.from_dict: expected version 1..{SCENE_GRAPH_SCHEMA_VERSION}, got {d.get('version')!r}"
            )
        try:
            nodes = [SceneNode.from_dict(n) for n in d["nodes"]]
            edges = [Edge.from_dict(e) for e in d["edges"]]
            floor_z_m = float(d.get("floor_z_m", 0.0))
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"SceneGraph.from_dict: malformed node or edge ({e!r})") from e
        label_set = d.get("label_set", "nyu13")
        if not isinstance(label_set, str):
            raise FormatError(f"SceneGraph.from_dict: expected label_set to be a name, got {label_set!r}")
        if config is None:
            config = SceneGraphConfig(label_set=label_set)
        elif config.label_set != label_set:
            raise FormatError(
                f"SceneGraph.from_dict: the graph's labels are of label set {label_set!r}, the config's "
                f"{config.label_set!r}"
            )
        g = cls(config, refiner=refiner)
        g.nodes = {n.id: n for n in nodes}
        g.edges = edges
        g.floor_z_m = floor_z_m
        g._builder.next_id = max(g.nodes, default=0) + 1
        return g

    @classmethod
    def from_json(
        cls, text_or_path: str | os.PathLike, config: SceneGraphConfig | None = None, refiner: BoxRefiner | None = None
    ) -> SceneGraph:
        """``from_dict`` of JSON text (as ``to_json`` returns) or of a file holding it."""
        if isinstance(text_or_path, str) and text_or_path.lstrip().startswith("{"):
            text = text_or_path
        else:
            try:
                with open(text_or_path, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as e:
                raise FormatError(f"SceneGraph.from_json: cannot read {text_or_path}: {e}") from e
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatError(f"SceneGraph.from_json: not JSON ({e})") from e
        return cls.from_dict(d, config, refiner)

    def to_networkx(self) -> nx.MultiDiGraph:
        """A ``networkx.MultiDiGraph``: node attributes from ``SceneNode.to_dict``, one edge
        per relation with attribute ``predicate`` (also the edge key)."""
        import networkx as nx

        g = nx.MultiDiGraph()
        for n in self.nodes.values():
            g.add_node(n.id, **n.to_dict())
        for e in self.edges:
            g.add_edge(e.subject, e.object, key=e.predicate, predicate=e.predicate)
        return g
