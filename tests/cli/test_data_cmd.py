import json

import numpy as np
import pytest
from typer.testing import CliRunner

from real3d.cli.main import app
from real3d.core.errors import ConfigError, FormatError, InputError


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    from real3d.synth import write_sequence
    from real3d.testing.toyscene import toy_sequence

    seq = toy_sequence(1, n_frames=5, size=(48, 64))
    return str(write_sequence(tmp_path_factory.mktemp("pool") / "seq", seq.frames, seq.scene, image_format="png"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny network with fixed weights: a preset name would draw new random weights per call."""
    import torch

    from real3d.models import create_model, save_weights

    torch.manual_seed(0)
    return str(save_weights(create_model("rgbd-tiny"), tmp_path_factory.mktemp("model") / "tiny.safetensors"))


def invoke(args):
    return CliRunner().invoke(app, ["data", *args])


def picks(args, tmp_path):
    out = tmp_path / "sel.json"
    r = invoke(["select", *args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return json.loads(out.read_text())


def test_select_entropy_picks_the_most_uncertain_frames_in_order(pool, model, tmp_path):
    args = ["--data", pool, "--strategy", "entropy", "--model", model, "--pixel-stride", "1"]
    everything = picks([*args, "--k", "5"], tmp_path)
    assert sorted(r["index"] for r in everything) == [0, 1, 2, 3, 4]
    ent = [r["entropy"] for r in everything]
    assert ent == sorted(ent, reverse=True)
    two = picks([*args, "--k", "2"], tmp_path)
    assert [r["index"] for r in two] == [r["index"] for r in everything[:2]]
    assert [r["rank"] for r in two] == [0, 1]


def test_select_margin_orders_by_smallest_margin(pool, model, tmp_path):
    rows = picks(["--data", pool, "--strategy", "margin", "--model", model, "--k", "5"], tmp_path)
    m = [r["margin"] for r in rows]
    assert m == sorted(m)


def test_select_random_needs_no_model_and_is_seeded(pool, tmp_path):
    a = picks(["--data", pool, "--strategy", "random", "--k", "3", "--seed", "4", "--model", "no-such"], tmp_path)
    b = picks(["--data", pool, "--strategy", "random", "--k", "3", "--seed", "4"], tmp_path)
    assert a == b and len({r["index"] for r in a}) == 3 and "entropy" not in a[0]


def test_select_prints_json_without_out(pool):
    r = invoke(["select", "--data", pool, "--strategy", "random", "--k", "2"])
    assert r.exit_code == 0
    assert len(json.loads(r.stdout)) == 2


def test_select_bad_input(pool, tmp_path):
    r = invoke(["select", "--data", pool, "--strategy", "nope", "--k", "2"])
    assert isinstance(r.exception, ConfigError) and "valid" in str(r.exception)
    r = invoke(["select", "--data", str(tmp_path / "missing"), "--strategy", "random", "--k", "2"])
    assert isinstance(r.exception, FormatError)
    r = invoke(["select", "--data", pool, "--k", "0"])
    assert r.exit_code != 0


def known_points(a=150.0, b=0.5, c=70.0):
    n = np.array([25, 50, 100, 200, 400, 800], np.float64)
    return n, c - a * n ** (-b)


def test_curve_recovers_known_parameters_from_csv(tmp_path):
    n, y = known_points()
    p = tmp_path / "points.csv"
    p.write_text("miou,frames\n" + "".join(f"{b},{a}\n" for a, b in zip(n, y)))
    out, png = tmp_path / "fit.json", tmp_path / "curve.png"
    r = invoke(
        ["curve", str(p), "--target", "65", "--target", "75", "--at", "3200", "--out", str(out), "--plot", str(png)]
    )
    assert r.exit_code == 0, r.output
    fit = json.loads(out.read_text())
    assert fit["fit"]["c"] == pytest.approx(70.0, abs=1e-3)
    assert fit["fit"]["b"] == pytest.approx(0.5, abs=1e-3)
    assert fit["fit"]["a"] == pytest.approx(150.0, rel=1e-3)
    # 70 - 150 / sqrt(n) = 65  <=>  n = 900
    assert fit["target"][0]["frames"] == pytest.approx(900.0, rel=1e-3) and fit["target"][0]["extrapolated"]
    assert fit["target"][1]["frames"] is None
    assert fit["at"][0]["miou"] == pytest.approx(70 - 150 / np.sqrt(3200), abs=1e-3)
    assert "not reached" in r.stdout and "900 frames" in r.stdout
    from PIL import Image

    assert Image.open(png).size[0] > 100


def test_curve_reads_json_objects_pairs_and_headerless_csv(tmp_path):
    n, y = known_points()
    forms = {
        "a.json": json.dumps([{"frames": a, "miou": b} for a, b in zip(n, y)]),
        "b.json": json.dumps([[a, b] for a, b in zip(n, y)]),
        "c.csv": "".join(f"{a},{b}\n" for a, b in zip(n, y)),
    }
    for name, text in forms.items():
        (tmp_path / name).write_text(text)
        out = tmp_path / (name + ".fit")
        r = invoke(["curve", str(tmp_path / name), "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert json.loads(out.read_text())["fit"]["c"] == pytest.approx(70.0, abs=1e-3)


def test_curve_bad_input(tmp_path):
    r = invoke(["curve", str(tmp_path / "missing.csv")])
    assert isinstance(r.exception, FormatError)
    (tmp_path / "bad.json").write_text('[{"n": 1}]')
    assert isinstance(invoke(["curve", str(tmp_path / "bad.json")]).exception, FormatError)
    (tmp_path / "bad.csv").write_text("frames,miou\n10,x\n")
    assert isinstance(invoke(["curve", str(tmp_path / "bad.csv")]).exception, FormatError)
    (tmp_path / "two.csv").write_text("10,20\n20,30\n")
    r = invoke(["curve", str(tmp_path / "two.csv")])
    assert isinstance(r.exception, InputError) and "3 distinct" in str(r.exception)
    n, y = known_points()
    (tmp_path / "ok.csv").write_text("".join(f"{a},{b}\n" for a, b in zip(n, y)))
    assert isinstance(invoke(["curve", str(tmp_path / "ok.csv"), "--at", "0"]).exception, InputError)


@pytest.mark.parametrize("strategy", ["confidence", "coreset", "class_balanced"])
def test_select_other_strategies_pick_k_distinct_pool_frames(pool, model, tmp_path, strategy):
    rows = picks(["--data", pool, "--strategy", strategy, "--model", model, "--k", "3"], tmp_path)
    idx = [r["index"] for r in rows]
    assert len(idx) == 3 == len(set(idx)) and set(idx) <= {0, 1, 2, 3, 4}
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)
