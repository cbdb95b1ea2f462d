"""Writing RGB-D frames as a ROS bag (ROS 1 ``.bag``, or a ROS 2 bag folder with sqlite3 or
MCAP storage) with rosbags' writers and standard message types, the layout
``real3d.io.ros`` reads back:

- ``/camera/color/image_raw``: ``sensor_msgs/Image`` rgb8;
- ``/camera/depth/image_rect_raw``: ``sensor_msgs/Image`` 16UC1 (millimetres, 0 = invalid),
  ``depth_delay_s`` after its colour image;
- ``/camera/color/camera_info``: ``sensor_msgs/CameraInfo`` (K; no distortion), with
  every colour image;
- ``/tf``: ``world_frame`` -> ``camera_frame`` (an optical frame) per frame, when poses
  are given;

and a run's results (``ResultsBag``). Every message is first built as a plain
:class:`Msg` (``image_msg``, ``camera_info_msg``, ``tf_msg``, ``label_image_msgs``,
``occupancy_grid_msg``, ``path_msg``, ``marker_array_msg``, ``point_cloud_msg``), then
turned into rosbags' types for a bag (:func:`to_rosbags`) or into rclpy's by the live node
(``real3d.ros``): both carry the same content.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from real3d.core import ConfigError, InputError, Intrinsics, rotation_to_quat

COLOR_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/depth/image_rect_raw"
CAMERA_INFO_TOPIC = "/camera/color/camera_info"
TF_TOPIC = "/tf"
KINDS = ("ros1", "sqlite3", "mcap")


# ------------------------------------------------------------------- plain messages
@dataclass(frozen=True)
class Msg:
    """A ROS message's content, independent of any ROS library: ``msgtype`` is its ROS 2
    type name (``"sensor_msgs/msg/Image"``) and ``fields`` its ROS 2 fields by name, each an
    int, float, bool or str, a numpy array (a sequence or fixed array of numbers), a nested
    :class:`Msg` or a list of them.

    The builders below make one per message; :func:`to_rosbags` turns it into rosbags'
    type (for a bag, ROS 1 or ROS 2 field names) and ``real3d.ros.to_rclpy`` into rclpy's
    (for a live node), so a bag and a node carry the same content.
    """

    msgtype: str
    fields: dict


def time_msg(t_ns: int) -> Msg:
    """``builtin_interfaces/Time`` of ``t_ns`` nanoseconds."""
    return Msg("builtin_interfaces/msg/Time", {"sec": t_ns // 10**9, "nanosec": t_ns % 10**9})


def header_msg(t_ns: int, frame: str) -> Msg:
    """``std_msgs/Header``: stamp ``t_ns`` nanoseconds, ``frame_id`` ``frame``."""
    return Msg("std_msgs/msg/Header", {"stamp": time_msg(t_ns), "frame_id": frame})


def image_msg(t_ns: int, frame: str, arr: np.ndarray, encoding: str) -> Msg:
    """``sensor_msgs/Image`` of ``arr`` ((H, W) or (H, W, C), little-endian rows without
    padding) with the given ROS ``encoding`` (``rgb8``, ``mono8``, ``16UC1`` ...)."""
    h, w = arr.shape[:2]
    raw = np.frombuffer(np.ascontiguousarray(arr).tobytes(), np.uint8)
    return Msg(
        "sensor_msgs/msg/Image",
        {
            "header": header_msg(t_ns, frame),
            "height": h,
            "width": w,
            "encoding": encoding,
            "is_bigendian": 0,
            "step": raw.size // h,
            "data": raw,
        },
    )


def camera_info_msg(t_ns: int, frame: str, K: Intrinsics) -> Msg:
    """``sensor_msgs/CameraInfo`` of the pinhole ``K`` (no distortion, identity R)."""
    k = np.array([K.fx, 0, K.cx, 0, K.fy, K.cy, 0, 0, 1], np.float64)
    p = np.array([K.fx, 0, K.cx, 0, 0, K.fy, K.cy, 0, 0, 0, 1, 0], np.float64)
    roi = Msg(
        "sensor_msgs/msg/RegionOfInterest",
        {"x_offset": 0, "y_offset": 0, "height": 0, "width": 0, "do_rectify": False},
    )
    return Msg(
        "sensor_msgs/msg/CameraInfo",
        {
            "header": header_msg(t_ns, frame),
            "height": K.height,
            "width": K.width,
            "distortion_model": "plumb_bob",
            "binning_x": 0,
            "binning_y": 0,
            "roi": roi,
            "d": np.zeros(5),
            "k": k,
            "r": np.eye(3).ravel(),
            "p": p,
        },
    )


def _vector3(x: float, y: float, z: float) -> Msg:
    return Msg("geometry_msgs/msg/Vector3", {"x": float(x), "y": float(y), "z": float(z)})


def _point(p) -> Msg:
    return Msg("geometry_msgs/msg/Point", {"x": float(p[0]), "y": float(p[1]), "z": float(p[2])})


def _quaternion(q) -> Msg:
    return Msg("geometry_msgs/msg/Quaternion", {"x": float(q[0]), "y": float(q[1]), "z": float(q[2]), "w": float(q[3])})


def pose_msg(xyz, quat_xyzw) -> Msg:
    """``geometry_msgs/Pose``: position ``xyz`` metres, orientation ``quat_xyzw``."""
    return Msg("geometry_msgs/msg/Pose", {"position": _point(xyz), "orientation": _quaternion(quat_xyzw)})


def transform_stamped_msg(t_ns: int, parent: str, child: str, parent_T_child: np.ndarray) -> Msg:
    """``geometry_msgs/TransformStamped`` ``parent`` -> ``child`` (p_parent =
    parent_T_child @ p_child, (4, 4))."""
    x, y, z = (float(v) for v in parent_T_child[:3, 3])
    tr = Msg(
        "geometry_msgs/msg/Transform",
        {"translation": _vector3(x, y, z), "rotation": _quaternion(rotation_to_quat(parent_T_child[:3, :3]))},
    )
    return Msg(
        "geometry_msgs/msg/TransformStamped",
        {"header": header_msg(t_ns, parent), "child_frame_id": child, "transform": tr},
    )


def tf_msg(t_ns: int, parent: str, child: str, parent_T_child: np.ndarray) -> Msg:
    """``tf2_msgs/TFMessage`` holding one transform (:func:`transform_stamped_msg`)."""
    return Msg("tf2_msgs/msg/TFMessage", {"transforms": [transform_stamped_msg(t_ns, parent, child, parent_T_child)]})


def to_rosbags(msg: Msg, typestore, ros1: bool = False):
    """``msg`` as rosbags' message object of ``typestore`` (a ROS 2 store, or with ``ros1``
    a ROS 1 store: ``Header.seq`` added, ``CameraInfo``'s ``D``, ``K``, ``R``, ``P``)."""
    kw = {}
    for name, v in msg.fields.items():
        if isinstance(v, Msg):
            v = to_rosbags(v, typestore, ros1)
        elif isinstance(v, list):
            v = [to_rosbags(x, typestore, ros1) if isinstance(x, Msg) else x for x in v]
        kw[name] = v
    if ros1 and msg.msgtype == "std_msgs/msg/Header":
        kw = {"seq": 0, **kw}
    elif ros1 and msg.msgtype == "sensor_msgs/msg/CameraInfo":
        kw = {(k.upper() if k in ("d", "k", "r", "p") else k): v for k, v in kw.items()}
    return typestore.types[msg.msgtype](**kw)


