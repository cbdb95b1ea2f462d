"""How each room kind of a home is furnished (living room, bedroom, kitchen, office,
dining room), and what hangs on or stands along its walls and lies on its floor.
"""

from __future__ import annotations

import numpy as np

from real3d.synth.builder import WALL_T, _opening_along, _R2, _side_point
from real3d.synth.furniture import (
    _bed,
    _book_row,
    _bookshelf,
    _cabinet,
    _chair,
    _clutter_on,
    _small_object,
    _sofa,
    _table,
    _tv_on_stand,
)


def _furnish_living(sb, room, H):
    rng = sb.rng
    sw = rng.uniform(1.6, 2.4)
    spot = sb.place_against_wall(room, sw, rng.uniform(0.8, 0.95), front_clear=1.2)
    if spot is not None:
        c, yaw = spot
        sofa = _sofa(sb, room, c, yaw, sw, 0.9)
        front = c + _R2(yaw) @ np.array([0.0, 0.45 + 0.5 + 0.25])
        if rng.random() < 0.6:
            rug = sb.instance("rug", yaw, room.room_id)
            sb.local_box(
                rug,
                front,
                yaw,
                (0, 0, 0.005),
                (sw * 1.1, 1.6, 0.01),
                sb.material(str(rng.choice(["carpet", "fabric"])), "rug"),
            )
        tw, td = rng.uniform(0.8, 1.3), rng.uniform(0.5, 0.7)
        if sb.is_free(front, tw, td, yaw):
            sb.stamp(front, tw, td, yaw)
            t, h = _table(sb, room, front, yaw, tw, td, rng.uniform(0.35, 0.48), cls="coffee_table")
            _clutter_on(sb, room, t, front, yaw, tw, td, h, int(rng.integers(1, 5)))
        del sofa
    _tv_on_stand(sb, room, H)
    if rng.random() < 0.7:
        spot = sb.place_free(room, 0.85, 0.85)
        if spot is not None:
            _sofa(sb, room, spot[0], spot[1], 0.85, 0.85, cls="armchair")
    for _ in range(int(rng.integers(0, 3))):
        _shelf_or_cabinet(sb, room)
    _floor_extras(sb, room, int(rng.integers(1, 4)))


def _shelf_or_cabinet(sb, room):
    rng = sb.rng
    if rng.random() < 0.55:
        w, d, h = rng.uniform(0.6, 1.4), rng.uniform(0.28, 0.4), rng.uniform(1.2, 2.1)
        spot = sb.place_against_wall(room, w, d)
        if spot is not None:
            _bookshelf(sb, room, spot[0], spot[1], w, d, h)
    else:
        w, d, h = rng.uniform(0.6, 1.6), rng.uniform(0.4, 0.6), rng.uniform(0.7, 1.2)
        spot = sb.place_against_wall(room, w, d)
        if spot is not None:
            cls = str(rng.choice(["cabinet", "dresser"]))
            k = _cabinet(sb, room, spot[0], spot[1], w, d, h, cls=cls)
            _clutter_on(sb, room, k, spot[0], spot[1], w, d, h, int(rng.integers(0, 5)))


def _floor_extras(sb, room, n):
    rng = sb.rng
    for _ in range(n):
        kind = str(rng.choice(["plant", "lamp", "box", "bag", "clothes"]))
        if kind == "lamp":
            w, h = rng.uniform(0.3, 0.45), rng.uniform(1.3, 1.8)
        elif kind == "plant":
            w, h = rng.uniform(0.3, 0.6), rng.uniform(0.5, 1.5)
        else:
            w, h = rng.uniform(0.25, 0.6), rng.uniform(0.15, 0.6)
        spot = (
            sb.place_against_wall(room, w, w, front_clear=0.3)
            if rng.random() < 0.6
            else sb.place_free(room, w, w, pad=0.2)
        )
        if spot is None:
            continue
        o = sb.instance(kind, spot[1], room.room_id)
        _small_object(sb, o, kind, spot[0], spot[1], w, w, h, 0.0)


