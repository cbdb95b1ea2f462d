"""Fault corpus of the readers (src/real3d/io): one damaged frame, pose row or file must cost
that frame only, and be reported; a damaged input never leaks anything but a real3d error.

Each test builds its fixture in tmp_path from tiny images (6 x 8 pixels), damages it, and
checks that iteration yields the other frames, that the bad one is in ``seq.skipped`` /
``seq.known_bad()``, that the pipeline's reading loop turns it into a skipped frame, and
that ``real3d info`` completes and counts it. The last tests damage every file of every
fixture in several ways and accept only real3d errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import warnings

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from real3d.cli import info_cmd
from real3d.core import FormatError, Intrinsics, make_pose
from real3d.core.errors import Real3DError
from real3d.io import detect_format, open_sequence, write_sens
from real3d.pipeline.source import _iterate, _ReadError

H, W = 6, 8
K = Intrinsics(10.0, 10.0, 3.5, 2.5, W, H)
N = 4


def _rgb(k: int) -> np.ndarray:
    return np.random.default_rng(k).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _mm(k: int) -> np.ndarray:
    return np.random.default_rng(100 + k).integers(500, 4000, (H, W)).astype(np.uint16)


def _pose(k: int) -> np.ndarray:
    c, s = np.cos(0.1 * k), np.sin(0.1 * k)
    return make_pose(np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]), [0.1 * k, 0, 0])


def _quat_line(k: int) -> str:
    # tx ty tz qx qy qz qw of _pose(k): a rotation of 0.1 k about z
    return f"{0.1 * k} 0 0 0 0 {np.sin(0.05 * k):.12f} {np.cos(0.05 * k):.12f}"


def _intr_json(root) -> None:
    (root / "intrinsics.json").write_text(
        json.dumps({"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy, "width": W, "height": H})
    )


# -- fixtures of each format ---------------------------------------------------------


def build_tum(root):
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rgb_l, dep_l, gt = [], [], []
    for k in range(N):
        t = 10.0 + 0.1 * k
        Image.fromarray(_rgb(k)).save(root / "rgb" / f"{t:.6f}.png")
        Image.fromarray(_mm(k) * 5).save(root / "depth" / f"{t:.6f}.png")
        rgb_l.append(f"{t:.6f} rgb/{t:.6f}.png")
        dep_l.append(f"{t:.6f} depth/{t:.6f}.png")
        gt.append(f"{t:.6f} {_quat_line(k)}")
    (root / "rgb.txt").write_text("# colour\n" + "\n".join(rgb_l) + "\n")
    (root / "depth.txt").write_text("# depth\n" + "\n".join(dep_l) + "\n")
    (root / "groundtruth.txt").write_text("# t tx ty tz qx qy qz qw\n" + "\n".join(gt) + "\n")
    return root


def build_folder(root):
    (root / "color").mkdir(parents=True)
    (root / "depth").mkdir()
    for k in range(N):
        Image.fromarray(_rgb(k)).save(root / "color" / f"{k}.png")
        Image.fromarray(_mm(k)).save(root / "depth" / f"{k}.png")
    (root / "pose.txt").write_text("".join(_quat_line(k) + "\n" for k in range(N)))
    _intr_json(root)
    return root


def build_pairs(root):
    root.mkdir(parents=True)
    for k in range(N):
        Image.fromarray(_rgb(k)).save(root / f"{k}.png")
        Image.fromarray(_mm(k)).save(root / f"{k}_depth.png")
    _intr_json(root)
    return root


def build_redwood(root):
    (root / "color").mkdir(parents=True)
    (root / "depth").mkdir()
    log = ""
    for k in range(N):
        Image.fromarray(_rgb(k)).save(root / "color" / f"{k:05d}.png")
        Image.fromarray(_mm(k)).save(root / "depth" / f"{k:05d}.png")
        rows = "\n".join(" ".join(f"{v:.12f}" for v in r) for r in _pose(k))
        log += f"{k} {k} {k + 1}\n{rows}\n"
    (root / "trajectory.log").write_text(log)
    (root / "camera_intrinsic.json").write_text(
        json.dumps({"width": W, "height": H, "intrinsic_matrix": [K.fx, 0, 0, 0, K.fy, 0, K.cx, K.cy, 1]})
    )
    return root


def build_scannet(root):
    for d in ("color", "depth", "pose", "intrinsic"):
        (root / d).mkdir(parents=True)
    for k in range(N):
        Image.fromarray(_rgb(k)).save(root / "color" / f"{k}.jpg", quality=95)
        Image.fromarray(_mm(k)).save(root / "depth" / f"{k}.png")
        np.savetxt(root / "pose" / f"{k}.txt", _pose(k))
    M = np.eye(4)
    M[:3, :3] = K.K
    np.savetxt(root / "intrinsic" / "intrinsic_depth.txt", M)
    np.savetxt(root / "intrinsic" / "intrinsic_color.txt", M)
    return root


def build_sens(root):
    root.mkdir(parents=True)
    path = root / "scene.sens"
    write_sens(path, [(_rgb(k), _mm(k), _pose(k), 1000 * k) for k in range(N)], K.K, K.K, color_format="png")
    return path


def build_sunrgbd(root):
    for k in range(N):
        scene = root / f"scene_{k}"
        for d in ("image", "depth", "extrinsics"):
            (scene / d).mkdir(parents=True)
        mm = _mm(k)
        stored = ((mm << np.uint16(3)) | (mm >> np.uint16(13))).astype(np.uint16)
        Image.fromarray(_rgb(k)).save(scene / "image" / "a.png")
        Image.fromarray(stored).save(scene / "depth" / "a.png")
        (scene / "intrinsics.txt").write_text("10 0 3.5\n0 10 2.5\n0 0 1\n")
        (scene / "extrinsics" / "1.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n")
    return root


def build_nyu_labeled(root):
    h5py = pytest.importorskip("h5py")
    root.mkdir(parents=True)
    path = root / "nyu_depth_v2_labeled.mat"
    rgb = np.stack([_rgb(k) for k in range(N)])
    depth = np.stack([_mm(k) / np.float32(1000) for k in range(N)]).astype(np.float32)
    labels = np.random.default_rng(7).integers(0, 895, (N, H, W)).astype(np.uint16)
    with h5py.File(path, "w") as f:
        # MATLAB is column-major: h5py sees every array transposed
        f.create_dataset("images", data=rgb.transpose(0, 3, 2, 1), chunks=(1, 3, W, H))
        f.create_dataset("depths", data=depth.transpose(0, 2, 1), chunks=(1, W, H))
        f.create_dataset("labels", data=labels.transpose(0, 2, 1), chunks=(1, W, H))
    return path


def build_nyu_raw(root):
    root.mkdir(parents=True)
    for k in range(3):
        t = 1300000000.0 + 0.1 * k
        Image.fromarray(np.zeros((480, 640, 3), np.uint8) + k).save(root / f"r-{t:.6f}-{k}.ppm")
        d = np.full((480, 640), 700 + k, "<u2")
        (root / f"d-{t:.6f}-{k}.pgm").write_bytes(b"P5\n640 480\n65535\n" + d.tobytes())
    return root


def build_bag(root):
    from real3d.io.ros_write import write_rgbd_bag

    root.mkdir(parents=True)
    path = root / "rec.bag"
    write_rgbd_bag(path, [(_rgb(k), _mm(k), _pose(k)) for k in range(N)], K, kind="ros1")
    return path


def build_real3d(root):
    disk = pytest.importorskip("real3d.synth.disk")
    from real3d.core import Frame
    from real3d.core.gt import OccupancyGrid, SceneGT, SceneMesh

    mesh = SceneMesh(
        vertices=np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32),
        triangles=np.array([[0, 1, 2]], np.int32),
        face_class=np.zeros(1, np.int16),
        face_label=np.array([5], np.uint8),
        face_instance=np.zeros(1, np.int32),
        face_material=np.zeros(1, np.int32),
    )
    occ = OccupancyGrid(
        occupied=np.zeros((2, 2), bool),
        known=np.ones((2, 2), bool),
        origin_xy=(0.0, 0.0),
        resolution_m=0.5,
        z_min_m=0.1,
        z_max_m=1.5,
    )
    scene = SceneGT(seed=0, kind="home", mesh=mesh, objects=[], relations=[], rooms=[], occupancy=occ)
    frames = [
        Frame(
            rgb=_rgb(k),
            depth_m=_mm(k) / np.float32(1000),
            intrinsics=K,
            world_T_cam=_pose(k),
            timestamp_s=0.1 * k,
            labels=np.full((H, W), 3, np.uint8),
            instances=np.zeros((H, W), np.int32),
        )
        for k in range(N)
    ]
    return disk.write_sequence(root, frames, scene, image_format="png")


BUILDERS = {
    "tum": build_tum,
    "folder": build_folder,
    "pairs": build_pairs,
    "redwood": build_redwood,
    "scannet": build_scannet,
    "sens": build_sens,
    "sunrgbd": build_sunrgbd,
    "nyu_labeled": build_nyu_labeled,
    "nyu_raw": build_nyu_raw,
    "rosbag": build_bag,
    "real3d": build_real3d,
}


# -- helpers -------------------------------------------------------------------------


def _read_all(seq) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(seq)


def _info(path, *args) -> str:
    app = typer.Typer()
    app.command()(info_cmd.info)
    r = CliRunner().invoke(app, [str(path), "-n", "10", *args], terminal_width=200)
    assert r.exit_code == 0, (r.output, r.exception)
    return r.output


def _expect_one_bad(path, bad: int, reason: str, **options):
    """Iteration yields every frame but ``bad`` and reports it; indexing it raises
    FormatError; the pipeline's reading loop skips it; ``info`` counts it."""
    with open_sequence(path, **options) as seq:
        got = _read_all(seq)
        assert [f.index for f in got] == [k for k in range(N) if k != bad]
        assert [s.index for s in seq.skipped] == [bad]
        assert reason in seq.skipped[0].reason, seq.skipped[0].reason
        assert seq.stats.frames_skipped == 1 and seq.stats.frames_decoded == N - 1
        with pytest.raises(FormatError, match=reason):
            seq[bad]
    with open_sequence(path, **options) as seq:
        out = list(_iterate(seq, None))
        assert [type(o).__name__ for o in out].count("_ReadError") == 1
        assert isinstance(out[bad], _ReadError) and reason in out[bad].reason
        poses = seq.source_poses()  # never raises for a bad frame; None: not known cheaply
        assert poses is None or len(poses) == N
    text = _info(path)
    assert "bad frames" in text and "1 (" in text and f"bad frame {bad}:" in text, text
    return text


