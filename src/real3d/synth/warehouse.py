"""Procedural warehouse halls: aisles of racks with packages, pillars, pallets and loose
boxes.
"""

from __future__ import annotations

import numpy as np

from real3d.synth.builder import WALL_T, _build_walls, _R2, _SceneBuilder, _side_point, _window
from real3d.synth.types import Room, SceneGT


def generate_warehouse(seed: int) -> SceneGT:
    """A procedural warehouse hall: aisles of racks with packages, pillars, pallets and
    loose boxes."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 202]))
    W, D, H = rng.uniform(14, 26), rng.uniform(10, 18), rng.uniform(5.0, 7.5)
    sb = _SceneBuilder(rng, (W, D))
    room = Room(0, "warehouse", 0.0, 0.0, W, D)
    sb.rooms = [room]
    floor_mat = sb.material(str(rng.choice(["stone", "plain", "tiles"])), "concrete")
    f = sb.instance("floor", 0.0, 0)
    sb.box(f, (W / 2, D / 2, -0.025), (W, D, 0.05), 0.0, floor_mat)
    c = sb.instance("ceiling", 0.0, 0)
    sb.box(c, (W / 2, D / 2, H + 0.025), (W, D, 0.05), 0.0, sb.material("metal", "ceiling"))
    windows = []
    for side in ("N", "S"):
        for _ in range(int(rng.integers(0, 3))):
            a = rng.uniform(1.0, W - 3.0)
            windows.append((side, a, a + rng.uniform(1.0, 2.0), H - 1.8, H - 0.6))
    windows = [
        w
        for i, w in enumerate(windows)
        if all(w[0] != o[0] or w[1] > o[2] + 0.3 or w[2] < o[1] - 0.3 for o in windows[:i])
    ]
    dock = []
    a = rng.uniform(1.0, D - 4.5)
    dock.append(("W", a, a + rng.uniform(2.5, 3.5), 0.0, rng.uniform(3.0, 4.0)))
    wall_mat = sb.material(str(rng.choice(["plain", "brick", "metal", "plaster"])), "warehouse_wall")
    _build_walls(sb, room, H, [], windows, wall_mat)
    for side, a, b, z0, z1 in windows:
        _window(sb, room, side, a, b, z0, z1)
    for side, a, b, z0, z1 in dock:  # a closed roller door, flush with the wall
        cc, yaw = _side_point(room, side, (a + b) / 2, WALL_T + 0.03)
        d = sb.instance("door", yaw, 0)
        sb.box(d, (cc[0], cc[1], z1 / 2), (b - a, 0.05, z1), yaw, sb.material("metal", "door"))
        sb.stamp(cc + _R2(yaw) @ np.array([0, 1.5]), b - a + 1, 3.0, yaw)
    for lx in np.linspace(W * 0.15, W * 0.85, int(rng.integers(2, 5))):
        for ly in np.linspace(D * 0.2, D * 0.8, int(rng.integers(1, 3))):
            sb.cyl(
                sb.instance("lamp", 0.0, 0),
                (lx, ly, H - 0.09),
                0.3,
                0.17,
                sb.material("plain", "lamp", emissive=float(rng.uniform(1.5, 3.0))),
            )
            sb.lights.append(
                {
                    "position": [lx, ly, H - 0.5],
                    "intensity": float(rng.uniform(6, 14)),
                    "color": list(rng.uniform(0.85, 1.0, 3)),
                }
            )
    # rack rows along x, aisles between
    rack_d = rng.uniform(0.9, 1.2)
    aisle = rng.uniform(2.4, 3.4)
    y = 1.8 + rack_d / 2
    rack_h = rng.uniform(2.4, min(4.5, H - 0.8))
    levels = int(rng.integers(3, 6))
    beam_mat = sb.material("plain", "rack_beam")
    upright_mat = sb.material("metal", "rack_upright")
    deck_mat = sb.material(str(rng.choice(["wood", "metal"])), "rack_deck")
    while y + rack_d / 2 < D - 2.0:
        x0 = rng.uniform(1.5, 3.5)
        length = min(W - x0 - rng.uniform(2.0, 4.0), rng.uniform(6.0, 16.0))
        if length > 2.5:
            bays = max(1, int(length / 2.7))
            length = bays * 2.7
            _rack(
                sb,
                room,
                np.array([x0 + length / 2, y]),
                length,
                rack_d,
                rack_h,
                levels,
                bays,
                beam_mat,
                upright_mat,
                deck_mat,
            )
        # back-to-back double rows sometimes
        y += rack_d + (0.1 if rng.random() < 0.3 else aisle)
    # pillars in a grid, only where free
    pitch = rng.uniform(6.0, 9.0)
    pm = sb.material(str(rng.choice(["plain", "stone"])), "pillar")
    for px in np.arange(pitch, W - 1.0, pitch):
        for py in np.arange(pitch, D - 1.0, pitch):
            s = rng.uniform(0.3, 0.5)
            if sb.is_free((px, py), s, s, 0.0, pad=0.6):
                sb.stamp((px, py), s, s, 0.0)
                p = sb.instance("pillar", 0.0, 0)
                sb.box(p, (px, py, H / 2), (s, s, H), 0.0, pm)
    # pallets with boxes and loose items in free space
    for _ in range(int(rng.integers(3, 9))):
        yaw = float(rng.choice([0.0, np.pi / 2])) + rng.uniform(-0.2, 0.2)
        spot = sb.place_free(room, 1.2, 1.0, yaw=yaw, pad=0.7)
        if spot is None:
            continue
        cc, yaw = spot
        pl = sb.instance("pallet", yaw, 0)
        pmat = sb.material("wood", "pallet")
        sb.local_box(pl, cc, yaw, (0, 0, 0.135), (1.2, 1.0, 0.03), pmat)
        for lx in (-0.5, 0.0, 0.5):
            sb.local_box(pl, cc, yaw, (lx, 0, 0.06), (0.12, 1.0, 0.12), pmat)
        z = 0.15
        for _ in range(int(rng.integers(0, 4))):
            bw, bd, bh = rng.uniform(0.3, 1.1), rng.uniform(0.3, 0.9), rng.uniform(0.2, 0.6)
            b = sb.instance("loose_box", yaw, 0)
            sb.local_box(
                b,
                cc,
                yaw,
                (rng.uniform(-0.1, 0.1), rng.uniform(-0.05, 0.05), z + bh / 2),
                (bw, bd, bh),
                sb.material("paper", "cardboard"),
            )
            sb.on(b, pl)
            z += bh
    for _ in range(int(rng.integers(2, 10))):
        kind = str(rng.choice(["loose_box", "crate", "barrel"]))
        w = rng.uniform(0.3, 0.8)
        spot = sb.place_free(room, w, w, pad=0.6)
        if spot is None:
            continue
        o = sb.instance(kind, spot[1], 0)
        h = rng.uniform(0.3, 1.0)
        if kind == "barrel":
            sb.cyl(o, (spot[0][0], spot[0][1], h / 2), w / 2, h, sb.material("plain", "barrel"))
        else:
            sb.box(
                o,
                (spot[0][0], spot[0][1], h / 2),
                (w, w, h),
                spot[1],
                sb.material("paper" if kind == "loose_box" else "wood", "cardboard"),
            )
    objects = sb.objects()
    return SceneGT(
        seed=int(seed),
        kind="warehouse",
        mesh=sb.mb.build(),
        objects=objects,
        relations=sb.relations,
        rooms=[room],
        occupancy=sb.occupancy((0.0, 0.0, W, D)),
        materials=[m.to_dict() for m in sb.mb.materials],
        lights=sb.lights,
    )


def _rack(sb, room, c, length, d, h, levels, bays, beam_mat, upright_mat, deck_mat):
    rng = sb.rng
    if not sb.is_free(c, length, d, 0.0, pad=0.3):
        return
    sb.stamp(c, length, d, 0.0)
    r = sb.instance("rack", 0.0, 0)
    u = 0.08
    for i in range(bays + 1):
        x = -length / 2 + i * length / bays
        x = np.clip(x, -length / 2 + u / 2, length / 2 - u / 2)
        for sy in (-1, 1):
            sb.local_box(r, c, 0.0, (x, sy * (d / 2 - u / 2), h / 2), (u, u, h), upright_mat)
    level_z = np.linspace(0.12, h - 0.1, levels)
    for z in level_z:
        for sy in (-1, 1):
            sb.local_box(r, c, 0.0, (0, sy * (d / 2 - u / 2), z), (length, u * 0.6, 0.1), beam_mat)
        sb.local_box(r, c, 0.0, (0, 0, z + 0.06), (length - 0.02, d - 0.02, 0.02), deck_mat)
    gap = level_z[1] - level_z[0] if levels > 1 else h
    for z in level_z[:-1] if levels > 1 else level_z:
        zb = z + 0.07
        for i in range(bays):
            if rng.random() < 0.2:
                continue
            bx0 = -length / 2 + i * length / bays + 0.1
            bx1 = bx0 + length / bays - 0.2
            x = bx0
            while x < bx1 - 0.25:
                pw = rng.uniform(0.25, 0.9)
                if x + pw > bx1:
                    break
                ph = rng.uniform(0.2, max(0.25, gap - 0.25))
                pd = rng.uniform(0.4, d - 0.05)
                p = sb.instance("package", 0.0, 0)
                sb.local_box(
                    p,
                    c,
                    0.0,
                    (x + pw / 2, rng.uniform(-0.02, 0.02), zb + ph / 2),
                    (pw, pd, ph),
                    sb.material("paper", "cardboard"),
                )
                sb.on(p, r)
                x += pw + rng.uniform(0.02, 0.3)
