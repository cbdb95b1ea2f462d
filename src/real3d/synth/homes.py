"""Procedural multi-room homes: a floor plan split into rooms (living room, bedroom,
kitchen, office, dining room), walls with doors and windows, furnished room by room.
"""

from __future__ import annotations

import numpy as np

from real3d.core.errors import InputError
from real3d.synth.builder import (
    DOOR_HEIGHT_RANGE,
    WALL_T,
    _build_walls,
    _door_leaf,
    _opening_along,
    _R2,
    _SceneBuilder,
    _side_point,
    _window,
)
from real3d.synth.furnish import _FURNISH, _decorate_walls, _scatter_floor_objects, _wall_shelves
from real3d.synth.types import Room, SceneGT


ROOM_KINDS = ("living", "bedroom", "kitchen", "office", "dining")
ROOM_WEIGHTS = (0.22, 0.34, 0.2, 0.12, 0.12)


def _split_rooms(rng, W, D, n_rooms, min_size=2.6):
    rooms = [(0.0, 0.0, W, D)]
    splits = []  # (axis, coord, lo, hi): wall line shared by two rooms
    for _ in range(n_rooms - 1):
        order = np.argsort([-(r[2] - r[0]) * (r[3] - r[1]) for r in rooms])
        done = False
        for k in order:
            x0, y0, x1, y1 = rooms[k]
            w, d = x1 - x0, y1 - y0
            vertical = w >= d  # split across the longer side
            length = w if vertical else d
            if length < 2 * min_size:
                continue
            t = rng.uniform(max(min_size, 0.35 * length), min(length - min_size, 0.65 * length))
            if vertical:
                a, b = (x0, y0, x0 + t, y1), (x0 + t, y0, x1, y1)
                splits.append(("x", x0 + t, y0, y1))
            else:
                a, b = (x0, y0, x1, y0 + t), (x0, y0 + t, x1, y1)
                splits.append(("y", y0 + t, x0, x1))
            rooms[k] = a
            rooms.append(b)
            done = True
            break
        if not done:
            break
    return rooms, splits