# -- issue 40, defect 4: one bad row aborts a sequence ------------------------------


@pytest.mark.parametrize("row", ["nan 0 0 0 0 0 1", "0 0 0 0 0 0 0", "1 2 3"])
def test_tum_bad_groundtruth_row_skips_that_frame(tmp_path, row):
    root = build_tum(tmp_path / "rgbd_dataset_freiburg1_x")
    gt = root / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    lines[3] = lines[3].split()[0] + " " + row  # frame 2's pose row
    gt.write_text("\n".join(lines) + "\n")
    with open_sequence(root) as seq:
        assert [b.index for b in seq.known_bad()] == [2]
        poses = seq.source_poses()
        assert poses[2] is None and all(poses[k] is not None for k in (0, 1, 3))
    _expect_one_bad(root, 2, "groundtruth.txt")


def test_tum_groundtruth_without_one_usable_row_is_refused(tmp_path):
    root = build_tum(tmp_path / "seq")
    (root / "groundtruth.txt").write_text("10.0 0 0 0 0 0 0 0\n10.1 nan 0 0 0 0 0 1\n")
    with pytest.raises(FormatError, match="no usable row"):
        open_sequence(root)


def test_tum_unreadable_list_row_is_left_out_and_counted(tmp_path):
    root = build_tum(tmp_path / "seq")
    p = root / "rgb.txt"
    p.write_text(p.read_text().replace("10.100000 rgb", "ten rgb", 1))
    with pytest.warns(UserWarning, match="unreadable row"):
        seq = open_sequence(root)
    assert len(seq) == N - 1 and "unreadable list rows" in seq.info.extra
    assert len(_read_all(seq)) == N - 1


