"""Procedural indoor scenes: multi-room homes and warehouses, with ground truth.

A scene is built from yawed boxes and vertical cylinders. Each primitive belongs to an
object instance of a fine class (``real3d.core.labels.SYNTH_CLASSES``). Besides the mesh,
generation records the object boxes, support relations ("on"), rooms and the 2D occupancy
grid at robot height. World frame: z up, floor at z = 0, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import ConfigError, InputError
from real3d.core.labels import NYU13, SYNTH_CLASSES
from real3d.synth.mesh import Material, MeshBuilder
from real3d.synth.textures import random_palette_color
from real3d.synth.types import ObjectGT, OccupancyGrid, Relation, Room, SceneGT

SCENE_KINDS = ("home", "warehouse")
WALL_T = 0.08          # thickness of one room's wall layer, metres
GRID_RES_M = 0.05      # occupancy and placement grid resolution
ROBOT_BAND_M = (0.05, 1.8)  # geometry in this height band blocks the robot
DOOR_HEIGHT_RANGE = (2.0, 2.15)


# palette family used for a surface's role; roles not listed use their texture family
_PALETTE_FAMILIES = frozenset({
    "any", "brick", "carpet", "ceiling", "fabric", "grass", "leather", "metal", "paper",
    "pattern", "plain", "plaster", "plastic", "stone", "tiles", "wall", "wood",
})
_HINT_FAMILY = {
    "wall": "wall", "warehouse_wall": "wall", "ceiling": "ceiling", "door": "wood",
    "curtain": "fabric", "bedding": "fabric", "pillow": "fabric", "lampshade": "fabric",
    "rug": "carpet", "object": "plastic", "book": "pattern", "frame": "any", "pot": "stone",
    "plant": "grass", "barrel": "plastic", "rack_beam": "pattern", "pallet": "wood",
    "concrete": "stone", "pillar": "stone", "window_frame": "plain", "blinds": "plain",
}


def _special_color(rng, hint):
    """Colours no general palette family covers well (cardboard, dark electronics)."""
    if hint == "cardboard":
        base = np.array([0.45, 0.3, 0.16]) * rng.uniform(0.6, 1.2)
        return np.clip(base + rng.normal(0, 0.03, 3), 0.02, 0.95)
    if hint == "tv_body":
        return np.full(3, rng.uniform(0.01, 0.06))
    return None


def _R2(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s], [s, c]])


@dataclass
class _Part:
    inst: int
    kind: str          # "box" | "cyl"
    center: np.ndarray
    size: np.ndarray   # box extents, or (2r, 2r, h) for cylinders
    yaw: float


class _SceneBuilder:
    """Mutable state while a scene is generated (instances, parts, placement mask)."""

    def __init__(self, rng: np.random.Generator, extent_xy: tuple[float, float]):
        self.rng = rng
        self.mb = MeshBuilder()
        self.parts: list[_Part] = []
        self.inst_info: dict[int, tuple[str, float, int]] = {}
        self.relations: list[Relation] = []
        self.rooms: list[Room] = []
        self.lights: list[dict] = []
        self.next_inst = 1
        self.extent = extent_xy
        nx = int(np.ceil(extent_xy[0] / GRID_RES_M)) + 1
        ny = int(np.ceil(extent_xy[1] / GRID_RES_M)) + 1
        # placement mask: True where furniture footprint or keep-clear zone already is
        self.taken = np.zeros((ny, nx), dtype=bool)
        # wall openings per room id: (side, a, b, z0, z1) as in _build_walls (doors, windows)
        self.openings: dict[int, list] = {}
        self._mat_cache: dict[tuple, int] = {}

    # -- materials --------------------------------------------------------------------
    def material(self, kind: str, hint: str | None = None, *, scale_m: float | None = None,
                 emissive: float = 0.0, specular: bool = False, color=None,
                 strength: float | None = None) -> int:
        rng = self.rng
        if color is None:
            col = _special_color(rng, hint)
            if col is None:
                family = _HINT_FAMILY.get(hint, kind if kind in _PALETTE_FAMILIES else "any")
                col = random_palette_color(rng, family)
        else:
            col = np.asarray(color)
        m = Material(
            kind=kind,
            variant=int(rng.integers(0, 1 << 16)),
            color=tuple(float(c) for c in col),
            strength=float(rng.uniform(0.4, 1.0)) if strength is None else strength,
            scale_m=float(rng.uniform(0.3, 1.5)) if scale_m is None else scale_m,
            emissive=emissive,
            specular=specular,
        )
        return self.mb.add_material(m)

    # -- instances and primitives -----------------------------------------------------
    def instance(self, cls: str, yaw: float = 0.0, room: int = -1) -> int:
        if cls not in SYNTH_CLASSES:
            raise ConfigError(f"unknown synthetic class {cls!r}")
        i = self.next_inst
        self.next_inst += 1
        self.inst_info[i] = (cls, float(yaw), room)
        return i

    def box(self, inst: int, center, size, yaw: float, mat: int, cls: str | None = None) -> None:
        cls = cls or self.inst_info[inst][0]
        off = tuple(self.rng.uniform(0, 256, 2))
        self.mb.add_box(center, size, yaw, cls, inst, mat, off)
        self.parts.append(_Part(inst, "box", np.asarray(center, float), np.asarray(size, float), yaw))

    def cyl(self, inst: int, center, radius: float, height: float, mat: int,
            cls: str | None = None) -> None:
        cls = cls or self.inst_info[inst][0]
        self.mb.add_cylinder(center, radius, height, cls, inst, mat)
        self.parts.append(
            _Part(inst, "cyl", np.asarray(center, float), np.array([2 * radius, 2 * radius, height]), 0.0)
        )

    def local_box(self, inst, origin_xy, yaw, local_center, size, mat, z_base=0.0, cls=None):
        """Box given in an object's local frame (x right, y front, z up from ``z_base``)."""
        lc = np.asarray(local_center, float)
        xy = np.asarray(origin_xy, float) + _R2(yaw) @ lc[:2]
        self.box(inst, (xy[0], xy[1], z_base + lc[2]), size, yaw, mat, cls)

    def on(self, child: int, parent: int) -> None:
        """``child`` rests on ``parent`` (support)."""
        self.relations.append(Relation(child, "on", parent))

    def attached(self, child: int, parent: int) -> None:
        """``child`` hangs on or is fixed to ``parent`` without resting on it."""
        self.relations.append(Relation(child, "attached_to", parent))

    # -- placement mask ---------------------------------------------------------------
    def _rect_cells(self, center_xy, w, d, yaw, pad=0.0):
        hw, hd = w / 2 + pad, d / 2 + pad
        r = np.hypot(hw, hd)
        cx, cy = center_xy
        j0 = max(int((cx - r) / GRID_RES_M), 0)
        j1 = min(int((cx + r) / GRID_RES_M) + 1, self.taken.shape[1] - 1)
        i0 = max(int((cy - r) / GRID_RES_M), 0)
        i1 = min(int((cy + r) / GRID_RES_M) + 1, self.taken.shape[0] - 1)
        if j1 < j0 or i1 < i0:
            return None
        xs = (np.arange(j0, j1 + 1) + 0.5) * GRID_RES_M - cx
        ys = (np.arange(i0, i1 + 1) + 0.5) * GRID_RES_M - cy
        X, Y = np.meshgrid(xs, ys)
        c, s = np.cos(yaw), np.sin(yaw)
        lx = c * X + s * Y
        ly = -s * X + c * Y
        inside = (np.abs(lx) <= hw) & (np.abs(ly) <= hd)
        return (slice(i0, i1 + 1), slice(j0, j1 + 1)), inside

    def is_free(self, center_xy, w, d, yaw, pad=0.0) -> bool:
        rc = self._rect_cells(center_xy, w, d, yaw, pad)
        if rc is None:
            return False
        sl, inside = rc
        return not (self.taken[sl] & inside).any()

    def stamp(self, center_xy, w, d, yaw, pad=0.0) -> None:
        rc = self._rect_cells(center_xy, w, d, yaw, pad)
        if rc is not None:
            sl, inside = rc
            self.taken[sl] |= inside

    def place_against_wall(self, room: Room, w: float, d: float, front_clear: float = 0.5,
                           tries: int = 40, sides=None):
        """Find a spot for a w x d footprint with its back to one of the room's walls.

        Returns (center_xy, yaw) with the object's local +y facing into the room, or None.
        """
        rng = self.rng
        sides = sides or ("S", "N", "W", "E")
        for _ in range(tries):
            side = sides[rng.integers(len(sides))]
            if side in ("S", "N"):
                span = (room.x0 + WALL_T + w / 2, room.x1 - WALL_T - w / 2)
            else:
                span = (room.y0 + WALL_T + w / 2, room.y1 - WALL_T - w / 2)
            if span[1] < span[0]:
                continue
            t = rng.uniform(*span)
            off = WALL_T + d / 2 + 0.01
            if side == "S":
                c, yaw = (t, room.y0 + off), 0.0
            elif side == "N":
                c, yaw = (t, room.y1 - off), np.pi
            elif side == "W":
                c, yaw = (room.x0 + off, t), -np.pi / 2
            else:
                c, yaw = (room.x1 - off, t), np.pi / 2
            # keep-clear zone in front is checked, not stamped, so others may share it
            front = np.asarray(c) + _R2(yaw) @ np.array([0.0, d / 2 + front_clear / 2])
            if self.is_free(c, w, d, yaw) and (
                front_clear <= 0 or self.is_free(front, w, front_clear, yaw)
            ):
                self.stamp(c, w, d, yaw)
                return np.asarray(c), yaw
        return None

    def place_free(self, room: Room, w: float, d: float, yaw: float | None = None,
                   pad: float = 0.3, tries: int = 40, near=None, near_radius: float = 1.5):
        rng = self.rng
        for _ in range(tries):
            y = rng.uniform(-np.pi, np.pi) if yaw is None else yaw
            cy_, sy_ = abs(np.cos(y)), abs(np.sin(y))
            ex = cy_ * w / 2 + sy_ * d / 2 + WALL_T + pad
            ey = sy_ * w / 2 + cy_ * d / 2 + WALL_T + pad
            if near is not None:
                c = np.asarray(near) + rng.uniform(-near_radius, near_radius, 2)
            else:
                c = np.array([rng.uniform(room.x0, room.x1), rng.uniform(room.y0, room.y1)])
            if not (room.x0 + ex <= c[0] <= room.x1 - ex and room.y0 + ey <= c[1] <= room.y1 - ey):
                continue
            if self.is_free(c, w, d, y, pad):
                self.stamp(c, w, d, y)
                return c, y
        return None

    # -- finishing --------------------------------------------------------------------
    def objects(self) -> list[ObjectGT]:
        by_inst: dict[int, list[np.ndarray]] = {}
        for p in self.parts:
            if p.kind == "box":
                c, s = np.cos(p.yaw), np.sin(p.yaw)
                R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
                signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
                pts = (signs * p.size / 2) @ R.T + p.center
            else:
                ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
                r = p.size[0] / 2
                ring = np.stack([np.cos(ang) * r, np.sin(ang) * r], 1)
                pts = np.vstack([
                    np.column_stack([ring + p.center[:2], np.full(12, p.center[2] - p.size[2] / 2)]),
                    np.column_stack([ring + p.center[:2], np.full(12, p.center[2] + p.size[2] / 2)]),
                ])
            by_inst.setdefault(p.inst, []).append(pts)
        out = []
        for inst, pts_list in sorted(by_inst.items()):
            cls, yaw, room = self.inst_info[inst]
            pts = np.vstack(pts_list)
            c, s = np.cos(yaw), np.sin(yaw)
            local_xy = pts[:, :2] @ np.array([[c, -s], [s, c]])  # rotate by -yaw
            lo = np.concatenate([local_xy.min(0), [pts[:, 2].min()]])
            hi = np.concatenate([local_xy.max(0), [pts[:, 2].max()]])
            mid_local = (lo + hi) / 2
            center_xy = _R2(yaw) @ mid_local[:2]
            out.append(ObjectGT(
                instance_id=inst, class_name=cls, label=NYU13.index(SYNTH_CLASSES[cls]),
                center=np.array([center_xy[0], center_xy[1], mid_local[2]]),
                size=hi - lo, yaw_rad=yaw, room_id=room,
            ))
        return out

    def occupancy(self, known_rect) -> OccupancyGrid:
        x0, y0, x1, y1 = known_rect
        res = GRID_RES_M
        nx = int(np.ceil((x1 - x0) / res))
        ny = int(np.ceil((y1 - y0) / res))
        occ = np.zeros((ny, nx), dtype=bool)
        xs = x0 + (np.arange(nx) + 0.5) * res
        ys = y0 + (np.arange(ny) + 0.5) * res
        zlo, zhi = ROBOT_BAND_M
        for p in self.parts:
            bottom = p.center[2] - p.size[2] / 2
            top = p.center[2] + p.size[2] / 2
            if top <= zlo or bottom >= zhi:
                continue
            r = 0.5 * np.hypot(p.size[0], p.size[1]) + res
            j0, j1 = np.searchsorted(xs, [p.center[0] - r, p.center[0] + r])
            i0, i1 = np.searchsorted(ys, [p.center[1] - r, p.center[1] + r])
            if j1 <= j0 or i1 <= i0:
                continue
            X, Y = np.meshgrid(xs[j0:j1] - p.center[0], ys[i0:i1] - p.center[1])
            if p.kind == "box":
                c, s = np.cos(p.yaw), np.sin(p.yaw)
                lx, ly = c * X + s * Y, -s * X + c * Y
                # A part thinner than a cell (a door leaf, a shelf's side board) still
                # occupies the row of cells its mid-plane crosses: half-extents are at least
                # half a cell, so it cannot fall between cell centres.
                hx, hy = max(p.size[0], res) / 2, max(p.size[1], res) / 2
                inside = (np.abs(lx) <= hx) & (np.abs(ly) <= hy)
            else:
                # the mesh is a 12-gon inscribed in the circle: use its inradius-safe test
                ang = np.arctan2(Y, X)
                seg = 2 * np.pi / 12
                rad = p.size[0] / 2
                local = np.mod(ang, seg) - seg / 2
                edge = rad * np.cos(seg / 2) / np.cos(local)
                # a pole thinner than a cell reaches the centres of the cells around it
                inside = np.hypot(X, Y) <= np.maximum(edge, res / np.sqrt(2))
            occ[i0:i1, j0:j1] |= inside
        known = np.ones_like(occ)
        return OccupancyGrid(occ, known, (float(x0), float(y0)), res, zlo, zhi)