def generate_home(seed: int, n_rooms: int | None = None) -> SceneGT:
    """A procedural home of 1-4 rooms joined by doors.

    Args:
        seed: any int; the same seed gives the same scene.
        n_rooms: number of rooms (1..4), random when None.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 101]))
    if n_rooms is None:
        n_rooms = int(rng.choice([1, 2, 2, 3, 3, 4]))
    if not 1 <= n_rooms <= 6:
        raise InputError(f"generate_home: expected 1 <= n_rooms <= 6, got {n_rooms}")
    W = rng.uniform(3.6, 5.5) * np.sqrt(n_rooms) * rng.uniform(0.9, 1.3)
    D = max(3.2, (rng.uniform(3.6, 5.0) * n_rooms * 4.2) / W)
    H = rng.uniform(2.4, 3.0)
    sb = _SceneBuilder(rng, (W, D))
    rects, splits = _split_rooms(rng, W, D, n_rooms)
    # room types drawn with roughly the mix of NYUv2's scenes (bedrooms most common)
    kinds = rng.choice(ROOM_KINDS, size=len(rects), p=ROOM_WEIGHTS)
    rooms = [Room(i, str(kinds[i]), *r) for i, r in enumerate(rects)]
    sb.rooms = rooms

    # doors on every split line, at a spot that both rooms share
    doors: dict[int, list] = {r.room_id: [] for r in rooms}
    door_leaves = []
    for axis, coord, lo, hi in splits:
        adj = []
        for r in rooms:
            if axis == "x":
                if abs(r.x1 - coord) < 1e-6:
                    adj.append((r, "E"))
                elif abs(r.x0 - coord) < 1e-6:
                    adj.append((r, "W"))
            else:
                if abs(r.y1 - coord) < 1e-6:
                    adj.append((r, "N"))
                elif abs(r.y0 - coord) < 1e-6:
                    adj.append((r, "S"))
        # find a pair of rooms on opposite sides whose spans overlap
        best = None
        for ra, sa in adj:
            for rb, sbide in adj:
                if ra.room_id >= rb.room_id or sa == sbide:
                    continue
                la, ha = _opening_along(sa, ra)
                lb, hb = _opening_along(sbide, rb)
                ov = (max(la, lb, lo), min(ha, hb, hi))
                if ov[1] - ov[0] > 1.4:
                    best = (ra, sa, rb, sbide, ov)
        if best is None:
            continue
        ra, sa, rb, sbide, ov = best
        wdoor = rng.uniform(0.8, 1.0)
        a = rng.uniform(ov[0] + 0.25, ov[1] - 0.25 - wdoor)
        hdoor = rng.uniform(*DOOR_HEIGHT_RANGE)
        doors[ra.room_id].append((sa, a, a + wdoor, 0.0, hdoor))
        doors[rb.room_id].append((sbide, a, a + wdoor, 0.0, hdoor))
        door_leaves.append((ra, sa, a, wdoor, hdoor))
        for r, s in ((ra, sa), (rb, sbide)):
            c, yaw = _side_point(r, s, a + wdoor / 2, WALL_T + 0.55)
            sb.stamp(c, wdoor + 0.5, 1.1, yaw)

    for room in rooms:
        floor_mat = sb.material(str(rng.choice(["wood", "wood", "tiles", "carpet", "stone"])), "floor")
        wall_mat = sb.material(
            str(rng.choice(["plaster", "plaster", "plain", "plain", "brick"])),
            "wall",
            strength=float(rng.uniform(0.1, 0.6)),
        )
        ceil_mat = sb.material(str(rng.choice(["plaster", "plain"])), "ceiling", strength=float(rng.uniform(0.05, 0.3)))
        f = sb.instance("floor", 0.0, room.room_id)
        sb.box(
            f,
            ((room.x0 + room.x1) / 2, (room.y0 + room.y1) / 2, -0.025),
            (room.x1 - room.x0, room.y1 - room.y0, 0.05),
            0.0,
            floor_mat,
        )
        c = sb.instance("ceiling", 0.0, room.room_id)
        sb.box(
            c,
            ((room.x0 + room.x1) / 2, (room.y0 + room.y1) / 2, H + 0.025),
            (room.x1 - room.x0, room.y1 - room.y0, 0.05),
            0.0,
            ceil_mat,
        )
        # windows on exterior sides
        windows = []
        ext = [
            s
            for s, on in (
                ("S", room.y0 < 1e-6),
                ("N", room.y1 > D - 1e-6),
                ("W", room.x0 < 1e-6),
                ("E", room.x1 > W - 1e-6),
            )
            if on
        ]
        for side in rng.permutation(ext)[: int(rng.integers(0, 3)) if ext else 0]:
            lo, hi = _opening_along(side, room)
            ww = rng.uniform(0.7, min(2.4, hi - lo - 1.0)) if hi - lo > 1.8 else 0
            if ww < 0.6:
                continue
            a = rng.uniform(lo + 0.5, hi - 0.5 - ww)
            if any(o[0] == side and not (a + ww < o[1] - 0.2 or a > o[2] + 0.2) for o in doors[room.room_id]):
                continue
            sill = rng.uniform(0.3, 1.0)
            top = min(H - 0.2, rng.uniform(1.9, 2.4))
            windows.append((side, a, a + ww, sill, top))
        _build_walls(sb, room, H, doors[room.room_id], windows, wall_mat)
        sb.openings[room.room_id] = doors[room.room_id] + windows
        for side, a, b, z0, z1 in windows:
            _window(sb, room, side, a, b, z0, z1)
        # ceiling lamp and its light
        cx, cy = (room.x0 + room.x1) / 2, (room.y0 + room.y1) / 2
        lamp = sb.instance("lamp", 0.0, room.room_id)
        sb.cyl(
            lamp,
            (cx, cy, H - 0.065),
            rng.uniform(0.12, 0.25),
            0.12,
            sb.material("plain", "lamp", emissive=float(rng.uniform(1.0, 3.0))),
        )
        sb.lights.append(
            {
                "position": [cx, cy, H - 0.3],
                "intensity": float(rng.uniform(2.0, 6.0)),
                "color": list(rng.uniform(0.85, 1.0, 3)),
            }
        )
    for room, side, a, wdoor, hdoor in door_leaves:
        _door_leaf(sb, room, side, a, wdoor, hdoor)
    # front door on an exterior side (closed, flush with the wall)
    r0 = rooms[0]
    for side, on in (("S", r0.y0 < 1e-6), ("W", r0.x0 < 1e-6)):
        if on and rng.random() < 0.7:
            lo, hi = _opening_along(side, r0)
            if hi - lo > 2.0:
                t = rng.uniform(lo + 0.5, hi - 1.5)
                c, yaw = _side_point(r0, side, t + 0.45, WALL_T + 0.02)
                sb.openings.setdefault(r0.room_id, []).append((side, t, t + 0.9, 0.0, 2.05))
                d = sb.instance("door", yaw, r0.room_id)
                sb.box(d, (c[0], c[1], 1.025), (0.9, 0.04, 2.05), yaw, sb.material("wood", "door"))
                sb.stamp(c + _R2(yaw) @ np.array([0, 0.5]), 1.3, 1.0, yaw)
            break

    for room in rooms:
        _FURNISH[room.kind](sb, room, H)
        _decorate_walls(sb, room, H)
        _scatter_floor_objects(sb, room)
        _wall_shelves(sb, room, H, int(rng.integers(0, 3)))

    objects = sb.objects()
    return SceneGT(
        seed=int(seed),
        kind="home",
        mesh=sb.mb.build(),
        objects=objects,
        relations=sb.relations,
        rooms=rooms,
        occupancy=sb.occupancy((0.0, 0.0, W, D)),
        materials=[m.to_dict() for m in sb.mb.materials],
        lights=sb.lights,
    )
