"""`real3d info` (src/real3d/cli/info_cmd.py) on a written TUM folder and the real samples."""

from __future__ import annotations

import numpy as np
import typer
from PIL import Image
from typer.testing import CliRunner

from real3d.cli import info_cmd


def _app():
    # The command on its own app, so the test does not depend on other subcommands.
    app = typer.Typer()
    app.command()(info_cmd.info)
    return app


def test_info_on_written_tum(tmp_path):
    root = tmp_path / "rgbd_dataset_freiburg1_x"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(root / "rgb" / "1.png")
    d = np.zeros((480, 640), np.uint16)
    d[:240] = 10000  # 2 m on the top half, the rest invalid
    Image.fromarray(d).save(root / "depth" / "1.png")
    (root / "rgb.txt").write_text("1.0 rgb/1.png\n")
    (root / "depth.txt").write_text("1.01 depth/1.png\n")
    r = CliRunner().invoke(_app(), [str(root)], terminal_width=200)
    assert r.exit_code == 0, r.output
    for text in ("tum", "640 x 480", "fx 517.30", "valid 50.0 %", "median 2.000", "freiburg1", "labels"):
        assert text in r.output, text


def test_info_on_real_redwood(real):
    r = CliRunner().invoke(_app(), [str(real / "iclnuim_synthetic_seq"), "-n", "2"], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "redwood" in r.output and "5/5" in r.output and "trajectory.log" in r.output
    assert "fx 525.00" in r.output


def test_info_reports_missing_intrinsics(real):
    r = CliRunner().invoke(_app(), [str(real / "joinmap_kinect_seq"), "-n", "1"], terminal_width=200)
    # The message is printed unwrapped whatever the terminal width (it names a long path).
    assert r.exit_code == 0, r.output
    assert "no camera intrinsics" in r.output, r.output
    r = CliRunner().invoke(
        _app(),
        [str(real / "joinmap_kinect_seq"), "-n", "1", "--intrinsics", "518,519,325.5,253.5,640,480"],
        terminal_width=200,
    )
    assert "fx 518.00" in r.output and "median" in r.output
