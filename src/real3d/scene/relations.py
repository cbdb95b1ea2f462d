"""Relations between the scene graph's nodes: support ("on"), proximity ("next_to") and
room membership ("in").

Relations are judged on the boxes of what was seen (``SceneNode.observed_box`` where the
refiner changed a box). An object is on the object whose top its bottom rests on (unless
both stand in one container: books on books on one shelf board are on the bookcase), else
in the container furniture whose box holds it, else standing inside a larger object's box;
an object off the floor with nothing right below it is on the highest top within
``support_gap_m`` under it (its bottom went unseen); objects near the floor are on the floor
node. Objects with the same support whose footprints lie within ``next_to_m`` are next to
each other (both directions).
"""

from __future__ import annotations

import numpy as np

from real3d.scene.boxes import Box3D, convex_intersection, polygon_area
from real3d.scene.config import SceneGraphConfig
from real3d.scene.nodes import Edge, SceneNode
from real3d.scene.roles import roles_for


def build_relations(nodes: dict[int, SceneNode], floor_z_m: float, cfg: SceneGraphConfig) -> list[Edge]:
    """The edges between ``nodes`` (id -> node, rooms included; see the module docstring)."""
    roles = roles_for(cfg.label_set)
    objs = [n for n in nodes.values() if n.kind == "object"]
    floor_nodes = [n for n in nodes.values() if n.class_name == "floor"]
    edges: list[Edge] = []
    support: dict[int, int | None] = {}
    # Relations are judged on the boxes of what was seen: the refiner's whole-object boxes
    # reach into space nobody observed, where a neighbour's box may also reach.
    B = {n.id: n.box if n.observed_box is None else n.observed_box for n in objs}
    footprints = {n.id: B[n.id].footprint() for n in objs}
    areas = {n.id: polygon_area(f) for n, f in zip(objs, footprints.values())}

    def overlap(a, b) -> float:
        return polygon_area(convex_intersection(footprints[a.id], footprints[b.id]))

    def container(a):
        # A larger piece of furniture whose box holds a (a shelf board's books, also
        # the bottom board's, whose bottoms are level with the bookcase's).
        best = None
        for b in objs:
            if (
                b.id != a.id
                and b.class_name in roles.container
                and areas[b.id] > areas[a.id]
                and B[b.id].z_min - cfg.support_tol_m <= B[a.id].z_min < B[b.id].z_max
                and B[a.id].z_max <= B[b.id].z_max + cfg.support_tol_m
                and overlap(a, b) >= 0.7 * areas[a.id]
                and (best is None or areas[b.id] < areas[best.id])
            ):
                best = b
        return best

    holder = {a.id: container(a) for a in objs}
    for a in objs:
        area_a = areas[a.id]
        box_b = holder[a.id]
        # Resting on top of b (bottom near b's top) is preferred, unless b stands in the
        # same container as a (books on books on one shelf board are on the bookcase);
        # then the container; then standing inside a larger b (a table's box); then,
        # for objects off the floor whose bottom was not seen (a robot's camera below
        # a dresser's top misses what lies right on it), the highest top below them
        # within ``support_gap_m``.
        best, best_key = None, None
        for b in objs:
            if b.id == a.id:
                continue
            on_top = abs(B[a.id].z_min - B[b.id].z_max) <= cfg.support_tol_m and B[b.id].z_max < B[a.id].z_max
            if on_top and box_b is not None and b.id != box_b.id and holder[b.id] is box_b:
                continue
            inside = B[b.id].z_min + cfg.support_tol_m < B[a.id].z_min < B[b.id].z_max and areas[b.id] > area_a
            if not (on_top or inside):
                continue
            if overlap(a, b) <= 0.3 * area_a:
                continue
            key = (on_top, B[b.id].z_max if on_top else -abs(B[a.id].z_min - B[b.id].z_min))
            if best_key is None or key > best_key:
                best, best_key = b.id, key
        if (best is None or not best_key[0]) and box_b is not None:
            best = box_b.id
        off_floor = B[a.id].z_min - floor_z_m >= cfg.support_tol_m
        if best is None and off_floor and a.class_name not in roles.hanging:
            below = [
                b
                for b in objs
                if b.id != a.id
                and 0 < B[a.id].z_min - B[b.id].z_max <= cfg.support_gap_m
                and overlap(a, b) > 0.3 * area_a
            ]
            if below:
                best = max(below, key=lambda b: B[b.id].z_max).id
        if best is None and floor_nodes and not off_floor:
            best = floor_nodes[0].id
        support[a.id] = best
        if best is not None:
            edges.append(Edge(a.id, "on", best))
    for i, a in enumerate(objs):
        for b in objs[i + 1 :]:
            if support.get(a.id) != support.get(b.id):
                continue
            # Cheap reject first: footprint circumcircles farther apart than next_to_m.
            reach = 0.5 * (np.hypot(*B[a.id].size[:2]) + np.hypot(*B[b.id].size[:2])) + cfg.next_to_m
            if np.hypot(*(B[a.id].center[:2] - B[b.id].center[:2])) > reach:
                continue
            if footprint_gap(B[a.id], B[b.id]) < cfg.next_to_m:
                edges += [Edge(a.id, "next_to", b.id), Edge(b.id, "next_to", a.id)]
    for n in nodes.values():
        if n.kind != "room" and n.room_id is not None:
            edges.append(Edge(n.id, "in", n.room_id))
    return edges


def footprint_gap(a: Box3D, b: Box3D) -> float:
    """Distance between two box footprints in metres (0 when they overlap)."""
    pa, pb = a.footprint(), b.footprint()
    if polygon_area(convex_intersection(pa, pb)) > 0:
        return 0.0
    best = np.inf
    for P, Q in ((pa, pb), (pb, pa)):
        s0, d = Q, np.roll(Q, -1, axis=0) - Q  # 4 edges
        rel = P[:, None, :] - s0[None, :, :]  # (4 points, 4 edges, 2)
        t = np.clip((rel * d[None]).sum(-1) / np.maximum((d * d).sum(-1), 1e-12)[None], 0, 1)
        best = min(best, float(np.sqrt(((rel - t[..., None] * d[None]) ** 2).sum(-1)).min()))
    return best