@pytest.mark.parametrize("line", ["0 0 0 0 0 0 0", "0 0 0 nan 0 0 1", "0 0 0 0 0 1"])
def test_folder_bad_pose_line_skips_that_frame(tmp_path, line):
    root = build_folder(tmp_path / "f")
    p = root / "pose.txt"
    lines = p.read_text().splitlines()
    lines[1] = line
    p.write_text("\n".join(lines) + "\n")
    _expect_one_bad(root, 1, "pose list")


def test_folder_missing_depth_file_skips_that_frame_and_keeps_poses(tmp_path):
    root = build_folder(tmp_path / "f")
    (root / "depth" / "2.png").unlink()  # pose.txt: 4 lines for 4 colour images, 3 depths
    _expect_one_bad(root, 2, "no depth image")
    with open_sequence(root) as seq:
        got = _read_all(seq)
        np.testing.assert_allclose(got[2].world_T_cam, _pose(3), atol=1e-9)  # not shifted


def test_folder_pose_count_matching_nothing_is_refused_clearly(tmp_path):
    root = build_folder(tmp_path / "f")
    (root / "pose.txt").write_text(_quat_line(0) + "\n" + _quat_line(1) + "\n")
    with pytest.raises(FormatError, match="expected one line per colour image"):
        open_sequence(root)
    assert len(open_sequence(root, pose_file=None)) == N


