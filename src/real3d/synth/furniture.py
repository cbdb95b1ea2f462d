"""Furniture and small objects for the homes: tables, chairs, cabinets, shelves, sofas,
beds, a TV on its stand, and the things placed on them. What each room kind is furnished
with is ``real3d.synth.furnish``.
"""

from __future__ import annotations

import numpy as np

from real3d.synth.builder import _R2


def _add_legs(sb, inst, c, yaw, w, d, h, leg, mat, inset=0.04, round_legs=False):
    for sx in (-1, 1):
        for sy in (-1, 1):
            lx, ly = sx * (w / 2 - inset - leg / 2), sy * (d / 2 - inset - leg / 2)
            if round_legs:
                xy = c + _R2(yaw) @ np.array([lx, ly])
                sb.cyl(inst, (xy[0], xy[1], h / 2), leg / 2, h, mat)
            else:
                sb.local_box(inst, c, yaw, (lx, ly, h / 2), (leg, leg, h), mat)


def _table(sb, room, c, yaw, w, d, h, cls="table"):
    rng = sb.rng
    t = sb.instance(cls, yaw, room.room_id)
    mat = sb.material(str(rng.choice(["wood", "wood", "plain", "stone", "metal"])), "table")
    top = rng.uniform(0.02, 0.05)
    sb.local_box(t, c, yaw, (0, 0, h - top / 2), (w, d, top), mat)
    leg_mat = mat if rng.random() < 0.6 else sb.material("metal", "metal")
    _add_legs(sb, t, c, yaw, w, d, h - top, rng.uniform(0.04, 0.07), leg_mat, round_legs=rng.random() < 0.4)
    if cls == "desk" and rng.random() < 0.6:  # a drawer block under one side
        dw = min(0.45, w * 0.35)
        sb.local_box(t, c, yaw, (w / 2 - dw / 2 - 0.03, 0, (h - top) / 2 + 0.05), (dw, d * 0.9, h - top - 0.1), mat)
    return t, h


def _chair(sb, room, c, yaw, office=False):
    rng = sb.rng
    ch = sb.instance("office_chair" if office else "chair", yaw, room.room_id)
    seat_h = rng.uniform(0.42, 0.5)
    sw, sd = rng.uniform(0.4, 0.52), rng.uniform(0.4, 0.5)
    mat = sb.material(str(rng.choice(["wood", "fabric", "plain", "leather"])), "chair")
    sb.local_box(ch, c, yaw, (0, 0, seat_h - 0.03), (sw, sd, 0.06), mat)
    back_h = rng.uniform(0.35, 0.6)
    # the back is on the local -y side, the seat faces +y
    sb.local_box(ch, c, yaw, (0, -sd / 2 + 0.03, seat_h + back_h / 2), (sw, 0.05, back_h), mat)
    if office:
        sb.cyl(ch, (c[0], c[1], seat_h / 2), 0.03, seat_h - 0.06, sb.material("metal", "metal"))
        sb.cyl(ch, (c[0], c[1], 0.03), 0.28, 0.06, sb.material("plain", "metal"))
    else:
        _add_legs(
            sb,
            ch,
            c,
            yaw,
            sw,
            sd,
            seat_h - 0.06,
            0.035,
            mat if rng.random() < 0.5 else sb.material("metal", "metal"),
            inset=0.01,
        )
    return ch


