"""Decoding the ROS messages an RGB-D recording carries (``sensor_msgs/Image`` colour and
depth, ``CompressedImage`` including image_transport's ``compressedDepth``), pairing
colour with depth by time, and a small transform buffer for ``/tf`` poses. Used by
``real3d.io.ros.RosbagSequence``.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from real3d.core import (
    FormatError,
    make_pose,
    quat_to_rotation,
)
from real3d.io.codecs import decode_u16
from real3d.io.tum import interpolate_pose

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TF = "tf2_msgs/msg/TFMessage"
TF_TYPES = (TF, "tf/msg/tfMessage")  # the latter from older ROS 1 recordings
ODOMETRY = "nav_msgs/msg/Odometry"

COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


def _stamp_s(header) -> float:
    st = header.stamp
    return float(st.sec) + 1e-9 * float(st.nanosec)


def _rows(msg, bytes_per_px: int, what: str) -> np.ndarray:
    """Image data -> (H, W * bytes_per_px) uint8 rows, honouring ``step`` padding."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8).ravel()
    if h == 0 or w == 0:
        raise FormatError(f"{what}: empty image {w}x{h}")
    if step < w * bytes_per_px:
        raise FormatError(
            f"{what}: step {step} < width {w} x {bytes_per_px} bytes ({msg.encoding} - wrong encoding or bit depth?)"
        )
    if data.size < step * h:
        raise FormatError(
            f"{what}: {data.size} data bytes, expected {step * h} ({w}x{h}, step {step}): truncated message"
        )
    return data[: step * h].reshape(h, step)[:, : w * bytes_per_px]


