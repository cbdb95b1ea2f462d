import json

import onnx
from typer.testing import CliRunner

from real3d.cli.main import app


def test_export_int8_with_target(tmp_path):
    # An untrained preset at a small size; a target the all-INT8 graph already meets stops
    # the float-node search after one measurement.
    r = CliRunner().invoke(
        app,
        [
            "export",
            "--model",
            "rgbd-tiny",
            "--int8",
            "--int8-target",
            "0.01",
            "--size",
            "32x48",
            "--calib",
            "synth:kind=home,size=32x48,seed=11,n=2",
            "--calib-frames",
            "2",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "kept in float: []" in r.output
    # written under temporary names and renamed: only the two finished graphs remain
    assert sorted(f.name for f in tmp_path.iterdir()) == ["rgbd-tiny.int8.onnx", "rgbd-tiny.onnx"]
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "rgbd-tiny.int8.onnx")).metadata_props}
    assert meta["real3d.precision"] == "int8" and json.loads(meta["real3d.int8_keep_float"]) == []
    assert meta["real3d.int8_weight_format"] == "int7"


def test_export_rejects_bad_target(tmp_path):
    r = CliRunner().invoke(
        app,
        [
            "export",
            "--model",
            "rgbd-tiny",
            "--int8",
            "--int8-target",
            "1.5",
            "--size",
            "32x48",
            "--calib",
            "synth:kind=home,size=32x48,seed=11,n=2",
            "--calib-frames",
            "2",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code != 0
    assert "--int8-target" in str(r.exception) + r.output


def test_export_rejects_bad_weight_format(tmp_path):
    r = CliRunner().invoke(
        app,
        [
            "export",
            "--model",
            "rgbd-tiny",
            "--int8",
            "--int8-weights",
            "int4",
            "--size",
            "32x48",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code != 0
    assert "--int8-weights" in str(r.exception) + r.output
