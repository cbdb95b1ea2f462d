"""Training the 3D network on map samples: crops, targets, loss, CLI."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from real3d.cli.main import app
from real3d.core.errors import ConfigError, InputError
from real3d.models.seg3d import THING_CLASSES, create_seg3d, load_seg3d
from real3d.testing.toyscene import toy_sequence
from real3d.train.map_data import fuse_frames, sample_from_map
from real3d.train.seg3d import (
    Seg3DTrainConfig,
    _prepared,
    augment_crop,
    class_weights,
    evaluate_seg3d,
    instance_centres,
    sample_paths,
    seg3d_loss,
)


class _NoisyOracle:
    """The frame's labels as probabilities, with one class in five swapped for another."""

    class _Result:
        def __init__(self, probs):
            self.probs = probs

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def predict(self, frame):
        lab = frame.labels.astype(np.int64)
        wrong = self.rng.random(lab.shape) < 0.2
        lab = np.where(wrong & (lab > 0), (lab % 13) + 1, lab)
        probs = np.full((13,) + lab.shape, 0.02, np.float32)
        for c in range(1, 14):
            probs[c - 1][lab == c] = 1.0
        return self._Result(probs / probs.sum(0, keepdims=True))


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("maps")
    for seed in (1, 2):
        toy = toy_sequence(seed=seed, n_frames=10, size=(96, 128))
        s = sample_from_map(fuse_frames(toy.frames, _NoisyOracle(seed)), toy.scene.mesh, meta={"seed": seed})
        s.save(folder / f"toy_{seed}.npz")
    return folder


def test_instance_centres_point_each_instance_at_one_centre(samples):
    from real3d.train.map_data import MapSample

    s = MapSample.load(sample_paths(samples)[0])
    off = instance_centres(s)
    has = ~np.isnan(off[:, 0])
    assert has.any() and np.isin(s.labels[has], THING_CLASSES).all() and (s.instances[has] > 0).all()
    target = s.points + off
    for i in np.unique(s.instances[has]):
        t = target[has & (s.instances == i)]
        np.testing.assert_allclose(t, t[0:1].repeat(len(t), 0), atol=1e-4)


def test_crops_keep_points_offsets_and_voxels_together(samples):
    from real3d.train.map_data import MapSample

    d = _prepared(MapSample.load(sample_paths(samples)[0]))
    rng = np.random.default_rng(0)
    for _ in range(6):
        c = augment_crop(d, 1.5, rng, min_labelled=10)
        assert len(c["labels"]) < len(d["labels"]) and (c["coords"].min(0) == 0).all()
        centre = (c["coords"] + 0.5) * d["voxel_size_m"]
        assert np.abs(c["points"] - centre).max() <= 1.5 * d["voxel_size_m"] + 1e-5
        # rotations and mirrors keep each instance's shifted points together
        has = ~np.isnan(c["offsets"][:, 0])
        if has.sum() > 2:
            t = c["points"][has] + c["offsets"][has]
            assert np.ptp(t, axis=0).max() < np.ptp(c["points"], axis=0).max() + 1e-3
    with pytest.raises(InputError):
        augment_crop({**d, "labels": np.zeros_like(d["labels"])}, 1.5, rng)


def test_a_few_steps_lower_the_loss(samples):
    from real3d.train.map_data import MapSample

    torch.manual_seed(0)
    data = [_prepared(MapSample.load(p)) for p in sample_paths(samples)]
    rng = np.random.default_rng(0)
    batch = [augment_crop(d, 2.0, rng, min_labelled=10) for d in data]
    net = create_seg3d("seg3d-tiny").train()
    w = torch.from_numpy(class_weights(data))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    first, _ = seg3d_loss(net, batch, w, 1.0)
    for _ in range(3):
        loss, parts = seg3d_loss(net, batch, w, 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last, parts = seg3d_loss(net, batch, w, 1.0)
    assert float(last) < float(first) and "offset" in parts


def test_cli_trains_and_evaluates(samples, tmp_path):
    out = tmp_path / "m.safetensors"
    r = CliRunner().invoke(
        app,
        [
            "train",
            "seg3d",
            "--data",
            str(samples),
            "--val",
            str(samples),
            "--model",
            "seg3d-tiny",
            "--steps",
            "2",
            "--crop",
            "2",
            "--out",
            str(out),
            "--threads",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["command"].startswith("real3d train seg3d") and card["train"]["samples"] == 2
    assert 0 <= card["eval"]["network"]["miou"] <= 1 and 0 <= card["eval"]["fusion"]["miou"] <= 1
    assert "fusion" in r.output and "network" in r.output
    net = load_seg3d(out)
    assert evaluate_seg3d(net, sample_paths(samples))["network"] == card["eval"]["network"]
    r = CliRunner().invoke(
        app, ["eval", "seg3d", "--model", str(out), "--data", str(samples), "--out", str(tmp_path / "ev")]
    )
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["samples"] == 2
    r = CliRunner().invoke(app, ["eval", "seg3d", "--model", str(out), "--data", str(tmp_path / "none")])
    assert r.exit_code != 0 and "MapSample" in str(r.exception) + r.output


def test_cli_widens_a_model_to_the_ternary_encoding(samples, tmp_path):
    base = tmp_path / "base.safetensors"
    wide = tmp_path / "wide.safetensors"
    common = ["--data", str(samples), "--steps", "1", "--crop", "2", "--threads", "1", "--ckpt-every", "0"]
    r = CliRunner().invoke(app, ["train", "seg3d", *common, "--model", "seg3d-tiny", "--out", str(base)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        app,
        [
            "train",
            "seg3d",
            *common,
            "--model",
            str(base),
            "--out",
            str(wide),
            "--encoding",
            "geometry,ternary,color,evidence",
        ],
    )
    assert r.exit_code == 0, r.output
    net = load_seg3d(wide)
    assert net.config.encoding == ("occupancy", "tsdf", "weight", "ternary", "color", "evidence")
    card = json.loads(wide.with_suffix(".json").read_text())
    assert "--encoding geometry,ternary,color,evidence" in card["command"]
    with pytest.raises(ConfigError, match="unknown 3D input encoding"):
        Seg3DTrainConfig(encoding=("normals",))