class _Messages:
    """A rosbags typestore (ROS 1 or ROS 2 field names), the serialisation into it and the
    builders above as rosbags objects of that store (for test fixtures that write bags
    message by message)."""

    def __init__(self, ros1: bool):
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore

        self.ros1 = ros1
        self.ts = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
        if "tf2_msgs/msg/TFMessage" not in self.ts.types:
            # rosbags' ROS 1 store lacks tf2_msgs; real ROS 1 bags embed the definition.
            self.ts.register(
                get_types_from_msg("geometry_msgs/TransformStamped[] transforms", "tf2_msgs/msg/TFMessage")
            )

        self.T = self.ts.types

    def header(self, t_ns: int, frame: str):
        return to_rosbags(header_msg(t_ns, frame), self.ts, self.ros1)

    def image(self, t_ns: int, frame: str, arr: np.ndarray, encoding: str):
        return to_rosbags(image_msg(t_ns, frame, arr, encoding), self.ts, self.ros1)

    def camera_info(self, t_ns: int, frame: str, K: Intrinsics):
        return to_rosbags(camera_info_msg(t_ns, frame, K), self.ts, self.ros1)

    def tf(self, t_ns: int, parent: str, child: str, parent_T_child: np.ndarray):
        return to_rosbags(tf_msg(t_ns, parent, child, parent_T_child), self.ts, self.ros1)

    def serialize(self, msg, msgtype: str | None = None) -> bytes:
        """Bytes of ``msg``: a :class:`Msg`, or a rosbags object of ``msgtype``."""
        if isinstance(msg, Msg):
            msg, msgtype = to_rosbags(msg, self.ts, self.ros1), msg.msgtype
        if self.ros1:
            return self.ts.serialize_ros1(msg, msgtype)
        return self.ts.serialize_cdr(msg, msgtype)