# ---------------------------------------------------------------------------------------
# homes

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


def _build_walls(sb: _SceneBuilder, room: Room, height: float, doors, windows, mat: int):
    """Wall layers just inside the room rectangle, with openings cut for doors/windows.

    doors/windows: lists of (side, a, b, z0, z1) openings along the side's axis.
    """
    for side in ("S", "N", "W", "E"):
        inst = sb.instance("wall", 0.0, room.room_id)
        if side in ("S", "N"):
            lo, hi = room.x0, room.x1
            fixed = room.y0 + WALL_T / 2 if side == "S" else room.y1 - WALL_T / 2
        else:
            lo, hi = room.y0, room.y1
            fixed = room.x0 + WALL_T / 2 if side == "W" else room.x1 - WALL_T / 2
        ops = sorted([o[1:] for o in doors + windows if o[0] == side])
        cur = lo
        for a, b, z0, z1 in ops:
            _wall_piece(sb, inst, side, fixed, cur, a, 0.0, height, mat)
            _wall_piece(sb, inst, side, fixed, a, b, 0.0, z0, mat)
            _wall_piece(sb, inst, side, fixed, a, b, z1, height, mat)
            cur = b
        _wall_piece(sb, inst, side, fixed, cur, hi, 0.0, height, mat)


def _wall_piece(sb, inst, side, fixed, a, b, z0, z1, mat):
    """The part of a wall layer spanning [a, b] along its side and [z0, z1] in height."""
    if b - a < 1e-3 or z1 - z0 < 1e-3:
        return
    mid = (a + b) / 2
    if side in ("S", "N"):
        sb.box(inst, (mid, fixed, (z0 + z1) / 2), (b - a, WALL_T, z1 - z0), 0.0, mat)
    else:
        sb.box(inst, (fixed, mid, (z0 + z1) / 2), (WALL_T, b - a, z1 - z0), 0.0, mat)