def _furnish_bedroom(sb, room, H):
    rng = sb.rng
    bw = float(rng.choice([0.9, 1.4, 1.6, 1.8])) + rng.uniform(-0.05, 0.05)
    bd = rng.uniform(1.95, 2.15)
    spot = sb.place_against_wall(room, bw + 1.0, bd, front_clear=0.4, tries=80)
    stands = spot is not None
    if spot is None:  # a smaller room: the bed without room for nightstands
        spot = sb.place_against_wall(room, bw + 0.1, bd, front_clear=0.3, tries=80)
    if spot is not None:
        c, yaw = spot
        _bed(sb, room, c, yaw, bw, bd)
        for sx in (-1, 1) if stands else ():
            if rng.random() < 0.8:
                nc = c + _R2(yaw) @ np.array([sx * (bw / 2 + 0.26), -bd / 2 + 0.22])
                nh = rng.uniform(0.45, 0.6)
                n = _cabinet(sb, room, nc, yaw, 0.42, 0.4, nh, cls="nightstand")
                _clutter_on(
                    sb, room, n, nc, yaw, 0.42, 0.4, nh, int(rng.integers(0, 3)), ["lamp", "books", "cup", "clutter"]
                )
    if rng.random() < 0.7:
        w, d, h = rng.uniform(0.9, 2.0), rng.uniform(0.55, 0.65), rng.uniform(1.8, 2.3)
        spot = sb.place_against_wall(room, w, d)
        if spot is not None:
            _cabinet(sb, room, spot[0], spot[1], w, d, h, cls="wardrobe", drawers=rng.random() < 0.3)
    if rng.random() < 0.7:
        _shelf_or_cabinet(sb, room)
    if rng.random() < 0.5:
        spot = sb.place_free(room, 0.5, 0.5)
        if spot is not None:
            _chair(sb, room, spot[0], spot[1])
    _floor_extras(sb, room, int(rng.integers(1, 4)))


def _furnish_kitchen(sb, room, H):
    rng = sb.rng
    for _ in range(int(rng.integers(1, 3))):
        w = rng.uniform(1.2, 3.0)
        d = 0.6
        spot = sb.place_against_wall(room, w, d, front_clear=0.9)
        if spot is None:
            continue
        c, yaw = spot
        k = _cabinet(sb, room, c, yaw, w, d, 0.86, cls="counter", drawers=True)
        top = sb.material(str(rng.choice(["stone", "wood", "plain"])), "countertop")
        sb.local_box(k, c, yaw, (0, 0.01, 0.88), (w + 0.02, d + 0.02, 0.04), top)
        if rng.random() < 0.6:
            s = sb.instance("sink", yaw, room.room_id)
            sb.local_box(
                s,
                c,
                yaw,
                (rng.uniform(-w / 4, w / 4), 0.0, 0.905),
                (0.5, 0.4, 0.01),
                sb.material("metal", "metal", specular=True),
            )
            sb.on(s, k)
        _clutter_on(
            sb, room, k, c, yaw, w, d, 0.9, int(rng.integers(1, 6)), ["cup", "bottle", "bowl", "box", "clutter", "vase"]
        )
        if rng.random() < 0.7:  # upper cabinets
            u = sb.instance("cabinet", yaw, room.room_id)
            sb.local_box(
                u,
                c,
                yaw,
                (0, -d / 2 + 0.18, min(H - 0.4, 2.2) - 0.35),
                (w, 0.35, 0.7),
                sb.material(str(rng.choice(["wood", "plain"])), "furniture"),
            )
    if rng.random() < 0.7:
        spot = sb.place_against_wall(room, 0.75, 0.7, front_clear=0.8)
        if spot is not None:
            f = sb.instance("fridge", spot[1], room.room_id)
            sb.local_box(
                f,
                spot[0],
                spot[1],
                (0, 0, 0.9),
                (0.7, 0.68, 1.8),
                sb.material(str(rng.choice(["plain", "metal"])), "appliance"),
            )
    _dining_set(sb, room)
    _floor_extras(sb, room, int(rng.integers(0, 3)))


