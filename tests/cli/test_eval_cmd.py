import json

from typer.testing import CliRunner

from real3d.cli.main import app


def test_eval_seg_plain_and_flip_averaged(tmp_path):
    spec = "synth:kind=home,size=48x64,seed=7,n=2"
    runs = {}
    for flip in (False, True):
        out = tmp_path / ("flip" if flip else "plain")
        r = CliRunner().invoke(
            app,
            [
                "eval",
                "seg",
                "--model",
                "rgbd-tiny",
                "--data",
                spec,
                "--out",
                str(out),
                "--overlays",
                "1",
                "--threads",
                "1",
            ]
            + (["--flip"] if flip else []),
        )
        assert r.exit_code == 0, r.output
        assert ("flip-averaged" in r.output) == flip
        assert (out / "confusion.png").is_file() and (out / "overlay_00.png").is_file()
        runs[flip] = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= runs[True]["miou"] <= 100.0
    # the random network is not mirror-symmetric, so the two confusions differ
    assert runs[True]["pixel_acc"] != runs[False]["pixel_acc"] or runs[True]["iou"] != runs[False]["iou"]


def test_eval_seg_rejects_a_bad_spec(tmp_path):
    r = CliRunner().invoke(
        app, ["eval", "seg", "--model", "rgbd-tiny", "--data", "synth:kind=nowhere", "--out", str(tmp_path)]
    )
    assert r.exit_code != 0
    assert "kind" in str(r.exception) + r.output


def test_eval_seg_scales(tmp_path):
    spec = "synth:kind=home,size=48x64,seed=7,n=2"
    r = CliRunner().invoke(
        app,
        [
            "eval",
            "seg",
            "--model",
            "rgbd-tiny",
            "--data",
            spec,
            "--out",
            str(tmp_path),
            "--overlays",
            "0",
            "--threads",
            "1",
            "--scales",
            "1,1.25",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "scales1,1.25" in "".join(r.output.split())  # the table title may wrap
    for bad in ("1,x", "0.1", ""):
        r = CliRunner().invoke(
            app, ["eval", "seg", "--model", "rgbd-tiny", "--data", spec, "--out", str(tmp_path), "--scales", bad]
        )
        assert r.exit_code != 0
        assert "scales" in str(r.exception) + r.output


def test_eval_seg_guided_switch(tmp_path):
    spec = "synth:kind=home,size=48x64,seed=7,n=2"
    args = [
        "eval",
        "seg",
        "--model",
        "rgbd-tiny",
        "--data",
        spec,
        "--out",
        str(tmp_path),
        "--overlays",
        "0",
        "--threads",
        "1",
    ]
    r = CliRunner().invoke(app, args + ["--no-guided"])
    assert r.exit_code == 0, r.output
    assert "bilinearupsampling" in "".join(r.output.split())
    # a preset does not set guide_radius: asking for the guided path is refused clearly
    r = CliRunner().invoke(app, args + ["--guided"])
    assert r.exit_code != 0
    assert "guide_radius" in str(r.exception) + r.output


def test_eval_robust_writes_the_tables(tmp_path):
    spec = "synth:kind=home,size=48x64,seed=7,n=2"
    r = CliRunner().invoke(
        app,
        [
            "eval",
            "robust",
            "--model",
            "rgbd-tiny",
            "--data",
            spec,
            "--corruptions",
            "jpeg,depth_missing",
            "--severities",
            "3,5",
            "--reference",
            "rgbd-tiny",
            "--max-samples",
            "1",
            "--threads",
            "1",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "robustness.json").read_text())
    assert report["reference"] == "rgbd-tiny" and report["severities"] == [3, 5]
    (m,) = report["models"]
    assert m["frames"] == 1 and m["metric"] == "miou" and set(m["scores"]) == {"jpeg", "depth_missing"}
    assert set(m["scores"]["jpeg"]) == {"3", "5"} and 0.0 <= m["clean"] <= 100.0
    assert m["mce"] == 1.0  # against itself
    md = (tmp_path / "robustness.md").read_text()
    assert "| depth_missing |" in md and "mRR" in md


def test_eval_robust_rejects_bad_names_and_severities(tmp_path):
    base = ["eval", "robust", "--model", "rgbd-tiny", "--data", "synth:kind=home,size=48x64,seed=7,n=1"]
    for extra, word in (
        (["--corruptions", "fog"], "fog"),
        (["--severities", "3,6"], "1..5"),
        (["--severities", "x"], "severities"),
    ):
        r = CliRunner().invoke(app, base + extra + ["--out", str(tmp_path)])
        assert r.exit_code != 0
        assert word in str(r.exception) + r.output
    assert not (tmp_path / "robustness.json").exists()
