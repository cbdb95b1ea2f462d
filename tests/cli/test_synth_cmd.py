import json

from typer.testing import CliRunner

from real3d.cli.main import app


def test_synth_writes_sequences_and_sheet(tmp_path):
    r = CliRunner().invoke(
        app, ["synth", "--out", str(tmp_path), "--scenes", "2", "--frames", "3", "--size", "48x64", "--seed", "5"]
    )
    assert r.exit_code == 0, r.output
    for s in (5, 6):
        meta = json.loads((tmp_path / f"scene_{s:05d}" / "scene.json").read_text())
        assert meta["n_frames"] == 3 and meta["seed"] == s and meta["size_hw"] == [48, 64]
        assert len(list((tmp_path / f"scene_{s:05d}" / "depth").glob("*.png"))) == 3
    assert (tmp_path / "contact_sheet.png").stat().st_size > 1000


def test_synth_bad_size_and_help(tmp_path):
    r = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), "--size", "big"])
    assert r.exit_code != 0
    r = CliRunner().invoke(app, ["synth", "--help"])
    assert r.exit_code == 0 and "--frames" in r.output