def _dining_set(sb, room):
    rng = sb.rng
    tw, td = rng.uniform(0.9, 1.8), rng.uniform(0.7, 1.0)
    yaw = float(rng.choice([0.0, np.pi / 2])) + rng.uniform(-0.15, 0.15)
    spot = sb.place_free(room, tw + 0.8, td + 0.9, yaw=yaw, pad=0.15)
    if spot is None:
        return
    c, yaw = spot
    t, h = _table(sb, room, c, yaw, tw, td, rng.uniform(0.72, 0.78))
    _clutter_on(sb, room, t, c, yaw, tw, td, h, int(rng.integers(0, 6)))
    n_side = max(1, int(tw / 0.6))
    for sy in (-1, 1):
        for i in range(n_side):
            if rng.random() < 0.25:
                continue
            lx = -tw / 2 + tw * (i + 0.5) / n_side + rng.uniform(-0.05, 0.05)
            cc = c + _R2(yaw) @ np.array([lx, sy * (td / 2 + rng.uniform(0.1, 0.3))])
            # chairs face the table: their local +y points at the table centre
            _chair(sb, room, cc, yaw + (0.0 if sy < 0 else np.pi) + rng.uniform(-0.3, 0.3))


def _furnish_office(sb, room, H):
    rng = sb.rng
    for _ in range(int(rng.integers(1, 3))):
        w, d = rng.uniform(1.0, 1.8), rng.uniform(0.6, 0.8)
        spot = sb.place_against_wall(room, w, d, front_clear=0.9)
        if spot is None:
            continue
        c, yaw = spot
        t, h = _table(sb, room, c, yaw, w, d, rng.uniform(0.72, 0.76), cls="desk")
        placed = []  # (centre, width) of the desk's monitors along it
        for _ in range(int(rng.integers(1, 3))):
            mx = rng.uniform(-w / 4, w / 4)
            mw = rng.uniform(0.45, 0.7)
            mx = _beside(mx, mw, placed, w / 2)
            if mx is None:  # no room left on the desk for a second screen
                continue
            placed.append((mx, mw))
            m = sb.instance("monitor", yaw, room.room_id)
            body = sb.material("plain", "tv_body")
            sb.local_box(m, c, yaw, (mx, -d / 2 + 0.2, h + 0.1), (0.08, 0.08, 0.2), body)
            sb.local_box(m, c, yaw, (mx, -d / 2 + 0.18, h + 0.2 + mw * 0.3), (mw, 0.04, mw * 0.6), body)
            sb.on(m, t)
        _clutter_on(
            sb,
            room,
            t,
            c + _R2(yaw) @ np.array([0, 0.15]),
            yaw,
            w,
            d - 0.35,
            h,
            int(rng.integers(1, 5)),
            ["paper", "books", "cup", "lamp", "clutter", "box"],
        )
        cc = c + _R2(yaw) @ np.array([rng.uniform(-0.2, 0.2), d / 2 + 0.35])
        cyaw = yaw + np.pi + rng.uniform(-0.6, 0.6)
        if sb.is_free(cc, 0.6, 0.6, cyaw):  # the desk's chair, where nothing else stands
            sb.stamp(cc, 0.6, 0.6, cyaw)
            _chair(sb, room, cc, cyaw, office=True)
    for _ in range(int(rng.integers(1, 3))):
        _shelf_or_cabinet(sb, room)
    _floor_extras(sb, room, int(rng.integers(1, 4)))


def _beside(x: float, width: float, placed, half_span: float, gap: float = 0.02) -> float | None:
    """``x`` moved as little as needed along a line so that an item ``width`` wide centred
    there keeps ``gap`` from the ``placed`` (centre, width) items and stays within
    ±``half_span``; None when no such place exists."""
    lim = half_span - width / 2
    cands = [x] + [c + sd * ((w + width) / 2 + gap) for c, w in placed for sd in (-1.0, 1.0)]
    ok = [
        c
        for c in cands
        if abs(c) <= lim + 1e-9 and all(abs(c - c2) >= (w2 + width) / 2 + gap - 1e-9 for c2, w2 in placed)
    ]
    return min(ok, key=lambda c: abs(c - x)) if ok else None