def test_redwood_non_rigid_entry_skips_that_frame(tmp_path):
    root = build_redwood(tmp_path / "r")
    p = root / "trajectory.log"
    lines = p.read_text().splitlines()
    lines[5 * 2 + 1] = "2 0 0 0"  # frame 2's first matrix row: a scaled axis
    p.write_text("\n".join(lines) + "\n")
    _expect_one_bad(root, 2, "not a rigid transform")


def test_redwood_missing_depth_image_skips_that_frame(tmp_path):
    root = build_redwood(tmp_path / "r")
    (root / "depth" / "00001.png").unlink()  # was "4 colour but 3 depth images"
    _expect_one_bad(root, 1, "no depth image")
    with open_sequence(root) as seq:
        got = _read_all(seq)
        # frames keep their own images and poses: matched by name, not shifted
        np.testing.assert_array_equal(got[1].rgb, _rgb(2))
        np.testing.assert_allclose(got[1].world_T_cam, _pose(2), atol=1e-9)


def test_redwood_unpairable_images_are_refused_clearly(tmp_path):
    root = build_redwood(tmp_path / "r")
    for k in range(N):
        (root / "depth" / f"{k:05d}.png").rename(root / "depth" / f"d{k}.png")
    (root / "depth" / "d3.png").unlink()
    with pytest.raises(FormatError, match="4 colour but 3 depth.*same name"):
        open_sequence(root)


def test_scannet_unreadable_pose_file_info_completes(tmp_path):
    root = build_scannet(tmp_path / "scene0000_00")
    (root / "pose" / "1.txt").write_bytes(b"\xff\xfe\x00garbage\x81")
    text = _expect_one_bad(root, 1, "ScanNet pose")
    assert "3/4" in text  # poses counted without the bad one