def write_rgbd_bag(
    path: str | Path,
    frames: Iterable[tuple],
    intrinsics: Intrinsics,
    *,
    kind: str = "ros1",
    start_ns: int = 1_700_000_000 * 10**9,
    period_s: float = 0.1,
    depth_delay_s: float = 0.005,
    world_frame: str = "odom",
    camera_frame: str = "camera_optical",
) -> int:
    """Write RGB-D frames as a bag at ``path`` (layout in the module docstring).

    Args:
        frames: (rgb, depth_mm, world_T_cam) per frame: rgb (H, W, 3) uint8, depth_mm
            (H, W) uint16 millimetres (0 = invalid), world_T_cam (4, 4) float64 or None (no
            ``/tf`` message for that frame). Frame k's colour image is stamped
            ``start_ns + k * period_s``.
        intrinsics: the colour camera (``CameraInfo``), of the images' size.
        kind: "ros1" (a ``.bag`` file), "sqlite3" or "mcap" (a ROS 2 bag folder).

    Returns:
        the number of frames written.

    Raises:
        ConfigError: an unknown ``kind``. InputError: an image of the wrong shape or dtype.
    """
    if kind not in KINDS:
        raise ConfigError(f"write_rgbd_bag: kind expected one of {KINDS}, got {kind!r}")
    from rosbags.rosbag1 import Writer as Writer1
    from rosbags.rosbag2 import StoragePlugin
    from rosbags.rosbag2 import Writer as Writer2

    hw = (intrinsics.height, intrinsics.width)
    ros1 = kind == "ros1"
    m = _Messages(ros1)
    if ros1:
        writer = Writer1(Path(path))
    else:
        plugin = StoragePlugin.MCAP if kind == "mcap" else StoragePlugin.SQLITE3
        writer = Writer2(Path(path), version=9, storage_plugin=plugin)
    n = 0
    with writer:

        def conn(topic: str, msgtype: str):
            return writer.add_connection(topic, msgtype, typestore=m.ts)

        c_rgb = conn(COLOR_TOPIC, "sensor_msgs/msg/Image")
        c_dep = conn(DEPTH_TOPIC, "sensor_msgs/msg/Image")
        c_inf = conn(CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo")
        c_tf = None

        def put(c, t_ns: int, msg: Msg) -> None:
            writer.write(c, t_ns, m.serialize(msg))

        for k, (rgb, depth_mm, world_T_cam) in enumerate(frames):
            if rgb.shape != (*hw, 3) or rgb.dtype != np.uint8:
                raise InputError(
                    f"write_rgbd_bag: frame {k} rgb expected {(*hw, 3)} uint8, got {rgb.shape} {rgb.dtype}"
                )
            if depth_mm.shape != hw or depth_mm.dtype != np.uint16:
                raise InputError(
                    f"write_rgbd_bag: frame {k} depth_mm expected {hw} uint16, got {depth_mm.shape} {depth_mm.dtype}"
                )
            t = start_ns + round(k * period_s * 1e9)
            if world_T_cam is not None:
                if c_tf is None:
                    c_tf = conn(TF_TOPIC, "tf2_msgs/msg/TFMessage")
                put(c_tf, t, tf_msg(t, world_frame, camera_frame, np.asarray(world_T_cam)))
            put(c_inf, t, camera_info_msg(t, camera_frame, intrinsics))
            put(c_rgb, t, image_msg(t, camera_frame, rgb, "rgb8"))
            td = t + round(depth_delay_s * 1e9)
            put(c_dep, td, image_msg(td, camera_frame, depth_mm, "16UC1"))
            n += 1
    return n


# ---------------------------------------------------------------------------- results
#: topics of a results bag (``ResultsBag``)
LABELS_TOPIC = "/real3d/labels"
LABELS_COLOR_TOPIC = "/real3d/labels/color"
COSTMAP_TOPIC = "/real3d/costmap"
PATH_TOPIC = "/real3d/path"
MARKERS_TOPIC = "/real3d/scene_graph"
CLOUD_TOPIC = "/real3d/semantic_map"
#: Marker.type values used
_CUBE, _LINE_LIST, _TEXT = 1, 5, 9
#: sensor_msgs/PointField datatypes used
_FLOAT32, _UINT32 = 7, 6


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation by ``yaw`` radians about +z."""
    return 0.0, 0.0, float(np.sin(yaw / 2)), float(np.cos(yaw / 2))


def _label_set(label_set, what: str):
    """``label_set`` (a ``LabelSet`` or a registered name; None: NYUv2-13) as a LabelSet."""
    from real3d.core.labels import NYU13, LabelSet, get_label_set

    if label_set is None:
        return NYU13
    if isinstance(label_set, LabelSet):
        return label_set
    if isinstance(label_set, str):
        return get_label_set(label_set)
    raise InputError(f"{what}: expected a LabelSet or a label set name, got {type(label_set).__name__}")


def label_image_msgs(
    t_ns: int, frame: str, labels: np.ndarray, what: str = "labels", label_set=None
) -> tuple[Msg, Msg]:
    """The two images of a frame's labels: mono8 ids (0 = void) and rgb8 class colours,
    both in ``frame`` (the camera's).

    Args:
        labels: (H, W) uint8 ids of ``label_set``.
        label_set: the ``LabelSet`` (or its name) of the ids, whose colours the rgb8 image
            takes; None: NYUv2-13.

    Raises:
        InputError: ``labels`` of another shape or dtype, or ids outside ``label_set``.
        ConfigError: an unknown label set name.
    """
    ls = _label_set(label_set, what)
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise InputError(f"{what}: labels expected (H, W) uint8, got {labels.dtype} {labels.shape}")
    return image_msg(t_ns, frame, labels, "mono8"), image_msg(t_ns, frame, ls.colorize(labels), "rgb8")


def occupancy_grid_msg(t_ns: int, frame: str, occupancy, resolution_m, origin_xy, what: str = "occupancy") -> Msg:
    """``nav_msgs/OccupancyGrid`` in ``frame``.

    Args:
        occupancy: (H, W) int8 cells, 100 occupied, 0 free, -1 unknown; row 0 = the
            smallest y.
        resolution_m: cell edge, metres. origin_xy: the corner of cell (0, 0), metres.

    Raises:
        InputError: another dtype or shape, other values, or a missing resolution / origin.
    """
    occ = np.asarray(occupancy)
    if occ.ndim != 2 or occ.dtype != np.int8 or resolution_m is None or origin_xy is None:
        raise InputError(
            f"{what}: occupancy expected (H, W) int8 with resolution_m and origin_xy, got "
            f"{occ.dtype} {occ.shape}, resolution_m={resolution_m!r}, origin_xy={origin_xy!r}"
        )
    bad = ~np.isin(occ, (-1, 0, 100))
    if bad.any():
        raise InputError(f"{what}: occupancy values expected -1, 0 or 100, got {np.unique(occ[bad])[:5]}")
    info = Msg(
        "nav_msgs/msg/MapMetaData",
        {
            "map_load_time": time_msg(t_ns),
            "resolution": float(resolution_m),
            "width": int(occ.shape[1]),
            "height": int(occ.shape[0]),
            "origin": pose_msg((origin_xy[0], origin_xy[1], 0.0), (0.0, 0.0, 0.0, 1.0)),
        },
    )
    return Msg(
        "nav_msgs/msg/OccupancyGrid",
        {"header": header_msg(t_ns, frame), "info": info, "data": np.ascontiguousarray(occ).ravel()},
    )


def path_msg(t_ns: int, frame: str, path_xy) -> Msg:
    """``nav_msgs/Path`` through ``path_xy`` ((N, 2) metres in ``frame``) at z = 0, each
    pose facing along the path (yaw about +z from its neighbours)."""
    xy = np.asarray(path_xy, np.float64).reshape(-1, 2)
    poses = []
    for k, (x, y) in enumerate(xy):
        nxt = xy[min(k + 1, len(xy) - 1)] - xy[max(k - 1, 0)] if len(xy) > 1 else np.array([1.0, 0.0])
        yaw = float(np.arctan2(nxt[1], nxt[0]))
        poses.append(
            Msg(
                "geometry_msgs/msg/PoseStamped",
                {"header": header_msg(t_ns, frame), "pose": pose_msg((x, y, 0.0), _yaw_quat(yaw))},
            )
        )
    return Msg("nav_msgs/msg/Path", {"header": header_msg(t_ns, frame), "poses": poses})


def _marker(t_ns: int, frame: str, ns: str, mid: int, mtype: int, pose: Msg, scale, rgba, text="", points=()) -> Msg:
    return Msg(
        "visualization_msgs/msg/Marker",
        {
            "header": header_msg(t_ns, frame),
            "ns": ns,
            "id": int(mid),
            "type": mtype,
            "action": 0,
            "pose": pose,
            "scale": _vector3(*scale),
            "color": Msg(
                "std_msgs/msg/ColorRGBA",
                {"r": float(rgba[0]), "g": float(rgba[1]), "b": float(rgba[2]), "a": float(rgba[3])},
            ),
            "lifetime": Msg("builtin_interfaces/msg/Duration", {"sec": 0, "nanosec": 0}),
            "frame_locked": False,
            "points": [_point(p) for p in points],
            "colors": [],
            "texture_resource": "",
            "texture": Msg(
                "sensor_msgs/msg/CompressedImage",
                {"header": header_msg(0, ""), "format": "", "data": np.zeros(0, np.uint8)},
            ),
            "uv_coordinates": [],
            "text": text,
            "mesh_resource": "",
            "mesh_file": Msg("visualization_msgs/msg/MeshFile", {"filename": "", "data": np.zeros(0, np.uint8)}),
            "mesh_use_embedded_materials": False,
        },
    )


def marker_array_msg(t_ns: int, frame: str, graph: dict, what: str = "graph", label_set=None) -> Msg:
    """``visualization_msgs/MarkerArray`` of a scene graph in ``frame``: a CUBE per node
    box (ns = the node's kind, id = node id, yaw about +z, class colour at alpha 0.5), a
    TEXT_VIEW_FACING class name above it (ns ``<kind>_label``) and one LINE_LIST of the
    relations between node centroids (ns ``relations``).

    Args:
        graph: ``scene_graph.json``'s content (nodes with ``id``, ``kind``, ``label``,
            ``class_name``, ``centroid`` and ``box`` {center, size, yaw_rad}; edges with
            ``subject`` and ``object``), metres in ``frame``.
        label_set: the ``LabelSet`` (or name) of the nodes' ``label``, whose colours the
            boxes take; None: the graph's own ``"label_set"`` (NYUv2-13 when it has none).

    Raises:
        InputError: ``graph`` without nodes.
        ConfigError: an unknown label set name.
    """
    if label_set is None and isinstance(graph, dict):
        label_set = graph.get("label_set")
    ls = _label_set(label_set, what)
    markers = []
    centroids = {}
    try:
        nodes, edges = list(graph["nodes"]), list(graph.get("edges", []))
    except (KeyError, TypeError):
        raise InputError(f"{what}: graph expected scene_graph.json's content (nodes, edges)") from None
    for n in nodes:
        centroids[n["id"]] = n.get("centroid")
        box = n.get("box")
        if not box:
            continue
        label = int(n.get("label", 0))
        r, g, b = (c / 255.0 for c in ls.colors[label if 0 <= label < len(ls.names) else 0])
        center, size = box["center"], box["size"]
        pose = pose_msg(center, _yaw_quat(float(box.get("yaw_rad", 0.0))))
        kind = str(n.get("kind", "object"))
        markers.append(_marker(t_ns, frame, kind, n["id"], _CUBE, pose, size, (r, g, b, 0.5)))
        above = (center[0], center[1], center[2] + size[2] / 2 + 0.1)
        markers.append(
            _marker(
                t_ns,
                frame,
                f"{kind}_label",
                n["id"],
                _TEXT,
                pose_msg(above, (0, 0, 0, 1)),
                (0, 0, 0.15),
                (1, 1, 1, 1),
                text=str(n.get("class_name", "")),
            )
        )
    pts = []
    for e in edges:
        a, b = centroids.get(e.get("subject")), centroids.get(e.get("object"))
        if a is not None and b is not None:
            pts += [a, b]
    if pts:
        markers.append(
            _marker(
                t_ns,
                frame,
                "relations",
                0,
                _LINE_LIST,
                pose_msg((0, 0, 0), (0, 0, 0, 1)),
                (0.02, 0, 0),
                (1, 1, 0, 1),
                points=pts,
            )
        )
    return Msg("visualization_msgs/msg/MarkerArray", {"markers": markers})


def point_cloud_msg(t_ns: int, frame: str, points, labels, what: str = "points", label_set=None) -> Msg:
    """``sensor_msgs/PointCloud2`` of labelled points in ``frame``: fields x, y, z (float32
    metres), rgb (float32 holding packed 0x00RRGGBB class colours) and label (uint32),
    20 bytes a point, one row.

    Args:
        points: (N, 3) metres. labels: (N,) ids of ``label_set``.
        label_set: the ``LabelSet`` (or name) of the ids, whose colours ``rgb`` packs;
            None: NYUv2-13.

    Raises:
        InputError: other shapes, or ids outside ``label_set``.
        ConfigError: an unknown label set name.
    """
    ls = _label_set(label_set, what)
    p = np.asarray(points, np.float64)
    lab = np.asarray(labels)
    if p.ndim != 2 or p.shape[1] != 3 or lab.shape != (p.shape[0],):
        raise InputError(f"{what}: points expected (N, 3) with labels (N,), got {p.shape} and {lab.shape}")
    rgb = ls.colorize(lab.astype(np.int64)).astype(np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    rec = np.empty(p.shape[0], dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4"), ("label", "<u4")])
    rec["x"], rec["y"], rec["z"] = p[:, 0], p[:, 1], p[:, 2]
    rec["rgb"], rec["label"] = packed, lab.astype(np.uint32)
    fields = [
        Msg("sensor_msgs/msg/PointField", {"name": name, "offset": off, "datatype": dt, "count": 1})
        for name, off, dt in (
            ("x", 0, _FLOAT32),
            ("y", 4, _FLOAT32),
            ("z", 8, _FLOAT32),
            ("rgb", 12, _FLOAT32),
            ("label", 16, _UINT32),
        )
    ]
    return Msg(
        "sensor_msgs/msg/PointCloud2",
        {
            "header": header_msg(t_ns, frame),
            "height": 1,
            "width": int(p.shape[0]),
            "fields": fields,
            "is_bigendian": False,
            "point_step": 20,
            "row_step": 20 * int(p.shape[0]),
            "data": np.frombuffer(rec.tobytes(), np.uint8),
            "is_dense": True,
        },
    )


class ResultsBag:
    """A run's results as a ROS 2 bag with MCAP storage (a folder holding ``metadata.yaml``
    and one ``.mcap`` file; Foxglove and RViz open it), standard message types only:

    - ``/real3d/labels``: ``sensor_msgs/Image`` mono8 label ids (of ``label_set``, 0 = void)
      per frame, in ``camera_frame``; ``/real3d/labels/color``: the same in class colours, rgb8;
    - ``/tf``: ``map_frame`` -> ``camera_frame`` per frame whose pose is known;
    - ``/real3d/costmap``: ``nav_msgs/OccupancyGrid`` (100 occupied, 0 free, -1 unknown;
      cell (0, 0) at ``origin_xy``, rows along +y), at the end;
    - ``/real3d/path``: ``nav_msgs/Path`` (z = 0, orientation along the path), at the end;
    - ``/real3d/scene_graph``: ``visualization_msgs/MarkerArray``: a CUBE per node box
      (ns ``object`` / ``structure``, id = node id, yaw about +z, class colour at alpha
      0.5), a TEXT_VIEW_FACING class name above it (ns ``<kind>_label``) and one LINE_LIST of
      the relations between node centroids (ns ``relations``), at the end;
    - ``/real3d/semantic_map``: ``sensor_msgs/PointCloud2`` of the map's surface voxels,
      fields x, y, z (float32 metres), rgb (float32 holding packed 0x00RRGGBB) and label
      (uint32), at the end.

    Everything lies in ``map_frame`` (the run's gravity-aligned map frame) but the label
    images. The bag is written into a temporary folder beside ``path`` and moved into place
    by :meth:`close` (an earlier bag at ``path`` is replaced whole); :meth:`abort` or an
    exception inside a ``with`` block leaves ``path`` as it was.

    Example::

        with ResultsBag(out) as bag:
            for t, labels, map_T_cam in frames:
                bag.add_frame(t, labels, map_T_cam)
            bag.add_results(t_end, occupancy=..., resolution_m=..., origin_xy=..., path_xy=..., graph=...)
    """

    def __init__(self, path, *, map_frame: str = "map", camera_frame: str = "camera", label_set=None) -> None:
        from rosbags.rosbag2 import StoragePlugin
        from rosbags.rosbag2 import Writer as Writer2

        from real3d.core.files import make_staging_dir

        self.path = Path(path)
        if self.path.exists() and not (self.path.is_dir() and (self.path / "metadata.yaml").is_file()):
            raise InputError(
                f"ResultsBag: {self.path} exists and is no ROS 2 bag folder; expected a new name or an earlier bag"
            )
        self.map_frame, self.camera_frame = map_frame, camera_frame
        #: the ``LabelSet`` of the label ids (class colours); ``label_set`` None: NYUv2-13
        self.label_set = _label_set(label_set, "ResultsBag")
        self._m = _Messages(ros1=False)
        self._staging = make_staging_dir(self.path)
        # the writer makes its own folder: inside the staging one, moved up on close
        self._bag_dir = self._staging / self.path.name
        self._writer = Writer2(self._bag_dir, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._conns: dict[str, object] = {}
        self.frames = 0
        self._closed = False

    # -- plumbing --------------------------------------------------------------------
    def _put(self, topic: str, t_ns: int, msg: Msg) -> None:
        c = self._conns.get(topic)
        if c is None:
            c = self._conns[topic] = self._writer.add_connection(topic, msg.msgtype, typestore=self._m.ts)
        self._writer.write(c, t_ns, self._m.serialize(msg))

    @staticmethod
    def _ns(t_s: float) -> int:
        if not np.isfinite(t_s):
            raise InputError(f"ResultsBag: expected a finite time in seconds, got {t_s!r}")
        return max(0, round(float(t_s) * 1e9))

    # -- per frame -------------------------------------------------------------------
    def add_frame(self, t_s: float, labels: np.ndarray, map_T_cam: np.ndarray | None = None) -> None:
        """One frame's labels (and camera pose) at capture time ``t_s`` seconds.

        Args:
            labels: (H, W) uint8 ids of ``label_set``.
            map_T_cam: (4, 4) camera pose in the map frame, or None (no /tf message).
        """
        t = self._ns(t_s)
        ids, colour = label_image_msgs(t, self.camera_frame, labels, "ResultsBag.add_frame", self.label_set)
        if map_T_cam is not None:
            self._put(TF_TOPIC, t, tf_msg(t, self.map_frame, self.camera_frame, map_T_cam))
        self._put(LABELS_TOPIC, t, ids)
        self._put(LABELS_COLOR_TOPIC, t, colour)
        self.frames += 1

    # -- at the end ------------------------------------------------------------------
    def add_results(
        self,
        t_s: float,
        *,
        occupancy: np.ndarray | None = None,
        resolution_m: float | None = None,
        origin_xy: tuple[float, float] | None = None,
        path_xy: np.ndarray | None = None,
        graph: dict | None = None,
        points: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
    ) -> None:
        """The run's final map products at time ``t_s`` seconds (each optional).

        Args:
            occupancy: (H, W) int8 cells, 100 occupied, 0 free, -1 unknown; row 0 = the
                smallest y. With ``resolution_m`` (cell edge, metres) and ``origin_xy`` (the
                corner of cell (0, 0), map metres).
            path_xy: (N, 2) waypoints, map metres.
            graph: ``scene_graph.json``'s content (nodes with ``box``, edges).
            points: (N, 3) surface points, map metres; ``point_labels`` (N,) ids of ``label_set``.
        """
        t = self._ns(t_s)
        f = self.map_frame
        if occupancy is not None:
            self._put(COSTMAP_TOPIC, t, occupancy_grid_msg(t, f, occupancy, resolution_m, origin_xy, "ResultsBag"))
        if path_xy is not None:
            self._put(PATH_TOPIC, t, path_msg(t, f, path_xy))
        if graph is not None:
            self._put(MARKERS_TOPIC, t, marker_array_msg(t, f, graph, "ResultsBag", self.label_set))
        if points is not None:
            self._put(CLOUD_TOPIC, t, point_cloud_msg(t, f, points, point_labels, "ResultsBag", self.label_set))

    # -- finishing -------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether the bag was closed (moved into place) or aborted."""
        return self._closed

    def close(self) -> Path:
        """Finish the bag and move it to ``path`` (replacing an earlier one); returns it."""
        from real3d.core.files import swap_in_dir

        if self._closed:
            return self.path
        self._writer.close()
        self._closed = True
        # the staging folder becomes the bag folder: its content moved up one level
        for f in self._bag_dir.iterdir():
            f.rename(self._staging / f.name)
        self._bag_dir.rmdir()
        swap_in_dir(self._staging, self.path)
        return self.path

    def abort(self) -> None:
        """Drop what was written; ``path`` keeps what it held."""
        import shutil

        if not self._closed:
            try:
                self._writer.close()
            except Exception:
                pass
            self._closed = True
        shutil.rmtree(self._staging, ignore_errors=True)

    def __enter__(self) -> ResultsBag:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