def _clutter_on(sb, room, parent, c, yaw, w, d, z, n, kinds=None, max_h=None):
    """Small objects on a support surface of size w x d at height z (local frame c, yaw),
    at most ``max_h`` tall (the room under a shelf board above)."""
    rng = sb.rng
    kinds = kinds or ["cup", "bottle", "bowl", "vase", "box", "books", "paper", "plant", "lamp", "clutter", "bag"]
    placed = []
    # real surfaces carry more than the few items a uniform draw gives: double the tries
    for _ in range(2 * n):
        kind = str(rng.choice(kinds))
        if kind == "books":
            ow, od, oh = rng.uniform(0.12, 0.25), rng.uniform(0.15, 0.25), rng.uniform(0.03, 0.2)
        elif kind == "paper":
            ow, od, oh = 0.21, 0.3, rng.uniform(0.003, 0.02)
        elif kind == "box":
            ow, od, oh = rng.uniform(0.1, 0.4, 3)
        elif kind == "lamp":
            ow = od = rng.uniform(0.15, 0.3)
            oh = rng.uniform(0.3, 0.6)
        elif kind == "plant":
            ow = od = rng.uniform(0.12, 0.3)
            oh = rng.uniform(0.2, 0.6)
        else:
            ow = od = rng.uniform(0.05, 0.15)
            oh = rng.uniform(0.06, 0.35)
        if max_h is not None:
            oh = min(oh, max_h)
        if ow > w - 0.04 or od > d - 0.04 or oh <= 0.01:
            continue
        for _ in range(8):
            lx = rng.uniform(-w / 2 + ow / 2 + 0.02, w / 2 - ow / 2 - 0.02)
            ly = rng.uniform(-d / 2 + od / 2 + 0.02, d / 2 - od / 2 - 0.02)
            if all(abs(lx - px) > (ow + pw) / 2 or abs(ly - py) > (od + pd) / 2 for px, py, pw, pd in placed):
                break
        else:
            continue
        placed.append((lx, ly, ow, od))
        xy = c + _R2(yaw) @ np.array([lx, ly])
        oyaw = yaw + (rng.uniform(-0.5, 0.5) if kind in ("books", "paper", "box") else 0.0)
        o = sb.instance(kind, oyaw, room.room_id)
        _small_object(sb, o, kind, xy, oyaw, ow, od, oh, z)
        sb.on(o, parent)


def _small_object(sb, o, kind, xy, yaw, w, d, h, z):
    rng = sb.rng
    if kind in ("cup", "bottle", "vase", "bowl"):
        mat = sb.material(
            str(rng.choice(["plain", "plain", "metal", "stone"])),
            "object",
            specular=kind == "bottle" and rng.random() < 0.5,
        )
        r = w / 2
        if kind == "bottle":
            sb.cyl(o, (xy[0], xy[1], z + h * 0.35), r, h * 0.7, mat)
            sb.cyl(o, (xy[0], xy[1], z + h * 0.85), r * 0.4, h * 0.3, mat)
        else:
            sb.cyl(o, (xy[0], xy[1], z + h / 2), r, h, mat)
    elif kind == "lamp":
        sb.cyl(o, (xy[0], xy[1], z + 0.015), w * 0.4, 0.03, sb.material("metal", "metal"))
        sb.cyl(o, (xy[0], xy[1], z + h * 0.4), 0.012, h * 0.75, sb.material("metal", "metal"))
        glow = float(rng.uniform(0.0, 1.5))
        sb.cyl(o, (xy[0], xy[1], z + h * 0.85), w / 2, h * 0.3, sb.material("fabric", "lampshade", emissive=glow))
        if glow > 0.5:  # a lamp that is on also lights the room: from under its shade,
            # beside the pole (a light inside a closed part would be all shadow)
            sb.lights.append(
                {
                    "position": [float(xy[0]) + 0.05, float(xy[1]), float(z + h * 0.65)],
                    "intensity": float(rng.uniform(0.4, 1.5)),
                    "color": [1.0, float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.6, 0.85))],
                }
            )
    elif kind == "plant":
        sb.cyl(o, (xy[0], xy[1], z + h * 0.2), w * 0.35, h * 0.4, sb.material("stone", "pot"))
        leaf = sb.material("fabric", "plant")
        for _ in range(int(rng.integers(2, 5))):
            off = rng.uniform(-w * 0.3, w * 0.3, 2)
            s = rng.uniform(0.28, 0.56) * w
            # the turned leaf block stays within the plant's w x w footprint
            off = np.clip(off, -(w / 2 - 0.71 * s), w / 2 - 0.71 * s)
            sb.box(
                o,
                (xy[0] + off[0], xy[1] + off[1], z + h * rng.uniform(0.5, 0.8)),  # top <= h
                (s, s, h * 0.4),
                rng.uniform(0, np.pi),
                leaf,
            )
    elif kind == "books":
        n = int(rng.integers(1, 5))
        th = h / n
        for k in range(n):
            sb.box(
                o,
                (xy[0], xy[1], z + th * (k + 0.5)),
                (w * rng.uniform(0.8, 1), d * rng.uniform(0.8, 1), th * 0.95),
                yaw + rng.uniform(-0.2, 0.2),
                sb.material("paper", "book"),
            )
    else:
        hint = {"paper": "paper", "box": "cardboard", "bag": "fabric"}.get(kind, "object")
        tex = {"paper": "paper", "box": "paper", "bag": "fabric"}.get(kind, "plain")
        sb.box(o, (xy[0], xy[1], z + h / 2), (w, d, h), yaw, sb.material(tex, hint))


