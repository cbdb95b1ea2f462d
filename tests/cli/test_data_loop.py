import json

import pytest
from typer.testing import CliRunner

from real3d.cli.main import app
from real3d.core.errors import ConfigError


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A pool of 8 and a held-out set of 3 frames of two different toy scenes, 64x64."""
    from real3d.synth import write_sequence
    from real3d.testing.toyscene import toy_sequence

    root = tmp_path_factory.mktemp("loop")
    out = []
    for seed, n in ((1, 8), (2, 3)):
        seq = toy_sequence(seed, n_frames=n, size=(64, 64))
        out.append(str(write_sequence(root / f"seq{seed}", seq.frames, seq.scene, image_format="png")))
    return out


def invoke(args):
    return CliRunner().invoke(app, ["data", "loop", *args])


def test_loop_writes_curves_per_strategy_and_seed(recordings, tmp_path):
    pool, heldout = recordings
    out = tmp_path / "al"
    args = ["--pool", pool, "--heldout", heldout, "--initial", "2", "--batch", "2", "--rounds", "1"]
    args += ["--steps", "2", "--batch-size", "2", "--seeds", "0,1", "--strategy", "random", "--strategy", "entropy"]
    r = invoke([*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "active.json").read_text())
    assert len(res["runs"]) == 4 and {x["seed"] for x in res["runs"]} == {0, 1}
    for run in res["runs"]:
        assert [x["labelled"] for x in run["rounds"]] == [2, 4]
        assert not set(run["rounds"][0]["picked"]) & set(run["initial"])
    assert set(res["curves"]) == {"random", "entropy"}
    assert res["curves"]["entropy"]["seeds"] == [0, 1]
    assert [f["labelled"] for f in res["full_pool"]] == [8, 8]
    from PIL import Image

    assert Image.open(out / "active.png").size == (900, 420)


def test_loop_bad_input(recordings, tmp_path):
    pool, heldout = recordings
    r = invoke(["--pool", pool, "--heldout", heldout, "--strategy", "loss", "--out", str(tmp_path)])
    assert isinstance(r.exception, ConfigError) and "valid" in str(r.exception)
    r = invoke(["--pool", pool, "--heldout", heldout, "--strategy", "entropy:room", "--out", str(tmp_path)])
    assert isinstance(r.exception, ConfigError)
    # one recording is one scene: nothing to choose between
    r = invoke(["--pool", pool, "--heldout", heldout, "--strategy", "entropy:scene", "--out", str(tmp_path)])
    assert isinstance(r.exception, ConfigError) and "synth" in str(r.exception)
    r = invoke(["--pool", pool, "--heldout", pool, "--out", str(tmp_path)])
    assert isinstance(r.exception, ConfigError) and "pool itself" in str(r.exception)
    r = invoke(["--pool", pool, "--heldout", heldout, "--out", str(tmp_path), "--initial", "0"])
    assert r.exit_code != 0
