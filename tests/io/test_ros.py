"""ROS 1 / ROS 2 (sqlite3, MCAP) bags written with rosbags' writers and read back."""

from __future__ import annotations

import io as _io
import warnings

import numpy as np
import pytest
from PIL import Image
from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Writer2
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from real3d.core import FormatError, Intrinsics
from real3d.io import RosbagSequence, detect_format, open_sequence
from real3d.io.ros import pair_stream

H, W = 12, 16
K = (20.0, 21.0, 7.5, 5.5)
N = 3


def _frames():
    rng = np.random.default_rng(0)
    out = []
    for _ in range(N):
        rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        mm = rng.integers(300, 5000, (H, W)).astype(np.uint16)
        mm[0, :3] = 0  # encoded-invalid pixels
        out.append((rgb, mm))
    return out


class _Msgs:
    """Builds sensor messages for one typestore (ROS 1 or ROS 2 field names)."""

    def __init__(self, ros1: bool):
        self.ros1 = ros1
        self.ts = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
        if "tf2_msgs/msg/TFMessage" not in self.ts.types:
            # rosbags' ROS 1 store lacks tf2_msgs; real ROS 1 bags embed the definition.
            self.ts.register(
                get_types_from_msg("geometry_msgs/TransformStamped[] transforms", "tf2_msgs/msg/TFMessage")
            )
        self.T = self.ts.types

    def header(self, t_ns: int, frame: str):
        Time = self.T["builtin_interfaces/msg/Time"]
        stamp = Time(sec=t_ns // 10**9, nanosec=t_ns % 10**9)
        if self.ros1:
            return self.T["std_msgs/msg/Header"](seq=0, stamp=stamp, frame_id=frame)
        return self.T["std_msgs/msg/Header"](stamp=stamp, frame_id=frame)

    def image(self, t_ns, frame, arr: np.ndarray, encoding: str, step=None, bigendian=False):
        h, w = arr.shape[:2]
        data = np.ascontiguousarray(arr)
        if bigendian:
            data = data.astype(data.dtype.newbyteorder(">"))
        raw = np.frombuffer(data.tobytes(), np.uint8)
        step = step if step is not None else raw.size // h
        return self.T["sensor_msgs/msg/Image"](
            header=self.header(t_ns, frame),
            height=h,
            width=w,
            encoding=encoding,
            is_bigendian=int(bigendian),
            step=step,
            data=raw,
        )

    def compressed(self, t_ns, frame, payload: bytes, fmt: str):
        return self.T["sensor_msgs/msg/CompressedImage"](
            header=self.header(t_ns, frame), format=fmt, data=np.frombuffer(payload, np.uint8)
        )

    def camera_info(self, t_ns, frame):
        fx, fy, cx, cy = K
        k = np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], np.float64)
        roi = self.T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        fields = dict(
            header=self.header(t_ns, frame),
            height=H,
            width=W,
            distortion_model="plumb_bob",
            binning_x=0,
            binning_y=0,
            roi=roi,
        )
        names = ("D", "K", "R", "P") if self.ros1 else ("d", "k", "r", "p")
        vals = (np.zeros(5), k, np.eye(3).ravel(), np.zeros(12))
        fields.update(dict(zip(names, vals)))
        return self.T["sensor_msgs/msg/CameraInfo"](**fields)

    def tf(self, t_ns, parent, child, xyz, q_xyzw):
        T = self.T
        tr = T["geometry_msgs/msg/Transform"](
            translation=T["geometry_msgs/msg/Vector3"](x=xyz[0], y=xyz[1], z=xyz[2]),
            rotation=T["geometry_msgs/msg/Quaternion"](x=q_xyzw[0], y=q_xyzw[1], z=q_xyzw[2], w=q_xyzw[3]),
        )
        st = T["geometry_msgs/msg/TransformStamped"](
            header=self.header(t_ns, parent), child_frame_id=child, transform=tr
        )
        return T["tf2_msgs/msg/TFMessage"](transforms=[st])

    def odom(self, t_ns, parent, child, xyz):
        T = self.T
        pose = T["geometry_msgs/msg/Pose"](
            position=T["geometry_msgs/msg/Point"](x=xyz[0], y=xyz[1], z=xyz[2]),
            orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
        )
        pwc = T["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36))
        tw = T["geometry_msgs/msg/Twist"](
            linear=T["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0),
            angular=T["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0),
        )
        twc = T["geometry_msgs/msg/TwistWithCovariance"](twist=tw, covariance=np.zeros(36))
        return T["nav_msgs/msg/Odometry"](header=self.header(t_ns, parent), child_frame_id=child, pose=pwc, twist=twc)

    def serialize(self, msg, msgtype):
        return self.ts.serialize_ros1(msg, msgtype) if self.ros1 else self.ts.serialize_cdr(msg, msgtype)


T0 = 1_700_000_000 * 10**9
DT = 100_000_000  # 10 Hz


def write_bag(path, kind: str, *, color="rgb8", depth="16UC1", with_info=True, pose="tf", corrupt_depth_frame=None):
    """Write N colour/depth pairs (depth 5 ms after colour), camera info, tf or odometry.

    kind: "ros1", "sqlite3" or "mcap". Returns the frames written.
    """
    frames = _frames()
    ros1 = kind == "ros1"
    m = _Msgs(ros1)
    if ros1:
        writer = Writer1(path)
    else:
        plugin = StoragePlugin.MCAP if kind == "mcap" else StoragePlugin.SQLITE3
        writer = Writer2(path, version=9, storage_plugin=plugin)
    IMG, CMP = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"
    with writer:

        def conn(topic, msgtype):
            return writer.add_connection(topic, msgtype, typestore=m.ts)

        c_rgb = conn("/camera/color/image_raw", CMP if color == "jpeg" else IMG)
        c_dep = conn("/camera/depth/image_rect_raw", IMG)
        c_inf = conn("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo") if with_info else None
        c_tf = conn("/tf", "tf2_msgs/msg/TFMessage") if pose == "tf" else None
        c_tfs = conn("/tf_static", "tf2_msgs/msg/TFMessage") if pose == "tf" else None
        c_odom = conn("/odom", "nav_msgs/msg/Odometry") if pose == "odom" else None

        def put(c, t, msg):
            writer.write(c, t, m.serialize(msg, c.msgtype))

        if c_tfs is not None:
            # camera optical frame 0.5 m above base_link, same orientation
            put(c_tfs, T0, m.tf(T0, "base_link", "camera_optical", (0.0, 0.0, 0.5), (0, 0, 0, 1)))
        for k, (rgb, mm) in enumerate(frames):
            t = T0 + k * DT
            if c_tf is not None:
                put(c_tf, t - 1000, m.tf(t - 1000, "odom", "base_link", (0.1 * k, 0, 0), (0, 0, 0, 1)))
            if c_odom is not None:
                put(c_odom, t - 1000, m.odom(t - 1000, "odom", "camera_optical", (0.1 * k, 0, 0)))
            if c_inf is not None:
                put(c_inf, t, m.camera_info(t, "camera_optical"))
            if color == "rgb8":
                cmsg = m.image(t, "camera_optical", rgb, "rgb8")
            elif color == "bgr8":
                cmsg = m.image(t, "camera_optical", rgb[..., ::-1], "bgr8")
            elif color == "mono8":
                cmsg = m.image(t, "camera_optical", rgb[..., 0], "mono8")
            else:
                buf = _io.BytesIO()
                Image.fromarray(rgb).save(buf, format="PNG")  # lossless, to compare exactly
                cmsg = m.compressed(t, "camera_optical", buf.getvalue(), "rgb8; png compressed")
            put(c_rgb, t, cmsg)
            td = t + 5_000_000
            if depth == "16UC1":
                dmsg = m.image(td, "camera_optical", mm, "16UC1")
            elif depth == "16UC1be":
                dmsg = m.image(td, "camera_optical", mm, "16UC1", bigendian=True)
            else:
                f = (mm.astype(np.float32) / 1000).astype(np.float32)
                f[f == 0] = np.nan
                dmsg = m.image(td, "camera_optical", f, "32FC1")
            if corrupt_depth_frame == k:
                dmsg.data = dmsg.data[: dmsg.data.size // 2]
            put(c_dep, td, dmsg)
    return frames


@pytest.mark.parametrize("kind", ["ros1", "sqlite3", "mcap"])
def test_bag_round_trip_exact(tmp_path, kind):
    path = tmp_path / ("rec.bag" if kind == "ros1" else "rec")
    frames = write_bag(path, kind)
    assert detect_format(path) == "rosbag"
    with open_sequence(path) as seq:
        assert isinstance(seq, RosbagSequence)
        assert seq.rgb_topic == "/camera/color/image_raw"
        assert seq.depth_topic == "/camera/depth/image_rect_raw"
        assert len(seq) == N
        got = list(seq)
        assert len(got) == N
        for f, (rgb, mm) in zip(got, frames):
            np.testing.assert_array_equal(f.rgb, rgb)
            np.testing.assert_array_equal(f.depth_m, mm.astype(np.float32) / 1000)
            assert f.intrinsics == Intrinsics(*K, W, H)
        assert got[1].timestamp_s == pytest.approx((T0 + DT) * 1e-9)
        # odom -> base_link (x = 0.1 k) -> camera_optical (+0.5 z)
        np.testing.assert_allclose(got[2].world_T_cam[:3, 3], [0.2, 0, 0.5], atol=1e-5)
        assert seq.stats.depth_invalid_encoded == 3 * N
        # random access agrees with streaming
        np.testing.assert_array_equal(seq[1].rgb, frames[1][0])
        np.testing.assert_array_equal(seq[-1].depth_m, frames[-1][1] / np.float32(1000))


def test_mcap_file_direct(tmp_path):
    path = tmp_path / "rec"
    frames = write_bag(path, "mcap")
    mcap = next(path.glob("*.mcap"))
    with open_sequence(mcap) as seq:
        f = seq[0]
        np.testing.assert_array_equal(f.rgb, frames[0][0])
        assert seq.info.extra["ros"] == 2


@pytest.mark.parametrize("color,depth", [("bgr8", "32FC1"), ("jpeg", "16UC1be"), ("mono8", "16UC1")])
def test_bag_encodings(tmp_path, color, depth):
    path = tmp_path / "enc.bag"
    frames = write_bag(path, "ros1", color=color, depth=depth, pose="odom")
    with open_sequence(path) as seq:
        got = list(seq)
        assert len(got) == N
        rgb, mm = frames[0]
        want_rgb = np.repeat(rgb[..., :1], 3, axis=2) if color == "mono8" else rgb
        np.testing.assert_array_equal(got[0].rgb, want_rgb)
        np.testing.assert_allclose(got[0].depth_m, mm.astype(np.float32) / 1000, atol=1e-6)
        if depth == "32FC1":
            # NaN holes are zeroed and counted at the boundary, not passed on
            assert seq.stats.depth_nonfinite_or_negative == 3 * N
            assert np.isfinite(got[0].depth_m).all()
        # odometry gives odom_T_camera_optical directly
        np.testing.assert_allclose(got[1].world_T_cam[:3, 3], [0.1, 0, 0], atol=1e-5)
        assert seq.info.pose_source == "odometry"


def test_bag_options_stride_resize(tmp_path):
    path = tmp_path / "o.bag"
    write_bag(path, "ros1")
    with open_sequence(path, stride=2, resize=(6, 8)) as seq:
        got = list(seq)
        assert [f.index for f in got] == [0, 1]
        assert got[0].rgb.shape == (6, 8, 3) and got[0].depth_m.shape == (6, 8)
        assert got[0].intrinsics == Intrinsics(*K, W, H).resized(8, 6)
        assert len(seq) == 2
    with open_sequence(path, max_frames=1) as seq:
        assert len(list(seq)) == 1


def test_bag_without_camera_info_needs_intrinsics(tmp_path):
    path = tmp_path / "noinfo.bag"
    write_bag(path, "ros1", with_info=False)
    with open_sequence(path, strict=True) as seq:
        with pytest.raises(FormatError, match="intrinsics"):
            seq[0]
    intr = Intrinsics(*K, W, H)
    with open_sequence(path, intrinsics=intr) as seq:
        assert seq[0].intrinsics == intr


def test_bag_corrupt_frame_skipped_or_fatal(tmp_path):
    path = tmp_path / "bad.bag"
    write_bag(path, "ros1", corrupt_depth_frame=1)
    with open_sequence(path) as seq:
        with pytest.warns(UserWarning, match="skipping frame 1"):
            got = list(seq)
        assert [f.index for f in got] == [0, 2]
        assert seq.skipped[0].index == 1 and "truncated" in seq.skipped[0].reason
        assert seq.stats.frames_skipped == 1
    with open_sequence(path, strict=True) as seq, pytest.raises(FormatError, match="truncated"):
        list(seq)


@pytest.mark.parametrize("kind", ["ros1", "mcap"])
def test_bag_cut_short_raises(tmp_path, kind):
    path = tmp_path / ("cut.bag" if kind == "ros1" else "cut")
    write_bag(path, kind)
    f = path if kind == "ros1" else next(path.glob("*.mcap"))
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seq = open_sequence(f)
            list(seq)


def test_not_a_bag(tmp_path):
    p = tmp_path / "junk.bag"
    p.write_bytes(b"not a bag at all" * 10)
    with pytest.raises(FormatError, match="cannot open"):
        open_sequence(p)


def test_pair_stream_nearest_unused_within_tolerance():
    ev = [("c", 0.0, "c0"), ("d", 0.004, "d0"), ("d", 0.09, "d1"), ("c", 0.1, "c1"), ("c", 0.2, "c2"), ("d", 0.5, "d2")]
    pairs = [(pc, pd) for _, pc, _, pd in pair_stream(iter(ev), 0.02)]
    assert pairs == [("c0", "d0"), ("c1", "d1")]  # c2 has no depth within 20 ms


def _count_messages(seq):
    """Wrap the bag reader so the test sees how many messages were actually read."""
    seen = []
    orig = seq._reader.messages

    def counting(*a, **kw):
        for item in orig(*a, **kw):
            seen.append(item[0].topic)
            yield item

    seq._reader.messages = counting
    return seen


def test_first_frame_streams_without_reading_the_rest(tmp_path):
    path = tmp_path / "s.bag"
    write_bag(path, "ros1", pose="none")
    with open_sequence(path) as seq:
        seen = _count_messages(seq)
        first = next(iter(seq))
        assert first.index == 0
        images = [t for t in seen if "image" in t]
        # colour 0, depth 0 and the next colour message that closes the pairing window
        assert len(images) == 3 < 2 * N


def test_ros1_length_from_bag_index(tmp_path):
    path = tmp_path / "i.bag"
    write_bag(path, "ros1", pose="none")
    with open_sequence(path) as seq:
        seen = _count_messages(seq)
        assert len(seq) == N
        assert seen == []  # timestamps came from the bag's index, no message was read
        seq[2]
        assert sorted(seen) == ["/camera/color/camera_info", "/camera/color/image_raw", "/camera/depth/image_rect_raw"]


# -- message decoding, on plain objects ------------------------------------------------


def _img(arr, encoding, step=None, big=False):
    from types import SimpleNamespace

    h, w = arr.shape[:2]
    a = np.ascontiguousarray(arr)
    if big:
        a = a.astype(a.dtype.newbyteorder(">"))
    rows = np.frombuffer(a.tobytes(), np.uint8).reshape(h, -1)
    step = step or rows.shape[1]
    padded = np.zeros((h, step), np.uint8)
    padded[:, : rows.shape[1]] = rows
    return SimpleNamespace(height=h, width=w, step=step, encoding=encoding, is_bigendian=int(big), data=padded.ravel())


def test_decode_images_with_row_padding():
    from real3d.io.ros import decode_image_color, decode_image_depth

    rgb = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(decode_image_color(_img(rgb, "rgba8", step=16)), rgb[..., :3])
    np.testing.assert_array_equal(decode_image_color(_img(rgb[..., :3], "bgr8", step=12)), rgb[..., 2::-1])
    mm = np.array([[0, 1500, 65535]], np.uint16)
    d, n = decode_image_depth(_img(mm, "16UC1", step=8, big=True))
    np.testing.assert_allclose(d, [[0, 1.5, 65.535]], rtol=1e-6)
    assert n == 1


def test_decode_wrong_encodings_and_sizes():
    from real3d.io.ros import decode_image_color, decode_image_depth

    with pytest.raises(FormatError, match="encoding 'mono8' not supported"):
        decode_image_depth(_img(np.zeros((2, 3), np.uint8), "mono8"))
    with pytest.raises(FormatError, match="encoding '16UC1' not supported"):
        decode_image_color(_img(np.zeros((2, 3), np.uint16), "16UC1"))
    msg = _img(np.zeros((2, 3), np.uint8), "16UC1")  # says 16-bit, carries 8-bit rows
    with pytest.raises(FormatError, match="bit depth"):
        decode_image_depth(msg)


def test_decode_compressed_depth():
    from types import SimpleNamespace

    from real3d.io.ros import decode_compressed_depth

    mm = np.array([[0, 1000, 2500]], np.uint16)
    buf = _io.BytesIO()
    Image.fromarray(mm).save(buf, format="PNG")
    png = buf.getvalue()
    head = np.array([0], "<i4").tobytes() + np.array([0, 0], "<f4").tobytes()
    msg = SimpleNamespace(format="16UC1; compressedDepth png", data=np.frombuffer(head + png, np.uint8))
    d, n = decode_compressed_depth(msg)
    np.testing.assert_allclose(d, [[0, 1.0, 2.5]])
    assert n == 1
    # 32FC1: inverse depth quantised as v = A / depth + B
    A, B = 100.0, -10.0
    depth = np.array([[0, 2.0, 4.0]], np.float32)
    v = np.where(depth > 0, np.rint(A / np.where(depth > 0, depth, 1) + B), 0).astype(np.uint16)
    buf = _io.BytesIO()
    Image.fromarray(v).save(buf, format="PNG")
    head = np.array([0], "<i4").tobytes() + np.array([A, B], "<f4").tobytes()
    msg = SimpleNamespace(format="32FC1; compressedDepth png", data=np.frombuffer(head + buf.getvalue(), np.uint8))
    d, n = decode_compressed_depth(msg)
    np.testing.assert_allclose(d, depth, rtol=1e-6)
    assert n == 1
