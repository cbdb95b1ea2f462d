import numpy as np
import pytest

from real3d.core import FormatError, InputError
from real3d.synth import read_sequence, write_sequence


def test_round_trip_png(tmp_path, home_seq):
    out = write_sequence(tmp_path / "seq", home_seq.frames, home_seq.scene, image_format="png")
    seq = read_sequence(out)
    assert len(seq) == len(home_seq)
    for a, b in zip(home_seq, seq):
        assert np.array_equal(a.rgb, b.rgb)
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.instances, b.instances)
        assert np.abs(a.depth_m - b.depth_m).max() <= 0.0005 + 1e-6  # millimetre storage
        assert np.allclose(a.world_T_cam, b.world_T_cam, atol=1e-8)
        assert a.intrinsics == b.intrinsics and a.timestamp_s == pytest.approx(b.timestamp_s, abs=1e-6)
    s0, s1 = home_seq.scene, seq.scene
    assert np.array_equal(s0.mesh.vertices, s1.mesh.vertices)
    assert np.array_equal(s0.mesh.triangles, s1.mesh.triangles)
    assert np.array_equal(s0.mesh.face_label, s1.mesh.face_label)
    assert np.array_equal(s0.mesh.face_instance, s1.mesh.face_instance)
    assert [o.to_dict() for o in s0.objects] == [o.to_dict() for o in s1.objects]
    assert s0.relations == s1.relations and s0.rooms == s1.rooms
    assert np.array_equal(s0.occupancy.occupied, s1.occupancy.occupied)
    assert not list(tmp_path.glob(".seq.tmp-*"))


def test_jpeg_is_close(tmp_path, home_seq):
    seq = read_sequence(write_sequence(tmp_path / "j", home_seq.frames[:2], home_seq.scene))
    diff = np.abs(seq[0].rgb.astype(int) - home_seq[0].rgb.astype(int)).mean()
    assert diff < 6


def test_existing_folder_and_failures_leave_nothing(tmp_path, home_seq):
    out = write_sequence(tmp_path / "s", home_seq.frames[:1], home_seq.scene, image_format="png")
    with pytest.raises(InputError, match="exists"):
        write_sequence(out, home_seq.frames[:1], home_seq.scene)
    bad = [home_seq[0], home_seq[0].replace(depth_m=None)]
    with pytest.raises(InputError):
        write_sequence(tmp_path / "t", bad, home_seq.scene)
    assert not (tmp_path / "t").exists() and not list(tmp_path.glob(".t.tmp-*"))


def test_corrupt_files_raise(tmp_path, home_seq):
    out = write_sequence(tmp_path / "c", home_seq.frames[:2], home_seq.scene, image_format="png")
    p = out / "depth" / "000001.png"
    p.write_bytes(p.read_bytes()[:50])
    seq = read_sequence(out)
    seq[0]  # the intact frame still reads
    with pytest.raises(FormatError, match="000001"):
        seq[1]
    (out / "mesh.ply").write_bytes((out / "mesh.ply").read_bytes()[:400])
    with pytest.raises(FormatError, match="truncated"):
        seq.scene
    with pytest.raises(FormatError, match="scene.json"):
        read_sequence(tmp_path)
