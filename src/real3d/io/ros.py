"""ROS 1 bags, ROS 2 bags (sqlite3 or MCAP) and bare ``.mcap`` / ``.db3`` files via ``rosbags``.

What is read:

- colour: ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) or
  ``sensor_msgs/CompressedImage`` (JPEG / PNG);
- depth: ``sensor_msgs/Image`` 16UC1 / mono16 (millimetres) or 32FC1 (metres; NaN = no
  measurement), or ``CompressedImage`` (16-bit PNG in mm, or the ``compressedDepth`` form of
  image_transport with its 12-byte header, including its inverse-depth 32FC1 quantisation);
- intrinsics: the first ``sensor_msgs/CameraInfo`` on the camera-info topic (K, width,
  height; distortion is not undone);
- poses: ``tf2_msgs/TFMessage`` on ``/tf`` and ``/tf_static`` and ``nav_msgs/Odometry``
  (``header.frame_id`` -> ``child_frame_id``), chained from ``world_frame`` to the image's
  ``header.frame_id`` (expected to be an optical frame: x right, y down, z forward).
  Dynamic transforms are interpolated at the image time within ``max_pose_dt_s``.

Depth from a separate depth camera (RealSense's default ``/camera/depth/image_rect_raw``:
its own ``frame_id`` and often its own size) is registered into the colour camera
(``real3d.geometry.register_depth``) with the depth camera's ``CameraInfo`` (the CameraInfo
topic nearest the depth topic, or ``depth_camera_info_topic``) and the depth-to-colour
transform from ``/tf_static`` / ``/tf`` (or ``color_T_depth``). Depth whose ``frame_id`` is the
colour image's (or an ``aligned_depth_to_color`` topic) is used as it is; so is any depth
with ``depth_aligned=True``. Depth that is in another frame and cannot be registered
(no depth CameraInfo, no transform between the two frames) is refused with ConfigError,
never stretched onto the colour image.

Colour and depth messages are paired by their bag (log) time: each colour message takes
the nearest unused depth message within ``max_dt_s``; unmatched messages are dropped. The
frame's timestamp is the colour message's ``header.stamp``.

Topics are chosen automatically when not given: depth = an image topic with "depth" in its
name, colour = another image topic (preferring "color" / "rgb" in the name), camera info =
the CameraInfo topic sharing the longest prefix with the colour topic.

Streaming: opening reads the bag's index and nothing else. Iterating decodes message by
message in bag order. ``len()`` and indexing build a timestamp index on first use (for ROS 1
from the bag's own index; for ROS 2 / MCAP by one pass over the two image topics that keeps
only timestamps) and then fetch single messages by time. tf and odometry messages are small
and are read once, on the first frame that needs a pose.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from real3d.core import (
    ConfigError,
    FormatError,
    InputError,
    Intrinsics,
)
from real3d.core.errors import Real3DError
from real3d.io.base import (
    DAMAGED_INPUT_ERRORS,
    MissingIntrinsicsError,
    RawFrame,
    ReadOptions,
    Sequence,
    SequenceInfo,
    as_format_error,
)
from real3d.io.codecs import decode_rgb

from real3d.io.ros_msgs import (  # noqa: F401 (decoders re-exported: their home was this module)
    IMAGE,
    COMPRESSED,
    CAMERA_INFO,
    TF_TYPES,
    ODOMETRY,
    _stamp_s,
    decode_image_color,
    decode_image_depth,
    decode_compressed_depth,
    pair_stream,
    _TFBuffer,
    _transform_vec,
    _pose_vec,
    _common_prefix,
)


class RosbagSequence(Sequence):
    """RGB-D frames from a ROS 1 / ROS 2 / MCAP recording (see module docstring).

    Args:
        path: a ``.bag`` file, a ROS 2 bag folder (``metadata.yaml``), or a ``.mcap`` /
            ``.db3`` file.
        options: common :class:`ReadOptions`; ``intrinsics`` replaces a missing CameraInfo.
        rgb_topic, depth_topic, camera_info_topic: topics; None = chosen automatically.
        max_dt_s: colour/depth pairing tolerance in seconds (bag time).
        world_frame: tf frame poses are expressed in; None = the root of the camera's tf tree.
        max_pose_dt_s: how far a dynamic transform may be from the image time, seconds.
        pose_topic: the one ``tf2_msgs/TFMessage`` or ``nav_msgs/Odometry`` topic dynamic
            poses come from (``/tf_static`` is read as well); None = every tf and odometry
            topic.
        depth_camera_info_topic: CameraInfo of the depth camera, for depth in its own frame;
            None = the CameraInfo topic sharing the longest prefix with the depth topic, when
            that is not the colour camera's.
        depth_aligned: True: depth is registered to colour whatever its ``frame_id`` says;
            False: always register it; None (default): register depth whose ``frame_id``
            differs from the colour image's.
        color_T_depth: (4, 4) depth-to-colour transform (p_color = color_T_depth @ p_depth,
            metres) instead of looking it up in tf.

    Depth in millimetres (16UC1, mono16, 16-bit PNG) has a unit of 0.001 m per stored value
    and float depth (32FC1) of 1 m; ``ReadOptions.depth_scale_m`` replaces either.
    """

    format = "rosbag"

    def __init__(
        self,
        path,
        options: ReadOptions | None = None,
        *,
        rgb_topic: str | None = None,
        depth_topic: str | None = None,
        camera_info_topic: str | None = None,
        max_dt_s: float = 0.02,
        world_frame: str | None = None,
        max_pose_dt_s: float = 0.1,
        pose_topic: str | None = None,
        depth_camera_info_topic: str | None = None,
        depth_aligned: bool | None = None,
        color_T_depth: np.ndarray | None = None,
    ) -> None:
        super().__init__(path, options)
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        p = self.path
        if not p.exists():
            raise FormatError(f"rosbag: not found: {p}")
        # Checked before opening: a FIFO would block the open, a folder is no ROS 1 bag.
        check_rosbag_path(p)
        self.max_dt_s = float(max_dt_s)
        self.max_pose_dt_s = float(max_pose_dt_s)
        self.world_frame = world_frame
        if depth_aligned not in (None, True, False):
            raise ConfigError(f"rosbag: depth_aligned expected None, True or False, got {depth_aligned!r}")
        self.depth_aligned = depth_aligned
        self._color_T_depth = None
        if color_T_depth is not None:
            from real3d.core.pose import check_pose

            try:
                self._color_T_depth = check_pose(color_T_depth, "rosbag: color_T_depth")
            except InputError as e:
                raise ConfigError(str(e)) from None
        self._depth_info_request = depth_camera_info_topic
        is_ros1 = p.is_file() and p.suffix == ".bag"
        store = get_typestore(Stores.ROS1_NOETIC if is_ros1 else Stores.ROS2_HUMBLE)
        try:
            self._reader = AnyReader([p], default_typestore=store)
            self._reader.open()
        except Exception as e:  # rosbags raises several unrelated types for bad files
            raise FormatError(f"rosbag: cannot open {p}: {type(e).__name__}: {e} (cut short or not a bag?)") from None
        try:
            self._choose_topics(rgb_topic, depth_topic, camera_info_topic, pose_topic)
        except Exception:
            self.close()
            raise
        self._index: list[tuple[int, int, int, int]] | None = None  # (t_c, k_c, t_d, k_d)
        self._intrinsics: Intrinsics | None = None
        self._intrinsics_read = False
        self._tf: _TFBuffer | None = None
        self._camera_frame: str | None = None
        self._depth_unit_m: float | None = None
        self._depth_intrinsics: Intrinsics | None = None
        self._depth_intrinsics_read = False

    # -- topics ------------------------------------------------------------------------
    def _choose_topics(self, rgb_topic, depth_topic, info_topic, pose_topic=None) -> None:
        conns = self._reader.connections
        by_topic: dict[str, list] = {}
        for c in conns:
            by_topic.setdefault(c.topic, []).append(c)
        types = {t: cs[0].msgtype for t, cs in by_topic.items()}
        #: topic -> (message type, number of messages), every topic of the recording
        self.topic_counts = {t: (types[t], sum(int(c.msgcount) for c in cs)) for t, cs in sorted(by_topic.items())}
        images = sorted(t for t, ty in types.items() if ty in (IMAGE, COMPRESSED))
        self.topics = dict(sorted(types.items()))

        def pick(given, candidates, what, expect=None):
            if given is not None:
                if given not in by_topic:
                    raise ConfigError(
                        f"rosbag: no topic {given!r} in {self.path}; topics: " + ", ".join(sorted(by_topic))
                    )
                if expect is not None and types[given] not in expect:
                    raise ConfigError(
                        f"rosbag: {what} topic {given!r} carries {types[given]}; expected "
                        + " or ".join(expect)
                        + ". Such topics: "
                        + (", ".join(t for t, ty in types.items() if ty in expect) or "none")
                    )
                return given
            return candidates[0] if candidates else None

        depth_c = [t for t in images if "depth" in t.lower()]
        color_c = sorted(
            (t for t in images if t not in depth_c),
            key=lambda t: (not any(k in t.lower() for k in ("color", "rgb")), t),
        )
        self.depth_topic = pick(depth_topic, depth_c, "depth", (IMAGE, COMPRESSED))
        self.rgb_topic = pick(rgb_topic, color_c, "colour", (IMAGE, COMPRESSED))
        if self.rgb_topic is None:
            raise FormatError(
                f"rosbag: no colour image topic in {self.path}; topics: "
                + ", ".join(f"{t} [{ty}]" for t, ty in self.topics.items())
            )
        if self.depth_topic is None:
            raise FormatError(
                f"rosbag: no depth image topic (an image topic with 'depth' in "
                f"its name) in {self.path}; pass depth_topic= (--depth-topic); image topics: "
                + (", ".join(images) or "none")
            )
        infos = [t for t, ty in types.items() if ty == CAMERA_INFO]
        infos.sort(key=lambda t: -_common_prefix(t, self.rgb_topic))
        self.camera_info_topic = pick(info_topic, infos, "camera info", (CAMERA_INFO,))
        self._conn = {k: by_topic[t] for k, t in (("c", self.rgb_topic), ("d", self.depth_topic))}
        self.pose_topic = pose_topic
        if pose_topic is not None:
            pick(pose_topic, [], "pose", (*TF_TYPES, ODOMETRY))

        def dynamic(t: str) -> bool:
            return pose_topic is None or t == pose_topic or "static" in t

        self._tf_conns = [c for t, cs in by_topic.items() for c in cs if types[t] in TF_TYPES and dynamic(t)]
        self._odom_conns = [c for t, cs in by_topic.items() for c in cs if types[t] == ODOMETRY and dynamic(t)]
        self._info_conns = by_topic.get(self.camera_info_topic, []) if self.camera_info_topic else []
        given = self._depth_info_request
        near_depth = sorted(infos, key=lambda t: -_common_prefix(t, self.depth_topic))
        auto = None
        if near_depth and near_depth[0] != self.camera_info_topic:
            # only a CameraInfo that belongs to the depth topic more than to the colour one
            if _common_prefix(near_depth[0], self.depth_topic) > _common_prefix(near_depth[0], self.rgb_topic):
                auto = near_depth[0]
        self.depth_camera_info_topic = pick(given, [auto] if auto else [], "depth camera info", (CAMERA_INFO,))
        self._depth_info_conns = by_topic.get(self.depth_camera_info_topic, []) if self.depth_camera_info_topic else []

    def close(self) -> None:
        r = getattr(self, "_reader", None)
        if r is not None and r.stack is not None:
            r.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- reading -----------------------------------------------------------------------
    def _messages(self, conns, start=None, stop=None):
        if not conns:
            return  # rosbags reads every topic when given none
        try:
            yield from self._reader.messages(connections=conns, start=start, stop=stop)
        except FormatError:
            raise
        except Exception as e:
            raise FormatError(
                f"rosbag: {self.path}: cannot read messages ({type(e).__name__}: {e}); cut short or corrupt?"
            ) from None

    def _deserialize(self, raw, conn):
        try:
            return self._reader.deserialize(raw, conn.msgtype)
        except Exception as e:
            raise FormatError(f"rosbag: cannot decode a {conn.msgtype} message on {conn.topic}: {e}") from None

    def _timestamps(self, kind: str) -> list[int]:
        conns = self._conn[kind]
        ts = []
        for r in self._reader.readers:
            idx = getattr(r, "indexes", None)
            if idx is None:
                break
            # ROS 1: the bag index already lists every message time; no data is read.
            for c in conns:
                ts.extend(e.time for e in idx.get(c.id, []))
        else:
            return sorted(ts)
        return sorted(t for _, t, _ in self._messages(conns))

    def _build_index(self) -> list[tuple[int, int, int, int]]:
        if self._index is None:
            tc, td = self._timestamps("c"), self._timestamps("d")
            events = sorted(
                [("c", t, k) for k, t in enumerate(tc)] + [("d", t, k) for k, t in enumerate(td)], key=lambda e: e[1]
            )
            # payload = occurrence of this timestamp among equal ones, to fetch it again
            occ, ev = {}, []
            for kind, t, _ in events:
                n = occ.get((kind, t), 0)
                occ[(kind, t)] = n + 1
                ev.append((kind, t * 1e-9, (t, n)))
            self._index = [(pc[0], pc[1], pd[0], pd[1]) for _, pc, _, pd in pair_stream(iter(ev), self.max_dt_s)]
        return self._index

    def _num_source_frames(self) -> int:
        return len(self._build_index())

    def _fetch(self, kind: str, t: int, nth: int):
        for k, (conn, _, raw) in enumerate(self._messages(self._conn[kind], start=t, stop=t + 1)):
            if k == nth:
                return conn, raw
        raise FormatError(f"rosbag: message at {t} ns on {self._conn[kind][0].topic} not found")

    def _read_source(self, i: int) -> RawFrame:
        tc, kc, td, kd = self._build_index()[i]
        return self._decode(self._fetch("c", tc, kc), self._fetch("d", td, kd), i)

    def __iter__(self):
        if self._index is not None:
            yield from super().__iter__()
            return
        # Stream: pair in bag order and decode as pairs complete; nothing is read ahead
        # beyond the pairing window.
        conns = self._conn["c"] + self._conn["d"]
        cids = {id(c) for c in self._conn["c"]}
        events = (("c" if id(conn) in cids else "d", t * 1e-9, (conn, raw)) for conn, t, raw in self._messages(conns))
        stride = self.options.stride
        limit = self.options.max_frames
        k = 0
        if limit == 0:
            return
        for n, (_, pc, _, pd) in enumerate(pair_stream(events, self.max_dt_s)):
            if n % stride:
                continue
            k += 1
            try:
                raw = self._decode_checked(pc, pd, n)
                try:
                    frame = self._finish(raw, k - 1)
                except InputError as e:
                    raise FormatError(f"rosbag: frame {k - 1} of {self.path}: {e}") from e
            except FormatError as e:
                if self.options.strict:
                    raise
                self._report_skip(k - 1, n, e, stacklevel=3)
                frame = None
            if frame is not None:
                yield frame
            if limit is not None and k >= limit:
                return

    def _decode_checked(self, color, depth, i: int) -> RawFrame:
        """:meth:`_decode`, with what a damaged message makes a decoder raise turned into
        :class:`FormatError` (as :meth:`Sequence._read_checked` does for indexed reads)."""
        try:
            return self._decode(color, depth, i)
        except (FormatError, ConfigError):
            raise
        except (Real3DError, *DAMAGED_INPUT_ERRORS) as e:
            raise as_format_error(e, f"rosbag: frame {i} of {self.path}") from e

    def _decode(self, color, depth, i: int) -> RawFrame:
        cconn, craw = color
        dconn, draw = depth
        cmsg = self._deserialize(craw, cconn)
        dmsg = self._deserialize(draw, dconn)
        if cconn.msgtype == COMPRESSED:
            rgb = decode_rgb(np.asarray(cmsg.data, np.uint8).tobytes(), "compressed colour")
        else:
            rgb = decode_image_color(cmsg)
        if dconn.msgtype == COMPRESSED:
            depth_m, invalid = decode_compressed_depth(dmsg)
            float_depth = str(dmsg.format).startswith("32FC1")
        else:
            depth_m, invalid = decode_image_depth(dmsg)
            float_depth = str(dmsg.encoding) == "32FC1"
        self._depth_unit_m = 1.0 if float_depth else 1e-3
        t = _stamp_s(cmsg.header)
        frame_id = str(cmsg.header.frame_id).lstrip("/")
        depth_frame = str(dmsg.header.frame_id).lstrip("/")
        unit = self._depth_unit_m
        dropped = 0
        if self._needs_registration(frame_id, depth_frame):
            # NaN holes (32FC1) and negative values are dropped (and counted) before the
            # depth is re-projected
            bad = ~np.isfinite(depth_m) | (depth_m < 0)
            dropped = int(bad.sum())
            if dropped:
                depth_m = np.where(bad, np.float32(0), depth_m).astype(np.float32)
            if self.options.depth_scale_m is not None:
                # the scale must be right before the depth is moved between cameras
                depth_m = depth_m * np.float32(self.options.depth_scale_m / unit)
                unit = self.options.depth_scale_m
            depth_m = self._register(depth_m, rgb.shape[:2], frame_id, depth_frame, t)
            invalid = int((depth_m == 0).sum())
        if self._camera_frame is None:
            self._camera_frame = frame_id
        return RawFrame(
            rgb=rgb,
            depth_m=depth_m,
            intrinsics=self._camera_intrinsics(),
            invalid_encoded=invalid,
            nonfinite_removed=dropped,
            world_T_cam=self._pose_at(frame_id, t),
            timestamp_s=t,
            meta={"frame_id": frame_id, "depth_stamp_s": _stamp_s(dmsg.header)},
            depth_unit_m=unit,
        )

    # -- registration ------------------------------------------------------------------
    def _needs_registration(self, color_frame: str, depth_frame: str) -> bool:
        if self.depth_aligned is not None:
            return not self.depth_aligned
        if "aligned_depth_to_color" in (self.depth_topic or ""):
            return False
        return bool(depth_frame) and bool(color_frame) and depth_frame != color_frame

    def _depth_camera(self) -> Intrinsics | None:
        """Intrinsics of the depth camera from its CameraInfo topic (first usable message)."""
        if not self._depth_intrinsics_read:
            self._depth_intrinsics_read = True
            for conn, _, raw in self._messages(self._depth_info_conns):
                try:
                    msg = self._deserialize(raw, conn)
                    K = np.asarray(msg.k if hasattr(msg, "k") else msg.K, np.float64).reshape(3, 3)
                    if K[0, 0] > 0 and K[1, 1] > 0:
                        self._depth_intrinsics = Intrinsics.from_K(K, int(msg.width), int(msg.height))
                        break
                except (Real3DError, *DAMAGED_INPUT_ERRORS):
                    continue
        return self._depth_intrinsics

    def _register(self, depth_m, color_hw, color_frame: str, depth_frame: str, t: float) -> np.ndarray:
        """Depth from the depth camera's frame into the colour camera (ConfigError when the
        depth camera's intrinsics or the transform between the two is not known)."""
        from real3d.geometry.register import register_depth

        what = (
            f"rosbag: depth on {self.depth_topic} is in frame {depth_frame!r} ({depth_m.shape[1]} x "
            f"{depth_m.shape[0]}), colour on {self.rgb_topic} in {color_frame!r} ({color_hw[1]} x {color_hw[0]}): "
            "depth not registered to colour"
        )
        dK = self._depth_camera()
        if dK is None:
            raise ConfigError(
                f"{what}, and no CameraInfo of the depth camera to register it with (found: "
                f"{self.depth_camera_info_topic or 'none'}). Use a depth topic aligned to colour "
                "(e.g. /camera/aligned_depth_to_color/image_raw), name the depth CameraInfo "
                "(depth_camera_info_topic=, --depth-info-topic), or declare the depth registered "
                "(depth_aligned=True, --depth-aligned)"
            )
        if dK.size_hw != depth_m.shape:
            dK = dK.resized(depth_m.shape[1], depth_m.shape[0])
        cK = self.options.intrinsics or self._camera_intrinsics()
        if cK is None:
            raise MissingIntrinsicsError(f"rosbag: {self.path} gives no colour camera intrinsics; pass intrinsics=")
        if cK.size_hw != tuple(color_hw):
            cK = cK.resized(color_hw[1], color_hw[0])
        T = self._color_T_depth
        if T is None:
            T = self._relative_transform(color_frame, depth_frame, t)
            if T is None:
                raise ConfigError(
                    f"{what}, and tf holds no transform between {color_frame!r} and {depth_frame!r} "
                    "(expected on /tf_static). Pass color_T_depth, or use a depth topic aligned to colour"
                )
            self._color_T_depth = T
        return register_depth(np.asarray(depth_m, np.float32), dK, cK, T)

    def _relative_transform(self, a: str, b: str, t: float) -> np.ndarray | None:
        """a_T_b through the frames' nearest common ancestor in tf (usually the camera's
        base link, over static transforms), None when the frames are not connected."""
        if not (self._tf_conns or self._odom_conns):
            return None
        tf = self._load_tf()
        chain_a = [a]
        while (p := tf.parent(chain_a[-1])) is not None and p not in chain_a:
            chain_a.append(p)
        common, f, seen = None, b, set()
        while f is not None and f not in seen:
            if f in chain_a:
                common = f
                break
            seen.add(f)
            f = tf.parent(f)
        if common is None:
            return None
        anc_T_a = tf.lookup(common, a, t, self.max_pose_dt_s)
        anc_T_b = tf.lookup(common, b, t, self.max_pose_dt_s)
        if anc_T_a is None or anc_T_b is None:
            return None
        return np.linalg.inv(anc_T_a) @ anc_T_b

    def assumed_depth_unit_m(self) -> float | None:
        """0.001 (millimetres) or 1.0 (float metres) as the last decoded depth message said;
        None before any was decoded."""
        return self._depth_unit_m

    def _camera_intrinsics(self) -> Intrinsics | None:
        """Intrinsics from the first usable CameraInfo message (one that cannot be decoded
        or holds no valid camera matrix is passed over); None when there is none."""
        if not self._intrinsics_read:
            self._intrinsics_read = True
            self.camera_info_problems: list[str] = []
            for conn, _, raw in self._messages(self._info_conns):
                try:
                    msg = self._deserialize(raw, conn)
                    K = np.asarray(msg.k if hasattr(msg, "k") else msg.K, np.float64).reshape(3, 3)
                    if not (K[0, 0] > 0 and K[1, 1] > 0):
                        # an uncalibrated camera publishes zeros: wait for a calibrated one
                        self.camera_info_problems.append(f"K = {K.ravel().tolist()}")
                        continue
                    self._intrinsics = Intrinsics.from_K(K, int(msg.width), int(msg.height))
                except (Real3DError, *DAMAGED_INPUT_ERRORS) as e:
                    self.camera_info_problems.append(str(as_format_error(e, f"CameraInfo on {conn.topic}")))
                    continue
                break
        return self._intrinsics

    def _load_tf(self) -> _TFBuffer:
        if self._tf is None:
            buf = _TFBuffer()
            bad = []
            for conn, _, raw in self._messages(self._tf_conns + self._odom_conns):
                # A message that cannot be decoded is left out (a pose that needed it is
                # then missing, not the whole sequence); how many is said once.
                try:
                    msg = self._deserialize(raw, conn)
                except FormatError as e:
                    bad.append(str(e))
                    continue
                if conn.msgtype in TF_TYPES:
                    static = "static" in conn.topic
                    for tr in msg.transforms:
                        buf.add(
                            str(tr.header.frame_id),
                            str(tr.child_frame_id),
                            _stamp_s(tr.header),
                            _transform_vec(tr.transform),
                            static,
                        )
                else:
                    buf.add(
                        str(msg.header.frame_id),
                        str(msg.child_frame_id),
                        _stamp_s(msg.header),
                        _pose_vec(msg.pose.pose),
                        False,
                    )
            if bad:
                warnings.warn(
                    f"rosbag: {len(bad)} tf/odometry message(s) of {self.path} "
                    f"could not be decoded and were left out; first: {bad[0]}",
                    stacklevel=4,
                )
            buf.finalize()
            self._tf = buf
        return self._tf

    def _pose_at(self, frame_id: str, t: float):
        if not (self._tf_conns or self._odom_conns) or not frame_id:
            return None
        tf = self._load_tf()
        world = self.world_frame or tf.root(frame_id)
        if world == frame_id:
            return None
        return tf.lookup(world, frame_id, t, self.max_pose_dt_s)

    def _info(self) -> SequenceInfo:
        intr = self.options.intrinsics or self._camera_intrinsics()
        pose_src = None
        if self._tf_conns or self._odom_conns:
            pose_src = "tf" if self._tf_conns else "odometry"
            if self._tf_conns and self._odom_conns:
                pose_src = "tf + odometry"
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            size_hw=None if intr is None else intr.size_hw,
            intrinsics=intr,
            depth_encoding=f"sensor_msgs/{self._conn['d'][0].msgtype.split('/')[-1]} on {self.depth_topic}",
            pose_source=pose_src,
            extra={
                "rgb_topic": self.rgb_topic,
                "depth_topic": self.depth_topic,
                "camera_info_topic": self.camera_info_topic,
                **({"depth_camera_info_topic": self.depth_camera_info_topic} if self.depth_camera_info_topic else {}),
                **({"pose_topic": self.pose_topic} if self.pose_topic else {}),
                "ros": 1 if not self._reader.is2 else 2,
                "topics": [f"{t} [{ty.replace('/msg/', '/')}] x{n}" for t, (ty, n) in self.topic_counts.items()],
                **self._info_problems(),
            },
        )

    def _info_problems(self) -> dict:
        problems = getattr(self, "camera_info_problems", None)
        if not problems:
            return {}
        return {"unusable camera info": f"{len(problems)} message(s); first: {problems[0]}"}


BAG_SUFFIXES = (".bag", ".mcap", ".db3")


def is_rosbag_path(p: Path) -> bool:
    """A ``.bag`` / ``.mcap`` / ``.db3`` file or a folder with a ROS 2 ``metadata.yaml``."""
    if p.is_file():
        return p.suffix in BAG_SUFFIXES
    return p.is_dir() and (p / "metadata.yaml").is_file()


def check_rosbag_path(p: Path) -> None:
    """Raise FormatError unless ``p`` is a regular file or a ROS 2 bag folder, naming what was
    expected (a FIFO, device or a folder named ``x.bag`` is not a bag)."""
    if p.is_file() or (p.is_dir() and (p / "metadata.yaml").is_file()):
        return
    if p.is_dir():
        raise FormatError(
            f"rosbag: {p} is a folder without metadata.yaml; expected a ROS 1 "
            ".bag file, a .mcap / .db3 file, or a ROS 2 bag folder holding "
            "metadata.yaml"
        )
    raise FormatError(
        f"rosbag: {p} is not a regular file (a FIFO, socket or device?); "
        "expected a ROS 1 .bag file, a .mcap / .db3 file, or a ROS 2 bag folder"
    )