def _opening_along(side, room):
    return (room.x0, room.x1) if side in ("S", "N") else (room.y0, room.y1)


def _side_point(room: Room, side: str, t: float, inset: float):
    """World xy of position t along a side, ``inset`` metres into the room, and the yaw
    whose local +y points into the room."""
    if side == "S":
        return np.array([t, room.y0 + inset]), 0.0
    if side == "N":
        return np.array([t, room.y1 - inset]), np.pi
    if side == "W":
        return np.array([room.x0 + inset, t]), -np.pi / 2
    return np.array([room.x1 - inset, t]), np.pi / 2


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
        wall_mat = sb.material(str(rng.choice(["plaster", "plaster", "plain", "plain", "brick"])),
                               "wall", strength=float(rng.uniform(0.1, 0.6)))
        ceil_mat = sb.material(str(rng.choice(["plaster", "plain"])), "ceiling",
                               strength=float(rng.uniform(0.05, 0.3)))
        f = sb.instance("floor", 0.0, room.room_id)
        sb.box(f, ((room.x0 + room.x1) / 2, (room.y0 + room.y1) / 2, -0.025),
               (room.x1 - room.x0, room.y1 - room.y0, 0.05), 0.0, floor_mat)
        c = sb.instance("ceiling", 0.0, room.room_id)
        sb.box(c, ((room.x0 + room.x1) / 2, (room.y0 + room.y1) / 2, H + 0.025),
               (room.x1 - room.x0, room.y1 - room.y0, 0.05), 0.0, ceil_mat)
        # windows on exterior sides
        windows = []
        ext = [s for s, on in (("S", room.y0 < 1e-6), ("N", room.y1 > D - 1e-6),
                               ("W", room.x0 < 1e-6), ("E", room.x1 > W - 1e-6)) if on]
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
        sb.cyl(lamp, (cx, cy, H - 0.065), rng.uniform(0.12, 0.25), 0.12,
               sb.material("plain", "lamp", emissive=float(rng.uniform(1.0, 3.0))))
        sb.lights.append({"position": [cx, cy, H - 0.3], "intensity": float(rng.uniform(2.0, 6.0)),
                          "color": list(rng.uniform(0.85, 1.0, 3))})
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
        seed=int(seed), kind="home", mesh=sb.mb.build(), objects=objects,
        relations=sb.relations, rooms=rooms, occupancy=sb.occupancy((0.0, 0.0, W, D)),
        materials=[m.to_dict() for m in sb.mb.materials], lights=sb.lights,
    )


