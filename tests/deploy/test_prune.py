"""Structured pruning to a MAC budget (real3d.deploy.prune), the pruned-width config
(SegNetConfig.channel_widths) and ``real3d prune``."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from real3d.core import Frame, Intrinsics
from real3d.core.errors import ConfigError, InputError
from real3d.models import build_model, create_model
from real3d.models.pretrained import count_macs, save_weights
from real3d.models.segmentation import Real3DVisionNet, SegNetConfig

tp = pytest.importorskip("torch_pruning")

from real3d.deploy.prune import (  # noqa: E402 (after the skip: the module imports torch-pruning lazily)
    IMPORTANCES,
    batches_from_samples,
    fast_macs,
    prune_to_macs,
)

HW = (32, 64)
SRC = Path(__file__).resolve().parents[2] / "src"


def _inputs(hw=HW, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, *hw, generator=g), torch.rand(b, 1, *hw, generator=g) * 4 + 0.2


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(3)
    return build_model("rgbd-tiny").eval()


@pytest.fixture(scope="module")
def pruned(source):
    target = count_macs(source, HW) // 2
    before = copy.deepcopy(source.state_dict())
    result = prune_to_macs(source, target, HW, step_fraction=0.1)
    # the source is not changed
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in before.items())
    return result


def test_pruning_meets_the_budget_and_keeps_the_contract(source, pruned):
    r, net = pruned, pruned.model
    assert r.macs_after <= r.target_macs < r.macs_before
    # the last step is taken group by group: the budget is met closely, not overshot by a step
    assert r.macs_after >= 0.85 * r.target_macs
    assert count_macs(net, HW) == fast_macs(net, HW) == r.macs_after
    assert r.params_after < r.params_before == sum(p.numel() for p in source.parameters())
    assert isinstance(net, Real3DVisionNet) and not net.training
    assert net.config.name == "rgbd-tiny-pruned" and net.config.channel_widths
    assert net.exportable and net.quantizable
    rgb, depth = _inputs()
    with torch.no_grad():
        refined, coarse = net(rgb, depth, head="both")
    assert refined.shape == (2, 13, *HW) and coarse.shape == (2, 13, HW[0] // 8, HW[1] // 8)
    assert bool(torch.isfinite(refined).all())
    # predict on a frame of another size
    rng = np.random.default_rng(0)
    frame = Frame(
        rgb=rng.integers(0, 255, (60, 80, 3), dtype=np.uint8),
        depth_m=rng.uniform(0.5, 4.0, (60, 80)).astype(np.float32),
        intrinsics=Intrinsics(60.0, 60.0, 40.0, 30.0, 80, 60),
    )
    res = net.predict(frame)
    assert res.labels.shape == (60, 80) and int(res.labels.max()) <= 13
    # the widths pruning left are multiples of 8 (INT8-friendly)
    bn_widths = [w[2] for w in net.config.channel_widths if isinstance(dict(net.named_modules())[w[0]], nn.BatchNorm2d)]
    assert bn_widths and all(w % 8 == 0 for w in bn_widths)


def test_kept_channel_record_matches_the_weights(source, pruned):
    src, out = dict(source.named_modules()), dict(pruned.model.named_modules())
    assert pruned.kept
    for name, kept in pruned.kept.items():
        assert list(kept) == sorted(set(kept)) and kept[-1] < _width(src[name])
        assert len(kept) == _width(out[name])
        if isinstance(src[name], nn.BatchNorm2d):
            idx = torch.tensor(kept)
            for attr in ("weight", "bias", "running_mean", "running_var"):
                assert torch.equal(getattr(out[name], attr), getattr(src[name], attr)[idx]), (name, attr)
    # the stem reads the unpruned input: its filters are the source's kept ones
    stem = "encoder.stages.0.0"
    assert torch.equal(out[stem].weight, src[stem].weight[list(pruned.kept[stem])])
    # stage features: widths fit, and stage 0 (before any fusion) is the source's on the kept channels
    rgb, depth = _inputs()
    with torch.no_grad():
        fs, fp = source.encode(rgb, depth), pruned.model.encode(rgb, depth)
    for k, f in zip(pruned.feature_channels, fp):
        assert len(k) == f.shape[1]
    torch.testing.assert_close(fp[0], fs[0][:, list(pruned.feature_channels[0])])
    assert pruned.card_entry()["feature_channels"][0] == list(pruned.feature_channels[0])


def _width(m):
    return m.out_channels if isinstance(m, nn.Conv2d) else m.num_features


# attention fusion (rgbd-tiny): the module fixture above
@pytest.mark.parametrize("preset", ["se-small", "add-small", "early-small", "rgb-tiny"])
def test_every_fusion_prunes(preset):
    torch.manual_seed(0)
    net = build_model(preset).eval()
    hw = (32, 48)
    target = int(count_macs(net, hw) * 0.6)
    r = prune_to_macs(net, target, hw, step_fraction=0.15)
    assert r.macs_after <= target
    rgb, depth = _inputs(hw, b=1)
    with torch.no_grad():
        out = r.model(rgb if net.config.uses_rgb else None, depth if net.config.uses_depth else None)
    assert out.shape == (1, 13, *hw)
    # the fusion blocks themselves were pruned where the model has any
    if net.fusions:
        assert any(w[0].startswith("fusions.") for w in r.model.config.channel_widths)
    # the class heads keep one output per class
    assert r.model.decoder.refine_head.out_channels == r.model.decoder.coarse_head.out_channels == 13


def test_taylor_importance_from_labelled_batches(source):
    from real3d.train import ToySegData

    batches = batches_from_samples(ToySegData(3, (40, 70)), n=3, batch_size=2)
    assert [b["rgb"].shape for b in batches] == [(2, 3, 32, 64), (1, 3, 32, 64)]
    assert batches[0]["rgb"].dtype == torch.float32 and float(batches[0]["rgb"].max()) <= 1.0
    assert batches[0]["depth_m"].shape == (2, 1, 32, 64) and batches[0]["labels"].shape == (2, 32, 64)
    target = count_macs(source, HW) * 0.7
    r = prune_to_macs(source, target, HW, importance="taylor", batches=batches, step_fraction=0.3)
    assert r.macs_after <= target and r.importance == "taylor"
    assert all(p.grad is None for p in r.model.parameters())


def test_save_load_round_trip_is_bit_identical_without_torch_pruning(pruned, tmp_path, monkeypatch):
    path = save_weights(pruned.model, tmp_path / "p.safetensors", {"pruned": pruned.card_entry()})
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["config"]["channel_widths"] and card["pruned"]["macs_after"] == pruned.macs_after
    monkeypatch.setitem(sys.modules, "torch_pruning", None)  # the robot only loads
    loaded = create_model(path)
    assert loaded.config == pruned.model.config
    rgb, depth = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(rgb, depth), pruned.model(rgb, depth))


def test_onnx_export_of_a_pruned_model_agrees_with_torch(pruned, tmp_path):
    import onnxruntime as ort

    from real3d.deploy import calibration_feeds, export_onnx, quantize_int8
    from real3d.train import ToySegData

    net = pruned.model
    fp32 = export_onnx(net, tmp_path / "p.onnx", size_hw=HW)
    rgb, depth = _inputs()
    sess = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"rgb": rgb.numpy(), "depth_m": depth.numpy()})[0]
    with torch.no_grad():
        want = net(rgb, depth).numpy()
    np.testing.assert_allclose(got, want, atol=1e-3)
    feeds = calibration_feeds(net.config, ToySegData(8), n=4, size_hw=HW)
    int8 = quantize_int8(fp32, tmp_path / "p.int8.onnx", feeds)
    q = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    out = q.run(None, {"rgb": rgb.numpy(), "depth_m": depth.numpy()})[0]
    assert out.shape == want.shape and np.isfinite(out).all()


def test_bad_requests_raise_the_documented_error(source, monkeypatch):
    macs = count_macs(source, HW)
    with pytest.raises(ConfigError, match="nothing to prune"):
        prune_to_macs(source, macs, HW)
    with pytest.raises(ConfigError, match="nothing to prune"):
        prune_to_macs(source, macs * 2, HW)
    for bad in (0, -5.0, float("nan"), float("inf"), True, "1G"):
        with pytest.raises(ConfigError, match="MAC budget > 0"):
            prune_to_macs(source, bad, HW)
    with pytest.raises(ConfigError, match="unreachable"):
        prune_to_macs(source, 1000, HW, step_fraction=0.45)
    with pytest.raises(ConfigError, match="l1, l2, taylor"):
        prune_to_macs(source, macs // 2, HW, importance="fpgm")
    assert IMPORTANCES == ("l1", "l2", "taylor")
    with pytest.raises(ConfigError, match="needs labelled batches"):
        prune_to_macs(source, macs // 2, HW, importance="taylor")
    with pytest.raises(InputError, match="rgb, depth_m, labels"):
        prune_to_macs(source, macs // 2, HW, importance="taylor", batches=[{"rgb": 1}])
    with pytest.raises(InputError, match="multiples of 16"):
        prune_to_macs(source, macs // 2, (60, 90))
    with pytest.raises(InputError, match="Real3DVisionNet"):
        prune_to_macs(nn.Conv2d(3, 8, 3), 10)
    monkeypatch.setitem(sys.modules, "torch_pruning", None)
    with pytest.raises(ConfigError, match=r'pip install "real3d\[prune\]"'):
        prune_to_macs(source, macs // 2, HW)


def test_channel_widths_config_is_checked_and_kept_out_of_unpruned_dicts():
    from dataclasses import replace

    from real3d.models.presets import get_preset

    base = get_preset("rgbd-tiny")
    assert "channel_widths" not in base.to_dict()  # existing cards and fingerprints unchanged
    cfg = replace(base, channel_widths=(("encoder.stages.0.0", 3, 8), ("encoder.stages.0.1", 8, 8)))
    assert SegNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    for bad in ((("encoder.stages.0.0", 3, 0),), (("", 3, 8),), (("a", 3),), "x", (("a", 1, 1), ("a", 2, 2))):
        with pytest.raises(ConfigError, match="channel_widths"):
            replace(base, channel_widths=bad)
    with pytest.raises(ConfigError, match="expected a Conv2d or BatchNorm2d at 'decoder.nope'"):
        Real3DVisionNet(replace(base, channel_widths=(("decoder.nope", 8, 8),)))
    with pytest.raises(ConfigError, match="needs in == out"):
        Real3DVisionNet(replace(base, channel_widths=(("encoder.stages.0.1", 8, 16),)))


def test_prune_command_writes_weights_and_card(tmp_path):
    from real3d.cli.prune_cmd import parse_macs

    assert parse_macs("1.5G") == 1_500_000_000 and parse_macs("750M") == 750_000_000 and parse_macs("2e6") == 2_000_000
    for bad in ("", "-1G", "0", "G", "1X", "nan"):
        with pytest.raises(ConfigError, match="--macs"):
            parse_macs(bad)
    torch.manual_seed(1)
    src = save_weights(
        build_model("rgbd-tiny").eval(), tmp_path / "big.safetensors", {"name": "big", "note": "the source's"}
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    base = [sys.executable, "-m", "real3d.cli.main", "prune", "--model", str(src), "--size", "32x64", "--step", "0.3"]
    out = tmp_path / "small.safetensors"
    r = subprocess.run(
        [*base, "--macs-of", "rgb-tiny", "--out", str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    budget = count_macs(build_model("rgb-tiny"), HW)
    assert card["budget"] == {"macs": budget, "macs_of": "rgb-tiny", "size_hw": list(HW)}
    assert card["pruned"]["macs_after"] <= budget < card["pruned"]["macs_before"]
    assert card["pruned"]["params_after"] < card["pruned"]["params_before"]
    assert card["source"]["model"] == str(src) and card["source"]["name"] == "big" and card["source"]["sha256"]
    assert card["params"] == card["pruned"]["params_after"] and "note" not in card
    assert card["pruned"]["source_sha256"] == card["source"]["sha256"]
    assert card["command"].startswith("real3d prune --model")
    assert count_macs(create_model(out), HW) == card["pruned"]["macs_after"]
    # one budget, exactly
    r = subprocess.run([*base, "--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "exactly one of --macs-of" in r.stderr
