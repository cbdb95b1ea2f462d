"""The scene builder the home and warehouse generators share: yawed boxes and vertical
cylinders grouped into object instances of fine classes, with materials, support relations
("on") and the 2D occupancy grid at robot height; and the room shell (walls with door and
window openings, window frames, door leaves). World frame: z up, floor at z = 0, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import ConfigError
from real3d.core.labels import NYU13, SYNTH_CLASSES
from real3d.synth.mesh import Material, MeshBuilder
from real3d.synth.textures import random_palette_color
from real3d.synth.types import ObjectGT, OccupancyGrid, Relation, Room

WALL_T = 0.08  # thickness of one room's wall layer, metres
GRID_RES_M = 0.05  # occupancy and placement grid resolution
ROBOT_BAND_M = (0.05, 1.8)  # geometry in this height band blocks the robot
DOOR_HEIGHT_RANGE = (2.0, 2.15)


# palette family used for a surface's role; roles not listed use their texture family
_PALETTE_FAMILIES = frozenset(
    {
        "any",
        "brick",
        "carpet",
        "ceiling",
        "fabric",
        "grass",
        "leather",
        "metal",
        "paper",
        "pattern",
        "plain",
        "plaster",
        "plastic",
        "stone",
        "tiles",
        "wall",
        "wood",
    }
)
_HINT_FAMILY = {
    "wall": "wall",
    "warehouse_wall": "wall",
    "ceiling": "ceiling",
    "door": "wood",
    "curtain": "fabric",
    "bedding": "fabric",
    "pillow": "fabric",
    "lampshade": "fabric",
    "rug": "carpet",
    "object": "plastic",
    "book": "pattern",
    "frame": "any",
    "pot": "stone",
    "plant": "grass",
    "barrel": "plastic",
    "rack_beam": "pattern",
    "pallet": "wood",
    "concrete": "stone",
    "pillar": "stone",
    "window_frame": "plain",
    "blinds": "plain",
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
    kind: str  # "box" | "cyl"
    center: np.ndarray
    size: np.ndarray  # box extents, or (2r, 2r, h) for cylinders
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
    def material(
        self,
        kind: str,
        hint: str | None = None,
        *,
        scale_m: float | None = None,
        emissive: float = 0.0,
        specular: bool = False,
        color=None,
        strength: float | None = None,
    ) -> int:
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

    def cyl(self, inst: int, center, radius: float, height: float, mat: int, cls: str | None = None) -> None:
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

    def place_against_wall(self, room: Room, w: float, d: float, front_clear: float = 0.5, tries: int = 40, sides=None):
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
            if self.is_free(c, w, d, yaw) and (front_clear <= 0 or self.is_free(front, w, front_clear, yaw)):
                self.stamp(c, w, d, yaw)
                return np.asarray(c), yaw
        return None

    def place_free(
        self,
        room: Room,
        w: float,
        d: float,
        yaw: float | None = None,
        pad: float = 0.3,
        tries: int = 40,
        near=None,
        near_radius: float = 1.5,
    ):
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
                pts = np.vstack(
                    [
                        np.column_stack([ring + p.center[:2], np.full(12, p.center[2] - p.size[2] / 2)]),
                        np.column_stack([ring + p.center[:2], np.full(12, p.center[2] + p.size[2] / 2)]),
                    ]
                )
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
            out.append(
                ObjectGT(
                    instance_id=inst,
                    class_name=cls,
                    label=NYU13.index(SYNTH_CLASSES[cls]),
                    center=np.array([center_xy[0], center_xy[1], mid_local[2]]),
                    size=hi - lo,
                    yaw_rad=yaw,
                    room_id=room,
                )
            )
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
# the room shell


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


def _window(sb, room, side, a, b, z0, z1):
    rng = sb.rng
    c, yaw = _side_point(room, side, (a + b) / 2, WALL_T / 2)
    w = sb.instance("window", yaw, room.room_id)
    view = sb.material(
        "photo", "window", emissive=float(rng.uniform(1.5, 4.0)), specular=True, color=(1.0, 1.0, 1.0), strength=1.0
    )
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
            sb.local_box(ci, c, yaw, (x, WALL_T / 2 + 0.06, (bottom + ctop) / 2), (cw, 0.06, ctop - bottom), cm)
            sb.attached(ci, w)
        cc, cyaw = _side_point(room, side, (a + b) / 2, WALL_T + 0.06)
        sb.stamp(cc, b - a + 2 * cw, 0.12, cyaw)
    elif style < 0.7:  # blinds over the upper part
        bi = sb.instance("blinds", yaw, room.room_id)
        hb = (z1 - z0) * rng.uniform(0.2, 0.9)
        sb.local_box(bi, c, yaw, (0, WALL_T / 2 + 0.03, z1 - hb / 2), (b - a, 0.03, hb), sb.material("plain", "blinds"))
        sb.attached(bi, w)


def _door_leaf(sb, room, side, a, wdoor, hdoor):
    """An open door leaf standing perpendicular to the wall, hinged at the opening's edge."""
    hinge, yaw = _side_point(room, side, a, WALL_T)
    d = sb.instance("door", yaw + np.pi / 2, room.room_id)
    # leaf along the room's inward direction from the hinge
    center = hinge + _R2(yaw) @ np.array([-0.03, wdoor / 2])
    sb.box(
        d,
        (center[0], center[1], hdoor / 2 - 0.005),
        (0.04, wdoor - 0.02, hdoor - 0.01),
        yaw,
        sb.material("wood", "door"),
    )
    sb.stamp(center, 0.1, wdoor, yaw)