def _furnish_dining(sb, room, H):
    rng = sb.rng
    _dining_set(sb, room)
    if rng.random() < 0.8:
        _shelf_or_cabinet(sb, room)
    if rng.random() < 0.5:
        _tv_on_stand(sb, room, H)
    _floor_extras(sb, room, int(rng.integers(1, 3)))


_FURNISH = {
    "living": _furnish_living,
    "bedroom": _furnish_bedroom,
    "kitchen": _furnish_kitchen,
    "office": _furnish_office,
    "dining": _furnish_dining,
}


def _decorate_walls(sb, room, H):
    rng = sb.rng
    hung = []  # (side, along-wall extent, height extent) of the pictures hung so far
    for _ in range(int(rng.integers(1, 6))):
        side = str(rng.choice(["S", "N", "W", "E"]))
        lo, hi = _opening_along(side, room)
        pw = rng.uniform(0.3, 1.2)
        ph = pw * rng.uniform(0.6, 1.4)
        if hi - lo < pw + 0.6:
            continue
        t = rng.uniform(lo + 0.3 + pw / 2, hi - 0.3 - pw / 2)
        zc = rng.uniform(1.3, min(1.9, H - ph / 2 - 0.2))
        if _covers_opening(sb, room, side, t - pw / 2, t + pw / 2, zc - ph / 2, zc + ph / 2):
            continue  # a picture never hangs across a doorway or a window
        if any(
            sd == side
            and t - pw / 2 < b + 0.05
            and a - 0.05 < t + pw / 2
            and zc - ph / 2 < z1 + 0.05
            and z0 - 0.05 < zc + ph / 2
            for sd, a, b, z0, z1 in hung
        ):
            continue  # nor over another picture
        c, yaw = _side_point(room, side, t, WALL_T + 0.015)
        # skip if something tall stands there
        probe = c + _R2(yaw) @ np.array([0, 0.05])
        if not sb.is_free(probe, pw, 0.05, yaw):
            if zc - ph / 2 < 1.2 or rng.random() < 0.5:
                continue
        p = sb.instance("picture" if rng.random() < 0.9 else "mirror", yaw, room.room_id)
        hung.append((side, t - pw / 2, t + pw / 2, zc - ph / 2, zc + ph / 2))
        sb.box(p, (c[0], c[1], zc), (pw, 0.03, ph), yaw, sb.material("plain", "frame"))
        front = c + _R2(yaw) @ np.array([0, 0.016])
        sb.box(
            p,
            (front[0], front[1], zc),
            (pw - 0.06, 0.002, ph - 0.06),
            yaw,
            sb.material("photo", "picture", color=(1, 1, 1), strength=1.0, specular=sb.inst_info[p][0] == "mirror"),
        )


def _covers_opening(sb, room, side, a, b, z0, z1, margin=0.1) -> bool:
    """True when [a, b] x [z0, z1] on ``side`` of ``room`` comes within ``margin`` of one of
    the room's openings (doors, windows)."""
    return any(
        o[0] == side and a < o[2] + margin and b > o[1] - margin and z0 < o[4] + margin and z1 > o[3] - margin
        for o in sb.openings.get(room.room_id, [])
    )


