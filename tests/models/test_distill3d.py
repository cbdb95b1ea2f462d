"""The 3D-to-2D distillation student: DN1/DN2 statistics, the model contract, weights."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, FormatError, InputError
from real3d.core.frame import Frame
from real3d.models.contract import Segmenter, missing_members
from real3d.models.distill3d import (
    DimensionNorm,
    Distill3DConfig,
    Distill3DNet,
    build_distill3d,
    channel_stats,
    load_distill3d,
    save_distill3d,
)
from real3d.models.presets import get_preset


def _stats(x: torch.Tensor):
    return x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)


def test_dimension_norm_gives_the_target_statistics_in_training_and_eval():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 6, generator=g) * torch.tensor([0.5, 2.0, 7.0, 1.0]).view(1, 4, 1, 1) + 3.0
    dn = DimensionNorm(4, momentum=1.0)
    t_mean, t_var = torch.tensor([1.0, -2.0, 0.0, 5.0]), torch.tensor([4.0, 0.25, 1.0, 9.0])
    dn.update_target(t_mean, t_var)
    y = dn.train()(x)
    m, v = _stats(y)
    assert torch.allclose(m, t_mean, atol=1e-4) and torch.allclose(v, t_var, rtol=1e-3)
    # eval mode uses the running statistics, which momentum 1 took from that batch
    m, v = _stats(dn.eval()(x))
    assert torch.allclose(m, t_mean, atol=1e-4) and torch.allclose(v, t_var, rtol=1e-3)
    # momentum moves the targets part of the way
    dn2 = DimensionNorm(4, momentum=0.5)
    dn2.update_target(t_mean, t_var)
    assert torch.allclose(dn2.target_mean, t_mean / 2) and torch.allclose(dn2.target_var, (1 + t_var) / 2)
    # disabled (the ablation): identity
    assert torch.equal(DimensionNorm(4, enabled=False)(x), x)
    with pytest.raises(ConfigError, match="momentum"):
        DimensionNorm(4, momentum=0.0)


def test_channel_stats_over_masked_pixels():
    x = torch.arange(2 * 2 * 1 * 3, dtype=torch.float32).view(2, 2, 1, 3)
    mask = torch.tensor([[[True, False, False]], [[False, False, True]]])
    m, v = channel_stats(x, mask)
    # channel 0: values 0 (b0, u0) and 8 (b1, u2); channel 1: 3 and 11
    assert torch.allclose(m, torch.tensor([4.0, 7.0])) and torch.allclose(v, torch.tensor([16.0, 16.0]))
    with pytest.raises(InputError, match="features"):
        channel_stats(torch.zeros(2, 3, 4))


def _hooked(net: Distill3DNet):
    seen = {}
    net.base.decoder.smooth8.register_forward_hook(lambda m, i, o: seen.__setitem__("f2d", o))
    net.dn1.register_forward_hook(lambda m, i, o: seen.__setitem__("dn1", o))
    net.dn2.register_forward_hook(lambda m, i, o: seen.__setitem__("dn2", o))
    return seen


def test_dn1_maps_to_the_3d_statistics_and_dn2_back_to_the_2d_ones():
    torch.manual_seed(0)
    net = build_distill3d("rgb-tiny", sim_channels=8, momentum=1.0).train()
    t_mean, t_var = torch.linspace(-1, 1, 8), torch.linspace(0.1, 3.0, 8)
    net.dn1.update_target(t_mean, t_var)
    seen = _hooked(net)
    _, _, f3d_sim = net.forward_train(torch.rand(2, 3, 64, 64))
    m, v = _stats(f3d_sim)
    assert torch.allclose(m, t_mean, atol=1e-4) and torch.allclose(v, t_var, rtol=1e-3)
    m2, v2 = _stats(seen["f2d"])
    m, v = _stats(seen["dn2"])
    # every simulated channel takes the 2D features' channel-averaged mean and variance
    assert torch.allclose(m, m2.mean().expand(8), atol=1e-4)
    assert torch.allclose(v, v2.mean().expand(8), rtol=1e-3)
    assert not torch.allclose(_stats(seen["dn1"])[1], v)  # DN2 did change the scale


def test_without_dn_the_branch_output_is_the_raw_regression():
    torch.manual_seed(0)
    net = build_distill3d("rgb-tiny", sim_channels=8, dn=False).train()
    net.dn1.update_target(torch.full((8,), 5.0), torch.full((8,), 4.0))
    seen = {}
    net.sim.register_forward_hook(lambda m, i, o: seen.__setitem__("sim", o))
    _, _, f3d_sim = net.forward_train(torch.rand(2, 3, 64, 64))
    assert torch.equal(f3d_sim, seen["sim"])


def test_student_follows_the_segmenter_contract_rgb_only():
    torch.manual_seed(0)
    net = build_distill3d(dataclasses.replace(get_preset("rgb-tiny"), infer_hw=(64, 96)), sim_channels=16)
    assert isinstance(net, Segmenter) and missing_members(net) == []
    assert net.uses_rgb and not net.uses_depth and net.exportable
    x = torch.rand(2, 3, 64, 96)
    refined, coarse, f3d_sim = net.forward_train(x)
    assert refined.shape == (2, 13, 64, 96) and coarse.shape == (2, 13, 8, 12) and f3d_sim.shape == (2, 16, 8, 12)
    net.eval()
    assert net(x, head="coarse").shape == (2, 13, 64, 96)
    rgb = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    res = net.predict(Frame(rgb=rgb, depth_m=None, intrinsics=Intrinsics.from_fov(70, 50, 1.0)))
    assert res.labels.shape == (50, 70) and res.labels.min() >= 1 and res.labels.max() <= 13
    with pytest.raises(InputError, match="rgb"):
        net(torch.rand(2, 1, 64, 96))
    with pytest.raises(InputError, match="multiples of 16"):
        net(torch.rand(1, 3, 60, 96))
    with pytest.raises(InputError, match="head"):
        net(x, head="fine")


def test_student_exports_to_onnx_matches_torch_and_quantizes(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from real3d.deploy.onnx_export import export_onnx

    torch.manual_seed(0)
    net = build_distill3d("rgb-tiny", sim_channels=8)
    net.forward_train(torch.rand(2, 3, 64, 64))  # running statistics away from their init
    net.eval()
    path = export_onnx(net, tmp_path / "s.onnx", size_hw=(64, 96))
    x = torch.rand(1, 3, 96, 64)  # another size: H and W are dynamic
    sess = ort.InferenceSession(str(path))
    assert [i.name for i in sess.get_inputs()] == ["rgb"]
    got = sess.run(None, {"rgb": x.numpy()})[0]
    assert np.abs(got - net(x).detach().numpy()).max() < 1e-4
    # quantizable: static INT8 keeps most of the argmax
    from real3d.deploy.onnx_export import quantize_int8

    g = np.random.default_rng(0)
    feeds = [{"rgb": g.random((1, 3, 64, 96), dtype=np.float32)} for _ in range(3)]
    q = quantize_int8(path, tmp_path / "s_int8.onnx", feeds)
    x8 = feeds[0]["rgb"]
    a = sess.run(None, {"rgb": x8})[0].argmax(1)
    b = ort.InferenceSession(str(q)).run(None, {"rgb": x8})[0].argmax(1)
    assert (a == b).mean() > 0.9


def test_weights_round_trip_and_bad_files(tmp_path):
    torch.manual_seed(0)
    net = build_distill3d("rgb-tiny", sim_channels=8, hidden=16)
    net.forward_train(torch.rand(2, 3, 64, 64))
    net.eval()
    path = save_distill3d(net, tmp_path / "s.safetensors", {"note": "test"})
    back = load_distill3d(path)
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(back(x), net(x)) and back.card["note"] == "test"
    assert back.distill_config == net.distill_config
    card = json.loads(path.with_suffix(".json").read_text())
    card["kind"] = "seg3d"
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(FormatError, match="not a distilled-student card"):
        load_distill3d(path)
    with pytest.raises(FormatError, match="expected"):
        load_distill3d(tmp_path / "missing.safetensors")
    with pytest.raises(InputError, match=".safetensors"):
        save_distill3d(net, tmp_path / "s.pt")


def test_config_rejects_a_depth_base_and_bad_widths():
    with pytest.raises(ConfigError, match="RGB-only"):
        Distill3DConfig(base=get_preset("rgbd-tiny"))
    with pytest.raises(ConfigError, match="sim_channels"):
        Distill3DConfig(base=get_preset("rgb-tiny"), sim_channels=0)
    with pytest.raises(ConfigError, match="SegNetConfig"):
        Distill3DConfig(base="rgb-tiny")
    with pytest.raises(ConfigError, match="unknown segmentation preset"):
        build_distill3d("rgb-huge")