def test_sens_non_rigid_pose_info_completes(tmp_path):
    path = tmp_path / "s.sens"
    bad = _pose(2) * 2
    bad[3, 3] = 1
    write_sens(
        path, [(_rgb(k), _mm(k), bad if k == 2 else _pose(k), 1000 * k) for k in range(N)], K.K, K.K, color_format="png"
    )
    _expect_one_bad(path, 2, "not a rigid transform")


# -- issue 40, defect 8: a missing depth file in a pairs folder ---------------------


def test_pairs_missing_depth_file_is_reported(tmp_path):
    root = build_pairs(tmp_path / "p")
    (root / "3_depth.png").unlink()
    assert detect_format(root) == "pairs"
    _expect_one_bad(root, 3, "3_depth.png")


def test_pairs_without_one_pair_is_refused(tmp_path):
    root = build_pairs(tmp_path / "p")
    for k in range(N):
        (root / f"{k}_depth.png").unlink()
    with pytest.raises(FormatError, match="no <name>.png beside <name>_depth.png"):
        open_sequence(root, format="pairs")


# -- issue 40, defect 9 (readers): wrong exception classes ---------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_named_like_a_bag(tmp_path):
    p = tmp_path / "rec.bag"
    os.mkfifo(p)
    with pytest.raises(FormatError, match="neither a regular file nor a folder"):
        detect_format(p)
    with pytest.raises(FormatError, match="expected a ROS 1 .bag file"):
        open_sequence(p, format="rosbag")


def test_folder_named_like_a_bag(tmp_path):
    p = tmp_path / "rec.bag"
    p.mkdir()
    for call in (lambda: detect_format(p), lambda: open_sequence(p, format="rosbag")):
        with pytest.raises(FormatError, match="folder without metadata.yaml"):
            call()


@pytest.mark.parametrize(
    "content",
    [
        [10, 10, 3.5, 2.5, 8, 6],
        "fx",
        {"fx": "10", "fy": 10, "cx": 3.5, "cy": 2.5, "width": 8, "height": 6},
        {"fx": 10, "fy": 10, "cx": 3.5, "cy": 2.5, "width": 8.5, "height": 6},
        {"fx": 10, "fy": 10, "cx": 3.5},
        {"fx": -1, "fy": 10, "cx": 3.5, "cy": 2.5, "width": 8, "height": 6},
    ],
)
def test_wrong_intrinsics_json_names_the_fields(tmp_path, content):
    root = build_folder(tmp_path / "f")
    (root / "intrinsics.json").write_text(json.dumps(content))
    with pytest.raises(FormatError, match="intrinsics.json") as e:
        open_sequence(root)
    assert "fx" in str(e.value)


def test_real3d_layout_with_wrong_json_types(tmp_path):
    root = build_real3d(tmp_path / "r")
    (root / "intrinsics.json").write_text("[1, 2, 3]")
    with pytest.raises(FormatError, match="expected an object with numbers fx"):
        open_sequence(root)
    root = build_real3d(tmp_path / "r2")
    (root / "scene.json").write_text("[]")
    with pytest.raises(FormatError, match="expected a JSON object"):
        open_sequence(root)


def test_ros_bag_damaged_message_skips_that_frame(tmp_path):
    path = build_bag(tmp_path / "b")
    data = path.read_bytes()
    at = [i for i in range(len(data)) if data.startswith(b"16UC1", i)]
    assert len(at) == N  # one depth message per frame, stored uncompressed
    path.write_bytes(data[: at[1]] + b"16XC1" + data[at[1] + 5 :])
    _expect_one_bad(path, 1, "16XC1")


