import json

from typer.testing import CliRunner

from real3d.cli.main import app
from real3d.scene.refine import BoxRefiner


def test_train_boxes_writes_weights_and_card_and_reuses_its_cache(tmp_path):
    args = [
        "train",
        "boxes",
        "--seeds",
        "300",
        "--val-seeds",
        "301",
        "--frames",
        "60",
        "--snapshots",
        "30,60",
        "--epochs",
        "20",
        "--hidden",
        "8",
        "--modes",
        "instances",
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "out"),
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    card = json.loads((tmp_path / "out" / "box-refiner.json").read_text())
    assert card["command"].startswith("real3d train boxes --seeds 300")
    assert card["data"]["n_train"] > 0 and 0.0 <= card["min_score"] <= 0.9
    for k in ("validation_unrefined", "validation_refined", "train_refined"):
        assert 0.0 <= card["metrics"][k]["f1"] <= 1.0
    ref = BoxRefiner.load(tmp_path / "out" / "box-refiner.safetensors")
    assert ref.card == card and ref.params["w0"].shape[1] == 8
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2 and not [n for n in cached if ".tmp" in n]
    # A rerun reads the cached samples: same data, same figures.
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    again = json.loads((tmp_path / "out" / "box-refiner.json").read_text())
    assert again["metrics"] == card["metrics"]


def test_train_boxes_rejects_bad_arguments(tmp_path):
    base = ["train", "boxes", "--frames", "60", "--out", str(tmp_path)]
    for extra in (
        ["--seeds", "1-3", "--val-seeds", "3"],
        ["--seeds", "1-x"],
        ["--snapshots", "0,90"],
        ["--modes", "boxes"],
    ):
        r = CliRunner().invoke(app, base + extra)
        assert r.exit_code != 0
        assert "Invalid value" in r.output or "Error" in r.output, r.output
    assert not list(tmp_path.iterdir())


def test_train_seg_rejects_an_untrained_teacher_before_rendering(tmp_path):
    r = CliRunner().invoke(
        app,
        [
            "train",
            "seg",
            "--preset",
            "rgb-tiny",
            "--teacher",
            "rgbd-tiny",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert r.exit_code != 0
    assert "expected trained weights" in str(r.exception) + r.output
    assert not (tmp_path / "out").exists()


def test_train_seg_rejects_bad_teacher_scales(tmp_path):
    for extra in (
        ["--teacher-scales", "1,x"],
        ["--teacher-scales", "1,1.2"],
        ["--teacher", "rgbd-default", "--teacher-scales", "1,9"],
    ):
        r = CliRunner().invoke(
            app, ["train", "seg", "--preset", "rgbd-tiny", "--steps", "1", "--out", str(tmp_path / "out"), *extra]
        )
        assert r.exit_code != 0
        msg = str(r.exception) + r.output
        assert "teacher-scales" in msg or "teacher_scales" in msg
        assert "1,9" not in extra or "1 to 8 values in [0.25, 4.0]" in msg
        assert not (tmp_path / "out").exists()
