import json

import pytest
from typer.testing import CliRunner

from real3d.cli.main import app
from real3d.core.errors import ConfigError, InputError

TINY = ["--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    from real3d.synth import write_sequence
    from real3d.testing.toyscene import toy_sequence

    seq = toy_sequence(0, n_frames=3, size=(48, 64))
    return write_sequence(tmp_path_factory.mktemp("rec") / "seq", seq.frames, seq.scene, image_format="png")


def run(args):
    return CliRunner().invoke(app, ["run", *args, *TINY])


def test_depth_missing_is_flagged_counted_and_goes_to_the_rgb_model(recording, tmp_path):
    out = tmp_path / "out"
    r = run([str(recording), "--out", str(out), "--corrupt", "depth_missing:5,jpeg:2", "--health"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    c = m["run"]["counts"]
    assert c["rgb_only"] == 3 and c["fused"] == 0
    assert "sensor_health" not in m  # the pipeline's counts, in its run summary
    h = m["run"]["sensor_health"]
    assert h["checked"] == 3 and h["flagged"] == 3 and h["by_fault"]["depth"] == 3 and h["depth_switched"] == 3
    assert [f["index"] for f in h["frames"]] == [0, 1, 2]
    assert all("valid depth 0 %" in f["reason"] for f in h["frames"])
    assert m["settings"]["corruption"] == "depth_missing:5, jpeg:2 (seed 0, --corrupt)"
    assert m["settings"]["sensor health"].startswith("3 of 3 frames flagged (depth: 3)")
    assert "sensor health" in (out / "report.md").read_text()
    # the per-frame measures are drawn: valid depth 0 on every frame, each flagged
    assert "## Sensor health per frame" in (out / "report.md").read_text()
    assert (out / "report_files" / "health.png").is_file()


def test_frames_without_usable_depth_fuse_predicted_depth_with_a_depth_model(recording, tmp_path):
    out = tmp_path / "out"
    args = ["--corrupt", "depth_missing:5", "--health", "--depth-model", "depth-rgb-default"]
    r = run([str(recording), "--out", str(out), *args, "--predicted-depth-weight", "0.5", "--camera-height", "1.2"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["run"]["counts"]["fused"] == 3 and m["run"]["predicted_depth"] == 3
    assert m["settings"]["depth model"].startswith("depth-rgb-default for frames without usable depth (weight 0.5")
    bad = run(
        [
            str(recording),
            "--out",
            str(tmp_path / "bad"),
            "--depth-model",
            "depth-rgb-default",
            "--predicted-depth-weight",
            "2",
        ]
    )
    assert bad.exit_code != 0 and "predicted_depth_weight" in str(bad.exception or bad.output)


def test_health_on_clean_frames_flags_none_and_fuses_all(recording, tmp_path):
    out = tmp_path / "out"
    r = run([str(recording), "--out", str(out), "--health"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["run"]["counts"]["fused"] == 3
    assert m["run"]["sensor_health"]["flagged"] == 0 and m["run"]["sensor_health"]["checked"] == 3
    assert "corruption" not in m["settings"]
    assert (out / "report_files" / "health.png").is_file()


def test_corrupt_without_health_writes_no_health_entry(recording, tmp_path):
    out = tmp_path / "out"
    r = run([str(recording), "--out", str(out), "--corrupt", "depth_block_dropout:5", "--max-frames", "2"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert "sensor_health" not in m["run"] and m["run"]["counts"]["fused"] == 2
    assert not (out / "report_files" / "health.png").exists()
    assert m["settings"]["corruption"].startswith("depth_block_dropout:5")


@pytest.mark.parametrize(
    "spec,error,word",
    [
        ("no_such:3", ConfigError, "valid"),
        ("jpeg", ConfigError, "NAME:SEVERITY"),
        ("jpeg:6", InputError, "1..5"),
        ("jpeg:x", InputError, "1..5"),
        ("jpeg:0", InputError, "1..5"),
    ],
)
def test_bad_corruptions_raise_the_documented_error_before_any_work(recording, tmp_path, spec, error, word):
    out = tmp_path / "out"
    r = run([str(recording), "--out", str(out), "--corrupt", spec])
    assert isinstance(r.exception, error) and word in str(r.exception)
    assert not out.exists()
