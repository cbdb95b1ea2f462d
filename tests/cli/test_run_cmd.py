import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from real3d.cli.main import app

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
TINY = ["--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]


def invoke(args):
    r = CliRunner().invoke(app, ["run", *args, *TINY])
    assert r.exit_code == 0, r.output
    return r


@pytest.mark.parametrize(
    "name,extra,has_poses",
    [
        ("iclnuim_synthetic_seq", ["--max-frames", "3"], True),
        (
            "joinmap_kinect_seq",
            ["--max-frames", "3", "--intrinsics", "518,519,325.5,253.5,640,480"],
            True,
        ),
        (
            "tum_pair",
            ["--depth-encoding", "tum", "--intrinsics", "520.9,521.0,325.1,249.7,640,480"],
            False,
        ),
    ],
)
def test_run_real_samples(tmp_path, name, extra, has_poses):
    if not (REAL / name).is_dir():
        pytest.skip(f"shared sample {name} not present")
    out = tmp_path / name
    invoke([str(REAL / name), "--out", str(out), *extra])
    m = json.loads((out / "metrics.json").read_text())
    c = m["run"]["counts"]
    assert c["fused"] >= 1 and c["skipped"] == 0
    assert m["map"]["voxels"] > 1000
    for f in (
        "report.html",
        "report.md",
        "semantic_map.ply",
        "scene_graph.json",
        "costmap.png",
        "path.json",
    ):
        assert (out / f).is_file(), f
    assert (m["settings"]["poses"] != "none") == has_poses


def test_run_reports_bad_frames(tmp_path):
    from real3d.synth import generate_sequence, write_sequence

    seq = generate_sequence(4, 5, size=(48, 64))
    src = write_sequence(tmp_path / "seq", seq.frames, seq.scene, image_format="png")
    sorted((src / "pose").iterdir())[2].unlink()  # a frame without its pose
    color = sorted((src / "color").glob("*.png"))
    color[3].write_bytes(color[3].read_bytes()[:100])  # truncated image
    out = tmp_path / "out"
    r = invoke([str(src), "--out", str(out), "--goal", "1.0,1.0"])
    m = json.loads((out / "metrics.json").read_text())
    skipped = {s["index"]: s["reason"] for s in m["run"]["skipped"]}
    assert 3 in skipped and "read error" in skipped[3]
    assert 2 in skipped and "pose" in skipped[2]
    assert m["run"]["counts"]["fused"] == 3
    assert "skipped" in r.output
    assert "truncated" in (out / "report.md").read_text() or "read error" in (out / "report.md").read_text()


def test_run_help_and_bad_goal(tmp_path):
    r = CliRunner().invoke(app, ["run", "--help"])
    assert r.exit_code == 0 and "--backend" in r.output and "--goal" in r.output
    r = CliRunner().invoke(app, ["run", str(tmp_path), "--goal", "north"])
    assert r.exit_code != 0
    for bad in ("1,x", "9"):
        r = CliRunner().invoke(app, ["run", str(tmp_path), "--seg-scales", bad])
        assert r.exit_code != 0 and "scales" in str(r.exception or r.output)


def test_run_with_segmentation_tta(tmp_path):
    from real3d.synth import generate_sequence, write_sequence

    seq = generate_sequence(4, 3, size=(48, 64))
    src = write_sequence(tmp_path / "seq", seq.frames, seq.scene, image_format="png")
    out = tmp_path / "out"
    invoke([str(src), "--out", str(out), "--seg-flip", "--seg-scales", "1,1.2"])
    m = json.loads((out / "metrics.json").read_text())
    assert m["run"]["counts"]["fused"] == 3
    assert m["settings"]["segmentation test-time augmentation"] == "flip, scales 1, 1.2"
    assert "flip, scales 1, 1.2" in (out / "report.md").read_text()


def test_a_recording_without_intrinsics_fails_at_once_naming_the_flag(tmp_path):
    from PIL import Image

    root = tmp_path / "pairs"
    root.mkdir()
    for k in range(2):
        Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(root / f"{k}.png")
        Image.fromarray(np.full((24, 32), 1500, np.uint16)).save(root / f"{k}_depth.png")
    r = CliRunner().invoke(app, ["run", str(root), "--out", str(tmp_path / "out")])
    from real3d.core.errors import ConfigError

    assert r.exit_code != 0 and isinstance(r.exception, ConfigError), r.output
    assert "--intrinsics fx,fy,cx,cy,width,height" in str(r.exception)
    assert not (tmp_path / "out" / "metrics.json").exists()
