"""Small analytic indoor scenes of boxes, ray-cast into labelled RGB-D frames.

Made for the mapping, scene-graph and navigation tests and benchmarks: every quantity is
known exactly (box poses, per-face labels, 2D occupancy), frames render in milliseconds, and
the output uses the ground-truth containers of ``real3d.core.gt`` (``SceneGT``) and the data
engine's ``SyntheticSequence``, so the same evaluation code runs on both. Rendering uses
Open3D's ``RaycastingScene`` with rays through pixel centres (cx + 0.5, cy + 0.5, see ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.counts import ratio_count
from real3d.core.errors import InputError
from real3d.core.frame import Frame
from real3d.core.gt import ObjectGT, OccupancyGrid, Relation, Room, SceneGT, SceneMesh
from real3d.core.labels import NYU13
from real3d.core.pose import camera_from_yaw_pitch
from real3d.synth.render import MeshCaster
from real3d.synth.types import SyntheticSequence

STRUCTURE_LABELS = (NYU13.index("floor"), NYU13.index("wall"), NYU13.index("ceiling"), NYU13.index("window"))


@dataclass(frozen=True)
class BoxPart:
    """A gravity-aligned box: centre (3,), size (3,) along its own x, y and world z, yaw."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw_rad: float
    label: int
    instance_id: int
    class_name: str