def _cabinet(sb, room, c, yaw, w, d, h, cls="cabinet", drawers=True):
    rng = sb.rng
    k = sb.instance(cls, yaw, room.room_id)
    mat = sb.material(str(rng.choice(["wood", "wood", "plain", "metal"])), "furniture")
    sb.local_box(k, c, yaw, (0, 0, h / 2 + 0.03), (w, d, h - 0.06), mat)
    sb.local_box(k, c, yaw, (0, -0.02, 0.015), (w - 0.04, d - 0.06, 0.03), mat)  # plinth
    front = sb.material("plain", "furniture") if rng.random() < 0.4 else mat
    if drawers:
        n = int(rng.integers(1, 5))
        gap = (h - 0.1) / n
        for i in range(n):
            sb.local_box(k, c, yaw, (0, d / 2 + 0.01, 0.08 + gap * (i + 0.5)), (w - 0.05, 0.02, gap - 0.02), front)
            sb.local_box(
                k,
                c,
                yaw,
                (0, d / 2 + 0.03, 0.08 + gap * (i + 0.5)),
                (min(0.15, w * 0.3), 0.02, 0.02),
                sb.material("metal", "metal"),
            )
    return k


def _bookshelf(sb, room, c, yaw, w, d, h):
    rng = sb.rng
    k = sb.instance("bookshelf" if rng.random() < 0.7 else "shelves", yaw, room.room_id)
    mat = sb.material(str(rng.choice(["wood", "wood", "plain"])), "furniture")
    t = 0.02
    for sx in (-1, 1):
        sb.local_box(k, c, yaw, (sx * (w / 2 - t / 2), 0, h / 2), (t, d, h), mat)
    sb.local_box(k, c, yaw, (0, -d / 2 + 0.005, h / 2), (w - 2 * t, 0.01, h), mat)
    n = int(rng.integers(3, 7))
    gap = h / n
    for i in range(n + 1):
        z = min(i * gap, h - t / 2)
        sb.local_box(k, c, yaw, (0, 0, max(z, t / 2)), (w - 2 * t, d, t), mat)
    for i in range(n):
        z = i * gap + t
        if rng.random() < 0.85:
            _book_row(sb, room, k, c, yaw, w - 2 * t, d, z, gap - t - 0.02)
        elif rng.random() < 0.5:
            _clutter_on(
                sb,
                room,
                k,
                c,
                yaw,
                w - 2 * t,
                d,
                z,
                int(rng.integers(1, 3)),
                ["box", "vase", "plant", "clutter"],
                max_h=gap - t - 0.02,
            )
    return k


def _book_row(sb, room, parent, c, yaw, w, d, z, max_h):
    rng = sb.rng
    if max_h < 0.1:
        return
    b = sb.instance("books", yaw, room.room_id)
    x = -w / 2 + rng.uniform(0, 0.15 * w)
    end = w / 2 - rng.uniform(0, 0.3 * w)
    while x < end - 0.02:
        bw = rng.uniform(0.015, 0.06)
        bh = rng.uniform(0.6, 1.0) * min(max_h, 0.35)
        bd = rng.uniform(0.6, 0.95) * d
        sb.local_box(
            b, c, yaw, (x + bw / 2, -d / 2 + bd / 2 + 0.01, z + bh / 2), (bw, bd, bh), sb.material("paper", "book")
        )
        x += bw + 0.002
    sb.on(b, parent)


