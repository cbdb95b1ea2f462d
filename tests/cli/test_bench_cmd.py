import json

from typer.testing import CliRunner

from real3d.cli.main import app


def test_bench_tiny_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    r = CliRunner().invoke(
        app,
        [
            "bench",
            "--sizes",
            "48x64",
            "--backends",
            "torch",
            "--frames",
            "3",
            "--warmup",
            "1",
            "--model",
            "rgbd-tiny",
            "--rgb-model",
            "rgb-tiny",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    (res,) = doc["results"]
    assert res["backend"] == "torch" and res["size_hw"] == [48, 64] and res["frames"] == 3
    assert res["fps"] > 0 and res["latency_ms"]["segment"]["p95"] >= res["latency_ms"]["segment"]["p50"] > 0
    assert res["peak_rss_mb"] > 50
    assert "FPS" in r.output


def test_bench_help_and_bad_backend():
    r = CliRunner().invoke(app, ["bench", "--help"])
    assert r.exit_code == 0 and "--backends" in r.output
    r = CliRunner().invoke(app, ["bench", "--backends", "tpu"])
    assert r.exit_code != 0