def _wall_shelves(sb, room, H, n):
    """Boards fixed to walls above furniture height, loaded with books and small things."""
    rng = sb.rng
    for _ in range(n):
        side = str(rng.choice(["S", "N", "W", "E"]))
        lo, hi = _opening_along(side, room)
        w, d = rng.uniform(0.6, 1.4), rng.uniform(0.18, 0.3)
        if hi - lo < w + 0.6:
            continue
        t = rng.uniform(lo + 0.3 + w / 2, hi - 0.3 - w / 2)
        c, yaw = _side_point(room, side, t, WALL_T + d / 2 + 0.005)
        # keep clear of doors and of tall furniture: the board sits at 1.3-1.8 m
        if not sb.is_free(c, w, d, yaw):
            continue
        z = rng.uniform(1.3, min(1.8, H - 0.5))
        if _covers_opening(sb, room, side, t - w / 2, t + w / 2, z - 0.02, z + 0.35):
            continue  # nor across a window
        k = sb.instance("shelves", yaw, room.room_id)
        sb.box(
            k, (c[0], c[1], z - 0.01), (w, d, 0.02), yaw, sb.material(str(rng.choice(["wood", "plain"])), "furniture")
        )
        if rng.random() < 0.5:
            _book_row(sb, room, k, c, yaw, w, d, z, 0.3)
        else:
            _clutter_on(
                sb,
                room,
                k,
                c,
                yaw,
                w,
                d,
                z,
                int(rng.integers(2, 5)),
                ["vase", "box", "plant", "clutter", "books", "cup", "bottle"],
            )


def _scatter_floor_objects(sb, room):
    rng = sb.rng
    _fill_walls(sb, room, int(rng.integers(2, 6)))
    _floor_extras(sb, room, int(rng.integers(1, 4)))


def _fill_walls(sb, room, n):
    """Extra furniture along free wall stretches: real rooms are cluttered, and NYUv2's
    frames are dominated by furniture and objects rather than bare walls."""
    rng = sb.rng
    for _ in range(n):
        what = str(
            rng.choice(["shelf_or_cabinet", "shelf_or_cabinet", "side_table", "chair", "desk", "boxes", "armchair"])
        )
        if what == "shelf_or_cabinet":
            _shelf_or_cabinet(sb, room)
        elif what == "side_table":
            w = rng.uniform(0.4, 0.9)
            spot = sb.place_against_wall(room, w, w * rng.uniform(0.6, 1.0), front_clear=0.3)
            if spot is not None:
                d = w * 0.8
                t, h = _table(sb, room, spot[0], spot[1], w, d, rng.uniform(0.45, 0.75))
                _clutter_on(sb, room, t, spot[0], spot[1], w, d, h, int(rng.integers(1, 5)))
        elif what == "chair":
            spot = sb.place_free(room, 0.5, 0.5, pad=0.15)
            if spot is not None:
                _chair(sb, room, spot[0], spot[1], office=rng.random() < 0.3)
        elif what == "armchair":
            spot = sb.place_against_wall(room, 0.85, 0.85, front_clear=0.4)
            if spot is not None:
                _sofa(sb, room, spot[0], spot[1], 0.85, 0.85, cls="armchair")
        elif what == "desk":
            w, d = rng.uniform(0.9, 1.5), rng.uniform(0.5, 0.7)
            spot = sb.place_against_wall(room, w, d, front_clear=0.7)
            if spot is not None:
                c, yaw = spot
                t, h = _table(sb, room, c, yaw, w, d, rng.uniform(0.72, 0.76), cls="desk")
                _clutter_on(sb, room, t, c, yaw, w, d, h, int(rng.integers(1, 6)))
                cc = c + _R2(yaw) @ np.array([0, d / 2 + 0.3])
                _chair(sb, room, cc, yaw + np.pi + rng.uniform(-0.5, 0.5), office=rng.random() < 0.5)
        else:  # a stack of boxes against a wall
            w = rng.uniform(0.3, 0.7)
            spot = sb.place_against_wall(room, w, w, front_clear=0.2)
            if spot is not None:
                z = 0.0
                parent = None
                for _ in range(int(rng.integers(1, 4))):
                    bh = rng.uniform(0.2, 0.5)
                    b = sb.instance("box", spot[1], room.room_id)
                    sb.box(
                        b,
                        (spot[0][0], spot[0][1], z + bh / 2),
                        (w * rng.uniform(0.8, 1), w * rng.uniform(0.8, 1), bh),
                        spot[1] + rng.uniform(-0.1, 0.1),
                        sb.material("paper", "cardboard"),
                    )
                    if parent is not None:
                        sb.on(b, parent)
                    parent = b
                    z += bh
