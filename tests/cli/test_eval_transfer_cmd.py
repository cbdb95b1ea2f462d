import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from real3d.cli.eval_cmd import _slug
from real3d.cli.main import app
from real3d.core import ConfigError, InputError
from real3d.core.labels import NYU13_NAMES


def _real_dir(tmp_path):
    """A ``tum_pair`` capture of one 640x480 frame (its reader options expect that size)."""
    folder = tmp_path / "real" / "tum_pair"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(folder / "1.png")
    Image.fromarray(np.full((480, 640), 10000, np.uint16)).save(folder / "1_depth.png")  # 2 m in TUM units
    return folder.parent


def _stats(tmp_path):
    classes = {
        name: {
            "pixel_share_of_labelled": 1.0 / 13,
            "frames_present": 0.5,
            "vertical_profile_top_to_bottom": [0.125] * 8,
        }
        for name in NYU13_NAMES[1:]
    }
    path = tmp_path / "stats.json"
    path.write_text(json.dumps({"frames": 2, "classes": classes, "void_share_of_all_pixels": 0.0}))
    return path


def test_eval_transfer_writes_a_row_json_and_a_sheet_per_model(tmp_path):
    from real3d.models.pretrained import save_weights
    from real3d.models.presets import PRESETS
    from real3d.models.segmentation import Real3DVisionNet

    weights = save_weights(Real3DVisionNet(PRESETS["rgb-tiny"]), tmp_path / "w" / "model.safetensors")
    out = tmp_path / "out"
    args = ["eval", "transfer", "--models", f"rgbd-tiny,{weights}", "--out", str(out), "--threads", "1"]
    args += ["--real", str(_real_dir(tmp_path)), "--stats", str(_stats(tmp_path))]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output + repr(r.exception)
    # every capture but tum_pair is missing: each is named as skipped
    assert r.output.count("skipped") == 5
    assert "| rgbd-tiny | 1 |" in r.output and f"| {weights} | 1 |" in r.output
    doc = json.loads((out / "transfer.json").read_text())
    assert [m["model"] for m in doc["models"]] == ["rgbd-tiny", str(weights)]
    assert [f["name"] for f in doc["frames"]] == ["tum_pair/1"]
    rgbd, rgb = doc["models"]
    assert rgbd["frames"][0]["depth_input"] == "metric" and rgb["frames"][0]["depth_input"] == "none"
    assert rgbd["miou"] is None and rgbd["labelled_frames"] == 0
    assert sum(rgbd["shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert (out / "transfer.md").read_text().startswith("| model |")
    sheets = sorted(p.name for p in out.glob("*.png"))
    assert sheets == sorted(["rgbd-tiny.png", f"{_slug(str(weights))}.png"])
    assert Image.open(out / "rgbd-tiny.png").height > 240


def test_slug_names_weights_paths_apart():
    assert _slug("rgbd-default") == "rgbd-default"
    assert _slug("runs/a/model.safetensors") == "runs_a_model"
    assert _slug("runs/a/model.safetensors") != _slug("runs/b/model.safetensors")


def test_eval_transfer_refuses_bad_input(tmp_path):
    real, stats = str(_real_dir(tmp_path)), str(_stats(tmp_path))
    base = ["eval", "transfer", "--out", str(tmp_path / "out"), "--stats", stats]
    r = CliRunner().invoke(app, [*base, "--models", " , ", "--real", real])
    assert isinstance(r.exception, ConfigError) and "--models" in str(r.exception)
    r = CliRunner().invoke(app, [*base, "--models", "no-such-model", "--real", real])
    assert isinstance(r.exception, ConfigError) and "unknown model" in str(r.exception)
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(app, [*base, "--models", "rgb-tiny", "--real", str(tmp_path / "empty")])
    assert isinstance(r.exception, InputError) and "no real capture" in str(r.exception)
    r = CliRunner().invoke(app, [*base, "--models", "rgb-tiny", "--real", real, "--threads", "-1"])
    assert r.exit_code != 0