def _window(sb, room, side, a, b, z0, z1):
    rng = sb.rng
    c, yaw = _side_point(room, side, (a + b) / 2, WALL_T / 2)
    w = sb.instance("window", yaw, room.room_id)
    view = sb.material("photo", "window", emissive=float(rng.uniform(1.5, 4.0)), specular=True,
                       color=(1.0, 1.0, 1.0), strength=1.0)
    sb.box(w, (c[0], c[1], (z0 + z1) / 2), (b - a, 0.02, z1 - z0), yaw, view)
    frame_mat = sb.material("plain", "window_frame")
    sb.local_box(w, c, yaw, (0, 0.03, z0 + 0.02), (b - a, 0.08, 0.04), frame_mat, cls="window")
    style = rng.random()
    if style < 0.5:  # curtains at both sides
        cm = sb.material("fabric", "curtain")
        cw = rng.uniform(0.25, 0.6)
        bottom = 0.0 if rng.random() < 0.6 else z0 - 0.1
        ctop = min(z1 + 0.15, z1 + 0.3)
        for sgn in (-1, 1):
            ci = sb.instance("curtain", yaw, room.room_id)
            x = sgn * ((b - a) / 2 + cw / 2 - 0.1)
            sb.local_box(ci, c, yaw, (x, WALL_T / 2 + 0.06, (bottom + ctop) / 2),
                         (cw, 0.06, ctop - bottom), cm)
            sb.attached(ci, w)
        cc, cyaw = _side_point(room, side, (a + b) / 2, WALL_T + 0.06)
        sb.stamp(cc, b - a + 2 * cw, 0.12, cyaw)
    elif style < 0.7:  # blinds over the upper part
        bi = sb.instance("blinds", yaw, room.room_id)
        hb = (z1 - z0) * rng.uniform(0.2, 0.9)
        sb.local_box(bi, c, yaw, (0, WALL_T / 2 + 0.03, z1 - hb / 2), (b - a, 0.03, hb),
                     sb.material("plain", "blinds"))
        sb.attached(bi, w)


