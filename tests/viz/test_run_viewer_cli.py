"""``real3d run --mesh`` and ``--viewer save`` end to end on a tiny written sequence."""

import numpy as np
import pytest
from typer.testing import CliRunner

from real3d.cli.main import app

TINY = ["--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]
N_FRAMES = 6


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    from real3d.synth import generate_sequence, write_sequence

    seq = generate_sequence(3, N_FRAMES, size=(48, 64))
    return write_sequence(tmp_path_factory.mktemp("seq") / "seq", seq.frames, seq.scene, image_format="png")


def run(args):
    r = CliRunner().invoke(app, ["run", *args, *TINY])
    assert r.exit_code == 0, r.output
    return r


def read_ply_header(path) -> tuple[list[str], bytes]:
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    return data[:end].decode("ascii").splitlines(), data[end:]


def test_mesh_writes_a_labelled_semantic_mesh_in_the_map_frame(sequence, tmp_path):
    out = tmp_path / "out"
    run([str(sequence), "--out", str(out), "--mesh", "--viewer", "none"])
    mesh = out / "semantic_mesh.ply"
    assert mesh.is_file() and not (out / "recording.rrd").exists()
    header, body = read_ply_header(mesh)
    assert "comment frame_id map" in header
    n_vertices = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    n_faces = int(next(h for h in header if h.startswith("element face")).split()[-1])
    assert n_vertices > 10 and n_faces > 10 and "property uchar label" in header
    # x, y, z float32, r, g, b, label uint8; faces: a count byte and three int32 indices
    assert len(body) == n_vertices * 16 + n_faces * 13
    v = np.frombuffer(body[: n_vertices * 16], [("xyz", "<f4", 3), ("rgb", "u1", 3), ("label", "u1")])
    f = np.frombuffer(body[n_vertices * 16 :], [("n", "u1"), ("i", "<i4", 3)])
    assert (f["n"] == 3).all() and f["i"].min() >= 0 and f["i"].max() < n_vertices
    assert v["label"].max() <= 13 and np.isfinite(v["xyz"]).all()
    # The run's output folder takes the mesh again (a second run replaces the set).
    run([str(sequence), "--out", str(out), "--max-frames", "2", "--viewer", "none"])
    assert not mesh.exists()


def test_viewer_save_writes_the_growing_map_into_recording_rrd(sequence, tmp_path):
    pytest.importorskip("rerun.chunk")
    from real3d.viz.rerun_log import recording_rows

    out = tmp_path / "out"
    r = run([str(sequence), "--out", str(out), "--viewer", "save", "--viewer-map-every", "2", "--viewer-every", "3"])
    assert "rerun" not in r.output  # no warning
    rows = recording_rows(out / "recording.rrd")
    assert rows["/world/map"] == N_FRAMES // 2 + 1
    assert rows["/world/camera/image/rgb"] == N_FRAMES // 3
    assert rows["/world/camera"] == N_FRAMES and rows["/world/path"] == 1
