import json
import re

from typer.testing import CliRunner

from real3d.cli.main import app
from real3d.viz.report import OUTPUT_FILES


def test_demo_tiny_writes_every_file(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(
        app,
        [
            "demo",
            "--frames",
            "8",
            "--size",
            "48x64",
            "--out",
            str(out),
            "--model",
            "rgbd-tiny",
            "--rgb-model",
            "rgb-tiny",
        ],
    )
    assert r.exit_code == 0, r.output
    for name in OUTPUT_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    m = json.loads((out / "metrics.json").read_text())
    assert m["run"]["counts"]["fused"] == 8
    gt = m["ground_truth"]
    assert 0 <= gt["seg2d"]["miou"] <= 100 and 0 <= gt["map3d"]["miou"] <= 100
    assert "0.25" in gt["objects"]["detection"]
    # the graph is scored against the objects the 8 frames saw, a strict subset of the home's
    assert gt["objects"]["scored_against"] == "seen"
    n_seen = gt["objects"]["detection"]["0.25"]["n_ground_truth"]
    n_all = gt["objects_in_scene"]["detection"]["0.25"]["n_ground_truth"]
    assert 0 < n_seen < n_all
    nav = gt["nav"]  # success is null when no ground-truth pair was sampled on a tiny map
    assert nav["n_pairs"] >= 0 and (nav["success_rate"] is None or 0 <= nav["success_rate"] <= 1)
    graph = json.loads((out / "scene_graph.json").read_text())
    assert graph["schema"] == "real3d.scene_graph"
    path = json.loads((out / "path.json").read_text())
    assert path["frame"].startswith("world")
    html = (out / "report.html").read_text()
    imgs = re.findall(r"src='([^']+\.png)'", html)
    assert len(imgs) >= 5 and all((out / i).is_file() for i in imgs)
    assert "random weights" in html
    # atomic writes leave no temporary files behind
    assert not list(out.glob(".*tmp")) and not list(out.glob("*.tmp"))
    assert (out / "semantic_map.ply").read_bytes()[:3] == b"ply"
    from real3d.viz.rerun_log import rerun_available

    assert (out / "recording.rrd").is_file() == rerun_available()


def test_demo_help():
    r = CliRunner().invoke(app, ["demo", "--help"])
    assert r.exit_code == 0 and "--frames" in r.output and "--size" in r.output


def test_demo_without_shipped_weights_fails_clearly(monkeypatch, tmp_path):
    import real3d.models.pretrained as pre
    from real3d.core import ConfigError

    monkeypatch.setattr(pre, "WEIGHTS_DIR", tmp_path)
    r = CliRunner().invoke(app, ["demo", "--frames", "2", "--out", str(tmp_path / "d")])
    assert r.exit_code != 0 and isinstance(r.exception, ConfigError)
    assert "shipped weights are missing" in str(r.exception)
    assert not (tmp_path / "d").exists()  # nothing rendered or written before the check


def test_demo_with_a_warehouse_model_and_no_rgb_model(tmp_path):
    """A warehouse segmenter (random weights) on the warehouse demo: ``--rgb-model none``
    drops the NYUv2-13 RGB-only model, and the graph and scores are in the warehouse set."""
    out = tmp_path / "demo"
    args = ["demo", "--kind", "warehouse", "--frames", "6", "--size", "48x64", "--out", str(out)]
    r = CliRunner().invoke(app, [*args, "--model", "rgbd-warehouse", "--rgb-model", "none", "--viewer", "none"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "scene_graph.json").read_text())["label_set"] == "warehouse"
    m = json.loads((out / "metrics.json").read_text())
    assert "rack" in m["ground_truth"]["seg2d"]["iou"]