def _sofa(sb, room, c, yaw, w, d, cls="sofa"):
    rng = sb.rng
    s = sb.instance(cls, yaw, room.room_id)
    mat = sb.material(str(rng.choice(["fabric", "fabric", "leather"])), "sofa")
    seat_h = rng.uniform(0.38, 0.48)
    back_h = rng.uniform(0.75, 0.95)
    arm = rng.uniform(0.1, 0.22)
    sb.local_box(s, c, yaw, (0, 0.05, seat_h / 2), (w - 2 * arm, d - 0.1, seat_h), mat)
    sb.local_box(s, c, yaw, (0, -d / 2 + 0.1, back_h / 2), (w, 0.2, back_h), mat)
    for sx in (-1, 1):
        sb.local_box(s, c, yaw, (sx * (w / 2 - arm / 2), 0.0, seat_h * 0.75 + 0.05), (arm, d, seat_h * 1.5 + 0.1), mat)
    # Cushions 0.38 m wide sit side by side between the arms: as many as fit there.
    inner = w - 2 * arm
    n_cush = min(int(rng.integers(0, 4)), int(inner // 0.4))
    for i in range(n_cush):
        p = sb.instance("pillow", yaw, room.room_id)
        lx = 0.0 if n_cush == 1 else -inner / 2 + 0.2 + i * (inner - 0.4) / (n_cush - 1)
        sb.local_box(p, c, yaw, (lx, -d / 2 + 0.3, seat_h + 0.2), (0.38, 0.12, 0.36), sb.material("fabric", "pillow"))
        sb.on(p, s)
    return s


def _bed(sb, room, c, yaw, w, d):
    rng = sb.rng
    b = sb.instance("bed", yaw, room.room_id)
    frame_mat = sb.material(str(rng.choice(["wood", "plain", "fabric"])), "bed")
    fh = rng.uniform(0.2, 0.4)
    mh = rng.uniform(0.15, 0.28)
    sb.local_box(b, c, yaw, (0, 0, fh / 2), (w, d, fh), frame_mat)
    sheet = sb.material("fabric", "bedding")
    sb.local_box(b, c, yaw, (0, 0.02, fh + mh / 2), (w - 0.04, d - 0.06, mh), sheet)
    hb = rng.uniform(0.8, 1.3)
    sb.local_box(b, c, yaw, (0, -d / 2 + 0.04, hb / 2), (w, 0.08, hb), frame_mat)
    if rng.random() < 0.7:  # blanket over the lower part
        sb.local_box(
            b, c, yaw, (0, 0.25 * d, fh + mh + 0.02), (w + 0.02, d * 0.55, 0.04), sb.material("fabric", "bedding")
        )
    support = b
    for i in range(int(rng.integers(1, 3)) if w < 1.3 else 2):
        p = sb.instance("pillow", yaw, room.room_id)
        # A narrow bed has room for one pillow across: a second one lies on the first.
        lx, lz = (0.0, 0.14 * i) if w < 1.3 else ((i - 0.5) * w * 0.48, 0.0)
        sb.local_box(
            p,
            c,
            yaw,
            (lx, -d / 2 + 0.3, fh + mh + 0.07 + lz),
            (min(0.6, w * 0.42), 0.38, 0.14),
            sb.material("fabric", "pillow"),
        )
        sb.on(p, support)
        if w < 1.3:
            support = p
    return b, fh + mh


def _tv_on_stand(sb, room, H):
    rng = sb.rng
    sw, sd, sh = rng.uniform(1.0, 1.8), rng.uniform(0.35, 0.5), rng.uniform(0.4, 0.6)
    spot = sb.place_against_wall(room, sw, sd, front_clear=1.2)
    if spot is None:
        return
    c, yaw = spot
    stand = _cabinet(sb, room, c, yaw, sw, sd, sh, cls="tv_stand", drawers=rng.random() < 0.5)
    tw = rng.uniform(0.7, min(1.6, sw))
    th = tw * 0.58
    tv = sb.instance("tv", yaw, room.room_id)
    body = sb.material("plain", "tv_body")
    screen = sb.material(
        "photo", "screen", emissive=float(rng.uniform(0.0, 1.5)), strength=1.0, color=(0.8, 0.8, 0.8), specular=True
    )
    sb.local_box(tv, c, yaw, (0, -0.02, sh + 0.02), (0.3, 0.2, 0.04), body)
    sb.local_box(tv, c, yaw, (0, -0.02, sh + 0.04 + th / 2 + 0.05), (tw, 0.05, th), body)
    sb.local_box(tv, c, yaw, (0, 0.006, sh + 0.04 + th / 2 + 0.05), (tw - 0.03, 0.002, th - 0.03), screen)
    sb.on(tv, stand)
    _clutter_on(
        sb,
        room,
        stand,
        c + _R2(yaw) @ np.array([0, 0.12]),
        yaw,
        sw,
        sd - 0.25,
        sh,
        int(rng.integers(0, 3)),
        ["box", "books", "vase", "plant", "clutter"],
    )
