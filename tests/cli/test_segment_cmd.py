"""``real3d segment``: 2D segmentation of an image, an image folder or a sequence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from real3d.cli.main import app
from real3d.core.errors import FormatError, InputError
from real3d.core.labels import NYU13

TINY = ["--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]


def _seg(args):
    return CliRunner().invoke(app, ["segment", *args, *TINY])


def _image(path, seed=0, hw=(48, 64)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*hw, 3), dtype=np.uint8)).save(path)
    return path


def _depth(path, hw=(48, 64), mm=1500):
    Image.fromarray(np.full(hw, mm, np.uint16)).save(path)
    return path


def test_single_image_with_depth_and_probabilities(tmp_path):
    rgb, dep = _image(tmp_path / "rgb.png"), _depth(tmp_path / "depth.png")
    out = tmp_path / "out"
    r = _seg([str(rgb), str(dep), "--out", str(out), "--probs"])
    assert r.exit_code == 0, r.output
    labels = np.asarray(Image.open(out / "labels" / "rgb.png"))
    assert labels.shape == (48, 64) and labels.dtype == np.uint8
    assert 1 <= labels.min() and labels.max() <= 13
    np.testing.assert_array_equal(np.asarray(Image.open(out / "color" / "rgb.png")), NYU13.colorize(labels))
    assert np.asarray(Image.open(out / "overlay" / "rgb.png")).shape == (48, 64, 3)
    with np.load(out / "probs" / "rgb.npz") as z:
        p = z["probs"]
        assert p.shape == (13, 48, 64) and p.dtype == np.float16
        assert list(z["class_names"]) == list(NYU13.names[1:])
    # the labels are the most probable class (ids 1..13 over channels 0..12); float16 ties
    # may flip a few pixels
    assert (p.astype(np.float32).argmax(0) + 1 == labels).mean() > 0.99
    s = json.loads((out / "summary.json").read_text())
    assert s["schema"] == "real3d.segment" and s["kind"] == "image"
    assert s["counts"] == {"segmented": 1, "failed": 0}
    (rec,) = s["images"]
    assert rec["model"] == "rgbd" and rec["depth_valid_share"] == 1.0 and rec["size_wh"] == [64, 48]
    assert sum(rec["class_share_pct"].values()) == pytest.approx(100.0, abs=0.1)


def test_depth_of_another_size_is_refused_not_stretched(tmp_path):
    rgb, dep = _image(tmp_path / "rgb.png"), _depth(tmp_path / "d.png", hw=(40, 64))
    r = _seg([str(rgb), str(dep), "--out", str(tmp_path / "out")])
    assert isinstance(r.exception, InputError) and "64 x 40 pixels" in str(r.exception)
    assert "registered to the colour image" in str(r.exception)
    assert not (tmp_path / "out").exists()


def test_image_folder_reports_a_bad_image_and_segments_the_rest(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for k in range(3):
        _image(root / f"{k}.jpg", seed=k)
    (root / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    r = _seg([str(root), "--out", str(out), "--no-overlay"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["kind"] == "images" and s["counts"] == {"segmented": 3, "failed": 1}
    assert s["failed"][0]["name"] == "broken" and "cannot decode" in s["failed"][0]["reason"]
    assert {rec["model"] for rec in s["images"]} == {"rgb"}
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["0.png", "1.png", "2.png"]
    assert not (out / "overlay").exists()


def test_nothing_segmented_fails_and_keeps_the_earlier_set(tmp_path):
    out = tmp_path / "out"
    r = _seg([str(_image(tmp_path / "a.png")), "--out", str(out)])
    assert r.exit_code == 0, r.output
    root = tmp_path / "imgs"
    root.mkdir()
    (root / "x.png").write_bytes(b"broken")
    r = _seg([str(root), "--out", str(out)])
    assert isinstance(r.exception, InputError) and "no image" in str(r.exception)
    assert (out / "labels" / "a.png").is_file()  # the earlier set, untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries


def test_a_rerun_replaces_the_set_and_foreign_folders_are_refused(tmp_path):
    out = tmp_path / "out"
    assert _seg([str(_image(tmp_path / "a.png")), "--out", str(out)]).exit_code == 0
    assert _seg([str(_image(tmp_path / "b.png")), "--out", str(out)]).exit_code == 0
    assert [p.name for p in (out / "labels").iterdir()] == ["b.png"]
    (out / "notes.txt").write_text("mine")
    r = _seg([str(tmp_path / "b.png"), "--out", str(out)])
    assert isinstance(r.exception, InputError) and "notes.txt" in str(r.exception)


def test_bad_inputs(tmp_path):
    r = _seg([str(tmp_path / "missing.png"), "--out", str(tmp_path / "o")])
    assert isinstance(r.exception, FormatError) and "not found" in str(r.exception)
    (tmp_path / "empty").mkdir()
    r = _seg([str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert isinstance(r.exception, FormatError) and "no colour images" in str(r.exception)
    r = _seg([str(tmp_path / "empty"), str(_depth(tmp_path / "d.png")), "--out", str(tmp_path / "o")])
    assert isinstance(r.exception, InputError) and "only with a single colour image" in str(r.exception)


def test_a_sequence_is_segmented_frame_by_frame(tmp_path):
    from real3d.synth import generate_sequence, write_sequence

    seq = generate_sequence(3, 3, size=(48, 64))
    src = write_sequence(tmp_path / "seq", seq.frames, seq.scene, image_format="png")
    out = tmp_path / "out"
    r = _seg([str(src), "--out", str(out), "--max-frames", "2"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["kind"] == "real3d" and s["counts"]["segmented"] == 2
    assert [rec["name"][:6] for rec in s["images"]] == ["000000", "000001"]
    assert all(rec["model"] == "rgbd" for rec in s["images"])


def test_depth_scale_of_a_single_depth_image_is_validated(tmp_path):
    from real3d.core import ConfigError

    rgb, dep = _image(tmp_path / "rgb.png"), _depth(tmp_path / "d.png", mm=15000)
    r = _seg([str(rgb), str(dep), "--out", str(tmp_path / "o"), "--depth-scale", "1000"])
    assert isinstance(r.exception, ConfigError) and "pass 0.001" in str(r.exception)
    r = _seg(
        [
            str(rgb),
            str(dep),
            "--out",
            str(tmp_path / "o"),
            "--depth-encoding",
            "nyu_disparity",
            "--depth-scale",
            "0.001",
        ]
    )
    assert isinstance(r.exception, InputError) and "not linear" in str(r.exception)


def test_the_commands_are_listed():
    r = CliRunner().invoke(app, ["--help"])
    assert r.exit_code == 0 and "segment" in r.output and "batch" in r.output


def test_an_image_folder_pairs_depth_by_name(tmp_path):
    from real3d.cli.segment_cmd import _image_folder

    root = tmp_path / "cap"
    root.mkdir()
    _image(root / "rgb_0001.png", seed=1)
    _depth(root / "depth_0001.png")
    _image(root / "rgb_0002.jpg", seed=2)
    _image(root / "Color.png", seed=3)
    _depth(root / "depth.png")
    _depth(root / "x.pgm")  # a depth image of nothing: not read
    assert [(c.name, d and d.name) for c, d in _image_folder(root)] == [
        ("Color.png", "depth.png"),
        ("rgb_0001.png", "depth_0001.png"),
        ("rgb_0002.jpg", None),
    ]
    out = tmp_path / "out"
    r = _seg([str(root), "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["counts"] == {"segmented": 3, "failed": 0}
    assert {rec["name"]: rec["model"] for rec in s["images"]} == {
        "Color": "rgbd",
        "rgb_0001": "rgbd",
        "rgb_0002": "rgb",
    }


def test_a_pairs_folder_without_intrinsics_is_segmented(tmp_path):
    root = tmp_path / "pairs"
    root.mkdir()
    for k in range(2):
        _image(root / f"{k}.png", seed=k)
        _depth(root / f"{k}_depth.png")
    out = tmp_path / "out"
    r = _seg([str(root), "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["kind"] == "pairs" and s["counts"] == {"segmented": 2, "failed": 0}
    assert [rec["name"] for rec in s["images"]] == ["000000_0", "000001_1"]
    assert all(rec["model"] == "rgbd" and rec["depth_valid_share"] == 1.0 for rec in s["images"])
