"""Rules that complete an object's box beyond the surface the camera saw.

An object's box first covers its seen voxels. Boxes of objects near the floor, and of
floor-standing classes unless the space under them was seen free, reach down to the floor
(their bottoms are never seen); boxes of objects seen from one side are deepened behind the
seen face up to the next surface of another class, observed free space, or the class's
typical depth (``SceneGraphConfig.complete_depth``).
"""

from __future__ import annotations

import numpy as np

from real3d.core.counts import ratio_count
from real3d.mapping.semantic_map import FREE, SemanticMap
from real3d.scene.boxes import Box3D
from real3d.scene.config import (
    SceneGraphConfig,
)
from real3d.scene.roles import roles_for


def complete_object_box(
    box: Box3D,
    label: int,
    normal: np.ndarray | None,
    floor_z_m: float,
    semantic_map: SemanticMap,
    cfg: SceneGraphConfig,
) -> Box3D:
    """The box of an object cluster of class ``label`` (id in ``cfg.label_set``) after the floor and
    depth rules (see the module docstring); ``normal`` is the cluster's mean surface
    normal (3,) or None."""
    roles = roles_for(cfg.label_set)
    standing = roles.name(label) in roles.floor_standing
    snap_m = cfg.floor_snap_m if roles.max_floor_snap_m is None else min(cfg.floor_snap_m, roles.max_floor_snap_m)
    if box.z_min - floor_z_m < snap_m or (standing and not free_below(box, floor_z_m, semantic_map)):
        z1 = box.z_max
        box = Box3D(
            np.array([box.center[0], box.center[1], (floor_z_m + z1) / 2]),
            np.array([box.size[0], box.size[1], z1 - floor_z_m]),
            box.yaw_rad,
        )
    if cfg.complete_depth and normal is not None:
        box = complete_depth(box, normal, label, semantic_map, cfg)
    return box


def free_below(box: Box3D, floor_z_m: float, semantic_map: SemanticMap) -> bool:
    """Whether the space under a box that floats above the floor was seen free (an
    upper kitchen cabinet, a wall shelf): probes on a 3 x 3 grid over the footprint in
    the 35 cm under the box's bottom; more than half of them free."""
    z0, z1 = max(floor_z_m + 0.1, box.z_min - 0.45), box.z_min - 0.1
    if z1 <= z0:
        return False
    c, s = np.cos(box.yaw_rad), np.sin(box.yaw_rad)
    u = np.array([-0.35, 0.0, 0.35])
    ux, uy = np.meshgrid(u * box.size[0], u * box.size[1], indexing="ij")
    xy = box.center[:2] + np.stack([c * ux - s * uy, s * ux + c * uy], axis=-1).reshape(-1, 2)
    zs = np.linspace(z0, z1, max(2, ratio_count(z1 - z0, 0.2) + 1))
    probes = np.concatenate([np.repeat(xy, len(zs), axis=0), np.tile(zs, len(xy))[:, None]], axis=1)
    return bool((semantic_map.query_occupancy(probes) == FREE).mean() > 0.5)


def complete_depth(
    box: Box3D, normal: np.ndarray, label: int, semantic_map: SemanticMap, cfg: SceneGraphConfig
) -> Box3D:
    """Deepen a box seen from one side (see ``SceneGraphConfig.complete_depth``)."""
    roles = roles_for(cfg.label_set)
    typical = roles.typical_depth_m.get(roles.name(label))
    n = np.asarray(normal[:2], np.float64)
    if typical is None or np.linalg.norm(n) < cfg.complete_min_normal:
        return box
    c, s = np.cos(box.yaw_rad), np.sin(box.yaw_rad)
    axes = np.array([[c, s], [-s, c]])
    along = axes @ n / np.linalg.norm(n)
    k = int(np.argmax(np.abs(along)))
    if roles.name(label) in roles.small:
        # Small things are about as deep as they are wide (a cup, a vase, a bag); a
        # typical depth would make a 7 cm cup 30 cm deep.
        typical = min(typical, max(box.size[1 - k], box.size[k]))
    if abs(along[k]) < 0.7 or box.size[k] >= typical:
        return box
    behind = -np.sign(along[k]) * axes[k]  # away from the visible face
    other = axes[1 - k]
    vs = semantic_map.voxel_size_m
    steps = np.arange(vs, typical - box.size[k] + 1e-9, vs)
    if steps.size == 0:
        return box
    # Probes: a 3 x 3 grid over the back face, at every step behind it.
    a = np.array([-0.35, 0.0, 0.35]) * box.size[1 - k]
    z = box.z_min + np.array([0.25, 0.5, 0.75]) * box.size[2]
    aa, zz = np.meshgrid(a, z, indexing="ij")
    face = (box.center[:2] + behind * box.size[k] / 2)[None] + aa.reshape(-1, 1) * other[None]
    probes = face[None, :, :] + steps[:, None, None] * behind[None, None, :]
    xyz = np.concatenate([probes, np.broadcast_to(zz.reshape(1, -1, 1), probes.shape[:2] + (1,))], axis=2)
    flat = xyz.reshape(-1, 3)
    lab, _ = semantic_map.query_labels(flat)
    occ = semantic_map.query_occupancy(flat)
    n_probe = face.shape[0]
    hit = ((lab != 0) & (lab != label)).reshape(len(steps), n_probe).mean(axis=1) >= 1 / 3
    free = (occ == FREE).reshape(len(steps), n_probe).mean(axis=1) >= 2 / 3
    stop = np.flatnonzero(hit | free)
    extra = steps[stop[0]] - vs if stop.size else typical - box.size[k]
    if extra <= 0:
        return box
    size = box.size.copy()
    size[k] += extra
    center = box.center.copy()
    center[:2] += behind * extra / 2
    return Box3D(center, size, box.yaw_rad)