def _door_leaf(sb, room, side, a, wdoor, hdoor):
    """An open door leaf standing perpendicular to the wall, hinged at the opening's edge."""
    hinge, yaw = _side_point(room, side, a, WALL_T)
    d = sb.instance("door", yaw + np.pi / 2, room.room_id)
    # leaf along the room's inward direction from the hinge
    center = hinge + _R2(yaw) @ np.array([-0.03, wdoor / 2])
    sb.box(d, (center[0], center[1], hdoor / 2 - 0.005), (0.04, wdoor - 0.02, hdoor - 0.01), yaw,
           sb.material("wood", "door"))
    sb.stamp(center, 0.1, wdoor, yaw)


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
    _add_legs(sb, t, c, yaw, w, d, h - top, rng.uniform(0.04, 0.07), leg_mat,
              round_legs=rng.random() < 0.4)
    if cls == "desk" and rng.random() < 0.6:  # a drawer block under one side
        dw = min(0.45, w * 0.35)
        sb.local_box(t, c, yaw, (w / 2 - dw / 2 - 0.03, 0, (h - top) / 2 + 0.05),
                     (dw, d * 0.9, h - top - 0.1), mat)
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
        _add_legs(sb, ch, c, yaw, sw, sd, seat_h - 0.06, 0.035,
                  mat if rng.random() < 0.5 else sb.material("metal", "metal"), inset=0.01)
    return ch