def box_mesh(center, size, yaw_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (8, 3) float64 and outward triangles (12, 3) int32 of a yaw-rotated box."""
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    verts = (signs * np.asarray(size, float) / 2) @ R.T + np.asarray(center, float)
    # Vertex index = 4*ix + 2*iy + iz with ix, iy, iz in {0, 1}.
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = []
    for a, b, c_, d in quads:
        tris += [(a, b, c_), (a, c_, d)]
    return verts, np.array(tris, np.int32)


def boxes_mesh(parts) -> SceneMesh:
    """Labelled triangle mesh of ``BoxPart`` boxes (12 faces each; fine class 0)."""
    verts, tris, f_lab, f_inst = [], [], [], []
    n_v = 0
    for p in parts:
        v, t = box_mesh(p.center, p.size, p.yaw_rad)
        verts.append(v)
        tris.append(t + n_v)
        n_v += v.shape[0]
        f_lab.append(np.full(t.shape[0], p.label, np.uint8))
        f_inst.append(np.full(t.shape[0], p.instance_id, np.int32))
    n_f = sum(t.shape[0] for t in tris)
    return SceneMesh(
        vertices=np.concatenate(verts).astype(np.float32),
        triangles=np.concatenate(tris).astype(np.int32),
        face_class=np.zeros(n_f, np.int16),
        face_label=np.concatenate(f_lab),
        face_instance=np.concatenate(f_inst),
        face_material=np.zeros(n_f, np.int32),
    )


def boxes_scene(parts) -> SceneGT:
    """A ``SceneGT`` holding only the mesh of boxes given as ``BoxPart`` or tuples
    (center, size, yaw_rad, label[, instance_id]); no objects, rooms or occupancy (a
    placeholder grid). For tests that need a hand-made arrangement."""
    boxes = [
        p if isinstance(p, BoxPart) else BoxPart(p[0], p[1], p[2], p[3], p[4] if len(p) > 4 else 0, "") for p in parts
    ]
    occ = OccupancyGrid(np.zeros((1, 1), bool), np.ones((1, 1), bool), (0.0, 0.0), 1.0, 0.1, 1.5)
    return SceneGT(0, "test", boxes_mesh(boxes), [], [], [], occ)


def _room_parts(x0, y0, x1, y1, height, wall_t, next_id, door_y=None, door_w=0.9):
    """Floor, ceiling and four walls of an axis-aligned room; an optional door gap in the
    east wall (x = x1) centred at ``door_y``."""
    wall, floor, ceil = NYU13.index("wall"), NYU13.index("floor"), NYU13.index("ceiling")
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, d = x1 - x0, y1 - y0
    parts = [
        BoxPart((cx, cy, -0.025), (w + 2 * wall_t, d + 2 * wall_t, 0.05), 0.0, floor, next_id, "floor"),
        BoxPart((cx, cy, height + 0.025), (w + 2 * wall_t, d + 2 * wall_t, 0.05), 0.0, ceil, next_id + 1, "ceiling"),
        BoxPart((cx, y0 - wall_t / 2, height / 2), (w + 2 * wall_t, wall_t, height), 0.0, wall, next_id + 2, "wall"),
        BoxPart((cx, y1 + wall_t / 2, height / 2), (w + 2 * wall_t, wall_t, height), 0.0, wall, next_id + 3, "wall"),
        BoxPart((x0 - wall_t / 2, cy, height / 2), (wall_t, d, height), 0.0, wall, next_id + 4, "wall"),
    ]
    if door_y is None:
        parts.append(BoxPart((x1 + wall_t / 2, cy, height / 2), (wall_t, d, height), 0.0, wall, next_id + 5, "wall"))
    else:
        lo, hi = door_y - door_w / 2, door_y + door_w / 2
        parts.append(
            BoxPart(
                (x1 + wall_t / 2, (y0 + lo) / 2, height / 2), (wall_t, lo - y0, height), 0.0, wall, next_id + 5, "wall"
            )
        )
        parts.append(
            BoxPart(
                (x1 + wall_t / 2, (hi + y1) / 2, height / 2), (wall_t, y1 - hi, height), 0.0, wall, next_id + 6, "wall"
            )
        )
    return parts


def make_toy_scene(seed: int = 0, two_rooms: bool = True, height_m: float = 2.6) -> SceneGT:
    """A furnished one- or two-room scene as a ``SceneGT``.

    Room 0 spans x in [0, 5], y in [0, 4]; room 1 (when ``two_rooms``) x in [5.1, 9.1],
    y in [0, 4], joined by a 0.9 m door. Furniture positions jitter with ``seed``.
    Objects carry instance ids >= 100; structure parts (floor, walls, ceiling) have ids
    1..99 in the mesh but are not listed in ``objects``.
    """
    rng = np.random.default_rng(seed)
    wall_t = 0.1
    lab = NYU13.index
    parts = _room_parts(0.0, 0.0, 5.0, 4.0, height_m, wall_t, 1, door_y=2.0 if two_rooms else None)
    rooms = [Room(0, "living_room", 0.0, 0.0, 5.0, 4.0)]
    if two_rooms:
        r1 = _room_parts(5.1, 0.0, 9.1, 4.0, height_m, wall_t, 20)
        # Room 1 shares room 0's east wall: drop its own west wall.
        parts += [p for p in r1 if not (p.class_name == "wall" and p.size[0] == wall_t and p.center[0] < 5.2)]
        rooms.append(Room(1, "bedroom", 5.1, 0.0, 9.1, 4.0))

    def j(scale=0.15):
        return float(rng.uniform(-scale, scale))

    furniture = [
        # (class, label, centre xy, size xyz, yaw, room)
        ("table", lab("table"), (1.6 + j(), 1.4 + j()), (1.2, 0.8, 0.75), 0.3 + j(0.2), 0),
        ("chair", lab("chair"), (0.6 + j(0.1), 2.9 + j(0.1)), (0.5, 0.5, 0.9), -0.5 + j(0.3), 0),
        ("sofa", lab("sofa"), (3.4 + j(), 3.45), (1.8, 0.8, 0.85), 0.0, 0),
        ("cabinet", lab("furniture"), (4.55, 0.55 + j(0.1)), (0.7, 0.5, 1.2), 0.0, 0),
    ]
    if two_rooms:
        furniture += [
            ("bed", lab("bed"), (7.6 + j(0.1), 2.9), (1.6, 2.0, 0.6), np.pi / 2, 1),
            ("desk", lab("table"), (6.2 + j(), 0.6), (1.2, 0.6, 0.75), 0.0, 1),
            ("wardrobe", lab("furniture"), (8.6, 0.6 + j(0.1)), (0.6, 1.0, 1.9), 0.0, 1),
        ]
    objects: list[ObjectGT] = []
    relations: list[Relation] = []
    next_id = 100
    for name, label, (x, y), size, yaw, room in furniture:
        c = (x, y, size[2] / 2)
        parts.append(BoxPart(c, size, yaw, label, next_id, name))
        objects.append(ObjectGT(next_id, name, label, np.array(c), np.array(size, float), float(yaw), room))
        next_id += 1
    # Small things standing on the table and the desk.
    supports = [o for o in objects if o.class_name in ("table", "desk")]
    for sup in supports:
        size = (0.3, 0.25, 0.25)
        c = (float(sup.center[0]) + j(0.2), float(sup.center[1]) + j(0.1), float(sup.size[2]) + size[2] / 2)
        yaw = float(sup.yaw_rad)
        parts.append(BoxPart(c, size, yaw, lab("objects"), next_id, "box"))
        objects.append(ObjectGT(next_id, "box", lab("objects"), np.array(c), np.array(size, float), yaw, sup.room_id))
        relations.append(Relation(next_id, "on", sup.instance_id))
        next_id += 1

    mesh = boxes_mesh(parts)
    occupancy = rasterize_occupancy(parts, rooms, resolution_m=0.05, z_min_m=0.05, z_max_m=1.6)
    return SceneGT(
        seed=seed, kind="toy", mesh=mesh, objects=objects, relations=relations, rooms=rooms, occupancy=occupancy
    )


def rasterize_occupancy(parts, rooms, resolution_m: float, z_min_m: float, z_max_m: float) -> OccupancyGrid:
    """2D occupancy of box parts whose z-extent meets [z_min_m, z_max_m]."""
    x0 = min(r.x0 for r in rooms) - 0.3
    y0 = min(r.y0 for r in rooms) - 0.3
    x1 = max(r.x1 for r in rooms) + 0.3
    y1 = max(r.y1 for r in rooms) + 0.3
    w = ratio_count(x1 - x0, resolution_m)
    h = ratio_count(y1 - y0, resolution_m)
    xs = x0 + (np.arange(w) + 0.5) * resolution_m
    ys = y0 + (np.arange(h) + 0.5) * resolution_m
    X, Y = np.meshgrid(xs, ys)
    occ = np.zeros((h, w), bool)
    for p in parts:
        lo, hi = p.center[2] - p.size[2] / 2, p.center[2] + p.size[2] / 2
        if hi < z_min_m or lo > z_max_m:
            continue
        c, s = np.cos(p.yaw_rad), np.sin(p.yaw_rad)
        dx, dy = X - p.center[0], Y - p.center[1]
        lx, ly = c * dx + s * dy, -s * dx + c * dy
        occ |= (np.abs(lx) <= p.size[0] / 2) & (np.abs(ly) <= p.size[1] / 2)
    known = np.zeros((h, w), bool)
    for r in rooms:
        known |= (X >= r.x0 - 0.1) & (X <= r.x1 + 0.1) & (Y >= r.y0 - 0.1) & (Y <= r.y1 + 0.1)
    return OccupancyGrid(occ, known, (x0, y0), resolution_m, z_min_m, z_max_m)


class ToyRenderer:
    """Ray-casts a ``SceneGT`` mesh into labelled RGB-D frames, flat-shaded by class."""

    def __init__(self, scene: SceneGT) -> None:
        self.scene = scene
        self._caster = MeshCaster(scene.mesh)

    def render(
        self, intrinsics: Intrinsics, world_T_cam: np.ndarray, rng=None, depth_noise_m: float = 0.0, index: int = 0
    ) -> Frame:
        """One frame: depth (z, metres), labels, instances, class-coloured shaded RGB.

        ``depth_noise_m`` adds Gaussian noise of that sigma at 1 m, growing with depth^2.
        """
        views = self._caster.cast(world_T_cam, intrinsics)
        labels, inst = self._caster.ground_truth(views)
        hit = views.face >= 0
        clean = views.depth_m
        light = np.array([0.3, 0.5, 0.8])
        shade = 0.55 + 0.45 * np.abs(views.normals_cam @ (light / np.linalg.norm(light)))
        rgb = (NYU13.colors[labels].astype(np.float32) * shade[..., None]).clip(0, 255).astype(np.uint8)
        depth = clean.copy()
        if depth_noise_m > 0:
            rng = np.random.default_rng(index) if rng is None else rng
            noise = rng.normal(0.0, 1.0, depth.shape).astype(np.float32) * depth_noise_m * depth**2
            depth = np.where(hit, np.maximum(depth + noise, 0.0), 0.0).astype(np.float32)
        return Frame(
            rgb=rgb,
            depth_m=depth,
            intrinsics=intrinsics,
            world_T_cam=world_T_cam,
            timestamp_s=index / 30.0,
            labels=labels,
            instances=inst,
            depth_clean_m=clean,
            index=index,
        )


def toy_trajectory(scene: SceneGT, n_frames: int, height_m: float = 1.3, pitch_rad: float = -0.35) -> list[np.ndarray]:
    """Camera poses walking through the rooms' centres while turning a full circle in each."""
    if n_frames < 1:
        raise InputError(f"toy_trajectory: expected n_frames >= 1, got {n_frames}")
    waypoints = []
    for r in scene.rooms:
        waypoints.append(((r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2))
    per_room = max(1, n_frames // len(waypoints))
    poses = []
    for i in range(n_frames):
        k = min(i // per_room, len(waypoints) - 1)
        f = (i - k * per_room) / per_room
        x, y = waypoints[k]
        # Small circle around the room centre so views differ in position, not only heading.
        yaw = 2 * np.pi * f
        pos = (x + 0.4 * np.cos(yaw + np.pi), y + 0.4 * np.sin(yaw + np.pi), height_m)
        poses.append(camera_from_yaw_pitch(pos, yaw, pitch_rad))
    return poses


def toy_sequence(
    seed: int = 0,
    n_frames: int = 48,
    size=(240, 320),
    two_rooms: bool = True,
    depth_noise_m: float = 0.0,
    hfov_rad: float = 1.02,
) -> SyntheticSequence:
    """Frames of ``make_toy_scene(seed)`` along ``toy_trajectory``; size is (H, W)."""
    scene = make_toy_scene(seed, two_rooms=two_rooms)
    K = Intrinsics.from_fov(size[1], size[0], hfov_rad)
    r = ToyRenderer(scene)
    rng = np.random.default_rng(seed)
    frames = [
        r.render(K, T, rng=rng, depth_noise_m=depth_noise_m, index=i)
        for i, T in enumerate(toy_trajectory(scene, n_frames))
    ]
    return SyntheticSequence(frames, scene)