def decode_image_color(msg) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8) -> (H, W, 3) uint8 RGB."""
    enc = str(msg.encoding).lower()
    h, w = int(msg.height), int(msg.width)
    if enc in ("rgb8", "bgr8"):
        a = _rows(msg, 3, "colour image").reshape(h, w, 3)
        return a[..., ::-1].copy() if enc == "bgr8" else a.copy()
    if enc in ("rgba8", "bgra8"):
        a = _rows(msg, 4, "colour image").reshape(h, w, 4)[..., :3]
        return a[..., ::-1].copy() if enc == "bgra8" else a.copy()
    if enc == "mono8":
        a = _rows(msg, 1, "colour image").reshape(h, w)
        return np.repeat(a[..., None], 3, axis=2)
    raise FormatError(
        f"colour image: encoding {msg.encoding!r} not supported; expected one of {', '.join(COLOR_ENCODINGS)}"
    )


def decode_image_depth(msg) -> tuple[np.ndarray, int]:
    """sensor_msgs/Image depth -> (float32 (H, W) metres, pixels the encoding marks invalid).

    16UC1 / mono16 are millimetres with 0 = invalid; 32FC1 is metres where NaN (left for the
    reader boundary to zero and count) or 0 means no measurement.
    """
    enc = str(msg.encoding)
    h, w = int(msg.height), int(msg.width)
    big = bool(msg.is_bigendian)
    if enc in ("16UC1", "mono16"):
        a = _rows(msg, 2, "depth image").copy().view(">u2" if big else "<u2").reshape(h, w)
        raw = a.astype(np.uint16)
        return raw.astype(np.float32) / np.float32(1000.0), int((raw == 0).sum())
    if enc == "32FC1":
        a = _rows(msg, 4, "depth image").copy().view(">f4" if big else "<f4").reshape(h, w)
        d = a.astype(np.float32)
        return d, int((d == 0).sum())
    raise FormatError(f"depth image: encoding {enc!r} not supported; expected one of {', '.join(DEPTH_ENCODINGS)}")


def decode_compressed_depth(msg) -> tuple[np.ndarray, int]:
    """sensor_msgs/CompressedImage depth -> (float32 metres, invalid count).

    ``compressedDepth`` payloads start with a 12-byte header (int32 format, float32
    depthQuantA, depthQuantB) before the PNG; 16-bit payloads are millimetres, 32FC1 ones are
    stored as inverse depth ``v`` with ``depth_m = A / (v - B)`` and ``v = 0`` invalid.
    Plain 16-bit PNGs are millimetres.
    """
    fmt = str(msg.format)
    data = np.asarray(msg.data, dtype=np.uint8).tobytes()
    if "compresseddepth" in fmt.lower():
        if len(data) < 12:
            raise FormatError("compressed depth: message shorter than its 12-byte header")
        quant_a, quant_b = np.frombuffer(data[4:12], dtype="<f4")
        raw = decode_u16(data[12:], "compressed depth")
        if fmt.startswith("32FC1"):
            valid = raw > 0
            d = np.zeros(raw.shape, np.float32)
            d[valid] = quant_a / (raw[valid].astype(np.float32) - quant_b)
            return d, int((~valid).sum())
        return raw.astype(np.float32) / np.float32(1000.0), int((raw == 0).sum())
    raw = decode_u16(data, "compressed depth")
    return raw.astype(np.float32) / np.float32(1000.0), int((raw == 0).sum())


def pair_stream(events, max_dt_s: float):
    """Pair a time-ordered stream of ``("c" | "d", t, payload)`` events.

    Each colour event takes the nearest not yet used depth event within ``max_dt_s``
    (earlier colour events choose first); colour events without one are dropped. Works in
    one pass with a look-ahead of ``max_dt_s``, so it streams.

    Yields:
        (t_colour, colour_payload, t_depth, depth_payload), in colour time order.
    """
    pending: deque = deque()  # colour events waiting for their window to close
    depths: deque = deque()  # [t, payload, used]

    def resolve(c):
        tc, pc = c
        best = None
        for d in depths:
            if not d[2] and abs(d[0] - tc) <= max_dt_s and (best is None or abs(d[0] - tc) < abs(best[0] - tc)):
                best = d
        if best is not None:
            best[2] = True
            return (tc, pc, best[0], best[1])
        return None

    for kind, t, payload in events:
        if kind == "c":
            pending.append((t, payload))
        else:
            depths.append([t, payload, False])
        while pending and t > pending[0][0] + max_dt_s:
            r = resolve(pending.popleft())
            if r is not None:
                yield r
        horizon = (pending[0][0] if pending else t) - max_dt_s
        while depths and depths[0][0] < horizon:
            depths.popleft()
    while pending:
        r = resolve(pending.popleft())
        if r is not None:
            yield r


class _TFBuffer:
    """Transforms parent -> child (p_parent = T p_child) over time, as a tree."""

    def __init__(self) -> None:
        self.static: dict[str, tuple[str, np.ndarray]] = {}
        self.dynamic: dict[str, tuple[str, list[float], list[np.ndarray]]] = {}

    def add(self, parent: str, child: str, t: float, txyz_qxyzw: np.ndarray, static: bool):
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if static:
            self.static[child] = (parent, txyz_qxyzw)
        else:
            entry = self.dynamic.setdefault(child, (parent, [], []))
            entry[1].append(t)
            entry[2].append(txyz_qxyzw)

    def finalize(self) -> None:
        for child, (parent, ts, vs) in list(self.dynamic.items()):
            order = np.argsort(ts, kind="stable")
            self.dynamic[child] = (parent, np.asarray(ts)[order], np.asarray(vs)[order])

    def parent(self, frame: str):
        if frame in self.dynamic:
            return self.dynamic[frame][0]
        if frame in self.static:
            return self.static[frame][0]
        return None

    def root(self, frame: str) -> str:
        seen = {frame}
        while (p := self.parent(frame)) is not None and p not in seen:
            seen.add(p)
            frame = p
        return frame

    def lookup(self, world: str, frame: str, t: float, max_dt_s: float) -> np.ndarray | None:
        """world_T_frame at time t, or None when the chain is missing or out of time."""
        T = np.eye(4)
        frame = frame.lstrip("/")
        world = world.lstrip("/")
        seen = set()
        while frame != world:
            if frame in seen:
                return None
            seen.add(frame)
            if frame in self.dynamic:
                parent, ts, vs = self.dynamic[frame]
                edge = interpolate_pose(ts, vs, t, max_dt_s)
                if edge is None:
                    return None
            elif frame in self.static:
                parent, v = self.static[frame]
                edge = make_pose(quat_to_rotation(v[3:]), v[:3])
            else:
                return None
            T = edge @ T
            frame = parent
        return T


def _transform_vec(tr) -> np.ndarray:
    return np.array(
        [
            tr.translation.x,
            tr.translation.y,
            tr.translation.z,
            tr.rotation.x,
            tr.rotation.y,
            tr.rotation.z,
            tr.rotation.w,
        ],
        np.float64,
    )


def _pose_vec(pose) -> np.ndarray:
    return np.array(
        [
            pose.position.x,
            pose.position.y,
            pose.position.z,
            pose.orientation.x,
            pose.orientation.y,
            pose.orientation.z,
            pose.orientation.w,
        ],
        np.float64,
    )


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