def _clutter_on(sb, room, parent, c, yaw, w, d, z, n, kinds=None, max_h=None):
    """Small objects on a support surface of size w x d at height z (local frame c, yaw),
    at most ``max_h`` tall (the room under a shelf board above)."""
    rng = sb.rng
    kinds = kinds or ["cup", "bottle", "bowl", "vase", "box", "books", "paper", "plant",
                      "lamp", "clutter", "bag"]
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
            if all(abs(lx - px) > (ow + pw) / 2 or abs(ly - py) > (od + pd) / 2
                   for px, py, pw, pd in placed):
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
        mat = sb.material(str(rng.choice(["plain", "plain", "metal", "stone"])), "object",
                          specular=kind == "bottle" and rng.random() < 0.5)
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
        sb.cyl(o, (xy[0], xy[1], z + h * 0.85), w / 2, h * 0.3,
               sb.material("fabric", "lampshade", emissive=glow))
        if glow > 0.5:  # a lamp that is on also lights the room: from under its shade,
            # beside the pole (a light inside a closed part would be all shadow)
            sb.lights.append({"position": [float(xy[0]) + 0.05, float(xy[1]), float(z + h * 0.65)],
                              "intensity": float(rng.uniform(0.4, 1.5)),
                              "color": [1.0, float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.6, 0.85))]})
    elif kind == "plant":
        sb.cyl(o, (xy[0], xy[1], z + h * 0.2), w * 0.35, h * 0.4, sb.material("stone", "pot"))
        leaf = sb.material("fabric", "plant")
        for _ in range(int(rng.integers(2, 5))):
            off = rng.uniform(-w * 0.3, w * 0.3, 2)
            s = rng.uniform(0.28, 0.56) * w
            # the turned leaf block stays within the plant's w x w footprint
            off = np.clip(off, -(w / 2 - 0.71 * s), w / 2 - 0.71 * s)
            sb.box(o, (xy[0] + off[0], xy[1] + off[1], z + h * rng.uniform(0.5, 0.8)),  # top <= h
                   (s, s, h * 0.4), rng.uniform(0, np.pi), leaf)
    elif kind == "books":
        n = int(rng.integers(1, 5))
        th = h / n
        for k in range(n):
            sb.box(o, (xy[0], xy[1], z + th * (k + 0.5)), (w * rng.uniform(0.8, 1), d * rng.uniform(0.8, 1), th * 0.95),
                   yaw + rng.uniform(-0.2, 0.2), sb.material("paper", "book"))
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
            sb.local_box(k, c, yaw, (0, d / 2 + 0.01, 0.08 + gap * (i + 0.5)),
                         (w - 0.05, 0.02, gap - 0.02), front)
            sb.local_box(k, c, yaw, (0, d / 2 + 0.03, 0.08 + gap * (i + 0.5)),
                         (min(0.15, w * 0.3), 0.02, 0.02), sb.material("metal", "metal"))
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
            _clutter_on(sb, room, k, c, yaw, w - 2 * t, d, z, int(rng.integers(1, 3)),
                        ["box", "vase", "plant", "clutter"], max_h=gap - t - 0.02)
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
        sb.local_box(b, c, yaw, (x + bw / 2, -d / 2 + bd / 2 + 0.01, z + bh / 2), (bw, bd, bh),
                     sb.material("paper", "book"))
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
        sb.local_box(s, c, yaw, (sx * (w / 2 - arm / 2), 0.0, seat_h * 0.75 + 0.05),
                     (arm, d, seat_h * 1.5 + 0.1), mat)
    # Cushions 0.38 m wide sit side by side between the arms: as many as fit there.
    inner = w - 2 * arm
    n_cush = min(int(rng.integers(0, 4)), int(inner // 0.4))
    for i in range(n_cush):
        p = sb.instance("pillow", yaw, room.room_id)
        lx = 0.0 if n_cush == 1 else -inner / 2 + 0.2 + i * (inner - 0.4) / (n_cush - 1)
        sb.local_box(p, c, yaw, (lx, -d / 2 + 0.3, seat_h + 0.2), (0.38, 0.12, 0.36),
                     sb.material("fabric", "pillow"))
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
        sb.local_box(b, c, yaw, (0, 0.25 * d, fh + mh + 0.02), (w + 0.02, d * 0.55, 0.04),
                     sb.material("fabric", "bedding"))
    support = b
    for i in range(int(rng.integers(1, 3)) if w < 1.3 else 2):
        p = sb.instance("pillow", yaw, room.room_id)
        # A narrow bed has room for one pillow across: a second one lies on the first.
        lx, lz = (0.0, 0.14 * i) if w < 1.3 else ((i - 0.5) * w * 0.48, 0.0)
        sb.local_box(p, c, yaw, (lx, -d / 2 + 0.3, fh + mh + 0.07 + lz), (min(0.6, w * 0.42), 0.38, 0.14),
                     sb.material("fabric", "pillow"))
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
    screen = sb.material("photo", "screen", emissive=float(rng.uniform(0.0, 1.5)), strength=1.0,
                         color=(0.8, 0.8, 0.8), specular=True)
    sb.local_box(tv, c, yaw, (0, -0.02, sh + 0.02), (0.3, 0.2, 0.04), body)
    sb.local_box(tv, c, yaw, (0, -0.02, sh + 0.04 + th / 2 + 0.05), (tw, 0.05, th), body)
    sb.local_box(tv, c, yaw, (0, 0.006, sh + 0.04 + th / 2 + 0.05), (tw - 0.03, 0.002, th - 0.03), screen)
    sb.on(tv, stand)
    _clutter_on(sb, room, stand, c + _R2(yaw) @ np.array([0, 0.12]), yaw, sw, sd - 0.25, sh,
                int(rng.integers(0, 3)), ["box", "books", "vase", "plant", "clutter"])


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
            sb.local_box(rug, front, yaw, (0, 0, 0.005), (sw * 1.1, 1.6, 0.01),
                         sb.material(str(rng.choice(["carpet", "fabric"])), "rug"))
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
        spot = (sb.place_against_wall(room, w, w, front_clear=0.3) if rng.random() < 0.6
                else sb.place_free(room, w, w, pad=0.2))
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
                _clutter_on(sb, room, n, nc, yaw, 0.42, 0.4, nh, int(rng.integers(0, 3)),
                            ["lamp", "books", "cup", "clutter"])
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
            sb.local_box(s, c, yaw, (rng.uniform(-w / 4, w / 4), 0.0, 0.905), (0.5, 0.4, 0.01),
                         sb.material("metal", "metal", specular=True))
            sb.on(s, k)
        _clutter_on(sb, room, k, c, yaw, w, d, 0.9, int(rng.integers(1, 6)),
                    ["cup", "bottle", "bowl", "box", "clutter", "vase"])
        if rng.random() < 0.7:  # upper cabinets
            u = sb.instance("cabinet", yaw, room.room_id)
            sb.local_box(u, c, yaw, (0, -d / 2 + 0.18, min(H - 0.4, 2.2) - 0.35), (w, 0.35, 0.7),
                         sb.material(str(rng.choice(["wood", "plain"])), "furniture"))
    if rng.random() < 0.7:
        spot = sb.place_against_wall(room, 0.75, 0.7, front_clear=0.8)
        if spot is not None:
            f = sb.instance("fridge", spot[1], room.room_id)
            sb.local_box(f, spot[0], spot[1], (0, 0, 0.9), (0.7, 0.68, 1.8),
                         sb.material(str(rng.choice(["plain", "metal"])), "appliance"))
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
        _clutter_on(sb, room, t, c + _R2(yaw) @ np.array([0, 0.15]), yaw, w, d - 0.35, h,
                    int(rng.integers(1, 5)), ["paper", "books", "cup", "lamp", "clutter", "box"])
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
    ok = [c for c in cands if abs(c) <= lim + 1e-9
          and all(abs(c - c2) >= (w2 + width) / 2 + gap - 1e-9 for c2, w2 in placed)]
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
    "living": _furnish_living, "bedroom": _furnish_bedroom, "kitchen": _furnish_kitchen,
    "office": _furnish_office, "dining": _furnish_dining,
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
        if any(sd == side and t - pw / 2 < b + 0.05 and a - 0.05 < t + pw / 2
               and zc - ph / 2 < z1 + 0.05 and z0 - 0.05 < zc + ph / 2 for sd, a, b, z0, z1 in hung):
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
        sb.box(p, (front[0], front[1], zc), (pw - 0.06, 0.002, ph - 0.06), yaw,
               sb.material("photo", "picture", color=(1, 1, 1), strength=1.0,
                           specular=sb.inst_info[p][0] == "mirror"))


def _covers_opening(sb, room, side, a, b, z0, z1, margin=0.1) -> bool:
    """True when [a, b] x [z0, z1] on ``side`` of ``room`` comes within ``margin`` of one of
    the room's openings (doors, windows)."""
    return any(o[0] == side and a < o[2] + margin and b > o[1] - margin and z0 < o[4] + margin
               and z1 > o[3] - margin for o in sb.openings.get(room.room_id, []))


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
        sb.box(k, (c[0], c[1], z - 0.01), (w, d, 0.02), yaw,
               sb.material(str(rng.choice(["wood", "plain"])), "furniture"))
        if rng.random() < 0.5:
            _book_row(sb, room, k, c, yaw, w, d, z, 0.3)
        else:
            _clutter_on(sb, room, k, c, yaw, w, d, z, int(rng.integers(2, 5)),
                        ["vase", "box", "plant", "clutter", "books", "cup", "bottle"])


def _scatter_floor_objects(sb, room):
    rng = sb.rng
    _fill_walls(sb, room, int(rng.integers(2, 6)))
    _floor_extras(sb, room, int(rng.integers(1, 4)))


def _fill_walls(sb, room, n):
    """Extra furniture along free wall stretches: real rooms are cluttered, and NYUv2's
    frames are dominated by furniture and objects rather than bare walls."""
    rng = sb.rng
    for _ in range(n):
        what = str(rng.choice(["shelf_or_cabinet", "shelf_or_cabinet", "side_table", "chair",
                               "desk", "boxes", "armchair"]))
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
                    sb.box(b, (spot[0][0], spot[0][1], z + bh / 2), (w * rng.uniform(0.8, 1), w * rng.uniform(0.8, 1), bh),
                           spot[1] + rng.uniform(-0.1, 0.1), sb.material("paper", "cardboard"))
                    if parent is not None:
                        sb.on(b, parent)
                    parent = b
                    z += bh


# ---------------------------------------------------------------------------------------
# warehouses

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
    windows = [w for i, w in enumerate(windows)
               if all(w[0] != o[0] or w[1] > o[2] + 0.3 or w[2] < o[1] - 0.3 for o in windows[:i])]
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
            sb.cyl(sb.instance("lamp", 0.0, 0), (lx, ly, H - 0.09), 0.3, 0.17,
                   sb.material("plain", "lamp", emissive=float(rng.uniform(1.5, 3.0))))
            sb.lights.append({"position": [lx, ly, H - 0.5], "intensity": float(rng.uniform(6, 14)),
                              "color": list(rng.uniform(0.85, 1.0, 3))})
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
            _rack(sb, room, np.array([x0 + length / 2, y]), length, rack_d, rack_h, levels, bays,
                  beam_mat, upright_mat, deck_mat)
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
            sb.local_box(b, cc, yaw, (rng.uniform(-0.1, 0.1), rng.uniform(-0.05, 0.05), z + bh / 2),
                         (bw, bd, bh), sb.material("paper", "cardboard"))
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
            sb.box(o, (spot[0][0], spot[0][1], h / 2), (w, w, h), spot[1],
                   sb.material("paper" if kind == "loose_box" else "wood", "cardboard"))
    objects = sb.objects()
    return SceneGT(
        seed=int(seed), kind="warehouse", mesh=sb.mb.build(), objects=objects,
        relations=sb.relations, rooms=[room], occupancy=sb.occupancy((0.0, 0.0, W, D)),
        materials=[m.to_dict() for m in sb.mb.materials], lights=sb.lights,
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
                sb.local_box(p, c, 0.0, (x + pw / 2, rng.uniform(-0.02, 0.02), zb + ph / 2),
                             (pw, pd, ph), sb.material("paper", "cardboard"))
                sb.on(p, r)
                x += pw + rng.uniform(0.02, 0.3)


def generate_scene(seed: int, kind: str = "home") -> SceneGT:
    """A scene of the given kind (``"home"`` or ``"warehouse"``); deterministic in seed."""
    if kind == "home":
        return generate_home(seed)
    if kind == "warehouse":
        return generate_warehouse(seed)
    raise ConfigError(f"unknown scene kind {kind!r}; valid: {', '.join(SCENE_KINDS)}")