def test_nyu_labeled_bad_labels_skip_that_frame(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = build_nyu_labeled(tmp_path / "n")
    with h5py.File(path, "r+") as f:
        f["labels"][2, 0, 0] = 9999  # beyond the 894 classes
    _expect_one_bad(path, 2, "labels")


# -- damage every file of every fixture: only real3d errors -------------------------


def _damages(path):
    """(name, apply) for a file: cut to half, cut to nothing, bytes flipped (anywhere, or
    in the back half only), replaced by a folder."""
    data = path.read_bytes()

    def cut_half():
        path.write_bytes(data[: len(data) // 2])

    def empty():
        path.write_bytes(b"")

    def flip():
        b = bytearray(data)
        rng = np.random.default_rng(len(data))
        for i in rng.integers(0, max(len(b), 1), size=max(1, len(b) // 50)):
            if b:
                b[i] ^= 0xFF
        path.write_bytes(bytes(b))

    def flip_late():
        # the back of a container (a .sens, a bag): frame data rather than its header
        b = bytearray(data)
        rng = np.random.default_rng(len(data) + 1)
        for i in rng.integers(len(b) // 2, max(len(b), 1), size=max(1, len(b) // 100)):
            if b:
                b[i] ^= 0x5A
        path.write_bytes(bytes(b))

    def folder():
        path.unlink()
        path.mkdir()

    return [("half", cut_half), ("empty", empty), ("flip", flip), ("flip_late", flip_late), ("folder", folder)]


def _representatives(files: list) -> list:
    """One file per name pattern (digits ignored): frame 1's colour image stands for every
    frame's; files met once (lists, calibration, logs) all stay."""
    groups: dict[str, list] = {}
    for f in files:
        groups.setdefault(re.sub(r"\d+", "#", str(f)), []).append(f)
    return [g[1] if len(g) > 1 else g[0] for g in groups.values()]


def _exercise(path, fmt) -> None:
    """Open, describe, list poses, iterate, index: anything but a real3d error fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            seq = open_sequence(path, format=fmt)
        except Real3DError:
            return
        with seq:
            for step in (
                lambda: seq.info,
                seq.source_poses,
                seq.known_bad,
                lambda: list(seq),
                lambda: [seq[k] for k in range(len(seq))],
            ):
                try:
                    step()
                except Real3DError:
                    pass


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_every_file_damaged_gives_real3d_errors_only(tmp_path, fmt):
    target = BUILDERS[fmt](tmp_path / "clean")
    files = _representatives(
        sorted(p.relative_to(tmp_path / "clean") for p in (tmp_path / "clean").rglob("*") if p.is_file())
    )
    assert files
    n = 0
    for rel in files:
        for name, _ in _damages(tmp_path / "clean" / rel):
            work = tmp_path / f"case{n}"
            n += 1
            target_w = work / target.relative_to(tmp_path / "clean")
            shutil.copytree(tmp_path / "clean", work)
            dict(_damages(work / rel))[name]()
            try:
                _exercise(target_w, fmt)
            except Exception as e:  # noqa: BLE001 - the point of the test
                pytest.fail(f"{fmt}: {rel} {name}: {type(e).__name__}: {e}")
            shutil.rmtree(work)


def _blocks(fn, fifo, timeout_s: float = 10.0) -> bool:
    """Run ``fn`` in a thread; True when it was still blocked after ``timeout_s`` (then the
    FIFO is opened for writing and closed, which ends the blocked read)."""
    errors = []

    def run():
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout_s)
    blocked = t.is_alive()
    while t.is_alive():
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        t.join(0.2)
    if errors:
        raise errors[0]
    return blocked


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_fifo_in_place_of_any_file_never_blocks(tmp_path, fmt):
    target = BUILDERS[fmt](tmp_path / "clean")
    files = _representatives(
        sorted(p.relative_to(tmp_path / "clean") for p in (tmp_path / "clean").rglob("*") if p.is_file())
    )
    for n, rel in enumerate(files):
        work = tmp_path / f"case{n}"
        shutil.copytree(tmp_path / "clean", work)
        (work / rel).unlink()
        os.mkfifo(work / rel)
        path = work / target.relative_to(tmp_path / "clean")
        assert not _blocks(lambda: _exercise(path, fmt), work / rel), f"{fmt}: {rel} blocks"


def test_scannet_missing_depth_image_is_reported(tmp_path):
    root = build_scannet(tmp_path / "scene0000_00")
    (root / "depth" / "2.png").unlink()
    _expect_one_bad(root, 2, "no depth image")


def test_sunrgbd_scene_without_depth_folder_is_reported(tmp_path):
    root = build_sunrgbd(tmp_path / "sun")
    shutil.rmtree(root / "scene_1" / "depth")
    _expect_one_bad(root, 1, "lacks depth/")


def test_pipeline_run_skips_and_reports_the_bad_frames_of_a_damaged_folder(tmp_path):
    torch = pytest.importorskip("torch")
    from real3d.models import build_model
    from real3d.pipeline import Pipeline, PipelineConfig

    root = tmp_path / "f"
    (root / "color").mkdir(parents=True)
    (root / "depth").mkdir()
    h, w = 48, 64
    rng = np.random.default_rng(0)
    for k in range(N):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "color" / f"{k}.png")
        Image.fromarray(np.full((h, w), 2000 + 10 * k, np.uint16)).save(root / "depth" / f"{k}.png")
    lines = [_quat_line(k) for k in range(N)]
    lines[1] = "0 0 0 0 0 0 0"  # zero quaternion
    (root / "pose.txt").write_text("\n".join(lines) + "\n")
    (root / "intrinsics.json").write_text(
        json.dumps({"fx": 50.0, "fy": 50.0, "cx": 31.5, "cy": 23.5, "width": w, "height": h})
    )
    (root / "depth" / "3.png").unlink()
    torch.manual_seed(0)
    pipe = Pipeline(
        PipelineConfig(graph_every=0, costmap_every=0),
        segmenter=build_model("rgbd-tiny").eval(),
        rgb_segmenter=build_model("rgb-tiny").eval(),
    )
    with open_sequence(root) as seq:
        summary = pipe.run(seq)
    reasons = dict(summary.skipped)
    assert set(reasons) == {1, 3}, reasons
    assert "quaternion" in reasons[1] and "no depth image" in reasons[3]
    assert summary.counts["fused"] == N - 2


def test_camera_json_with_infinite_size_is_a_format_error(tmp_path):
    root = build_redwood(tmp_path / "r")
    (root / "camera_intrinsic.json").write_text(
        '{"width": 1e400, "height": 6, "intrinsic_matrix": [10, 0, 0, 0, 10, 0, 3.5, 2.5, 1]}'
    )
    with pytest.raises(FormatError, match="camera json"):
        open_sequence(root)


def test_real3d_scene_ground_truth_damage_is_a_format_error(tmp_path):
    from real3d.io.real3d_disk import read_sequence

    root = build_real3d(tmp_path / "r")
    meta = json.loads((root / "scene.json").read_text())
    meta["seed"] = "x"
    (root / "scene.json").write_text(json.dumps(meta))
    with pytest.raises(FormatError, match="scene ground truth"):
        read_sequence(root).scene
    root = build_real3d(tmp_path / "r2")
    ply = (root / "mesh.ply").read_bytes().replace(b"element vertex 3", b"element vertex x", 1)
    (root / "mesh.ply").write_bytes(ply)
    with pytest.raises(FormatError, match="PLY header"):
        read_sequence(root).scene


def test_real3d_run_counts_the_frames_the_reader_knew_to_be_bad(tmp_path):
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from real3d.cli.main import app

    root = build_folder(tmp_path / "f")
    (root / "depth" / "2.png").unlink()
    r = CliRunner().invoke(
        app, ["run", str(root), "--out", str(tmp_path / "out"), "--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]
    )
    assert r.exit_code == 0, r.output
    assert "reader skipped 1 frame(s)" in r.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["run"]["counts"]["skipped"] == 1
