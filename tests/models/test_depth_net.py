"""The metric depth network (real3d.models.depth): its contract, the scale corrections, its
weights, and its training (real3d.train.depth)."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from real3d.core import ConfigError, FormatError, InputError, Intrinsics
from real3d.core.frame import Frame
from real3d.models.depth import (
    DEPTH_PRESETS,
    DepthNet,
    DepthNetConfig,
    build_depth_net,
    floor_scale,
    focal_scale,
    load_depth_model,
    save_depth_weights,
)
from real3d.train.depth import depth_errors, depth_loss

K = Intrinsics.from_fov(80, 60, math.radians(63.5))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_depth_net("depth-tiny").eval()


def _frame(h=60, w=80, seed=0):
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Frame(rgb=rgb, depth_m=None, intrinsics=Intrinsics.from_fov(w, h, math.radians(63.5)))


def test_forward_and_predict_keep_the_contract(net):
    out = net(torch.rand(2, 3, 64, 96))
    assert out.shape == (2, 2, 64, 96) and out.dtype == torch.float32
    pred = net.predict(_frame())
    d = pred.depth_m
    assert d.shape == (60, 80) and d.dtype == np.float32
    assert pred.confidence.shape == (60, 80) and 0 <= pred.confidence.min() <= pred.confidence.max() <= 1
    cfg = net.config
    kept = d > 0
    # metres within the network's range; declined pixels are 0 and exactly those below the confidence cut
    assert np.all((d[kept] > cfg.min_depth_m) & (d[kept] < cfg.max_depth_m))
    assert not np.any(kept & (pred.confidence < cfg.min_confidence))
    # an untrained network starts near 2 m
    keep_all = DepthNet(replace(net.config, min_confidence=0.0))
    keep_all.load_state_dict(net.state_dict())
    d_all = keep_all.eval().predict(_frame()).depth_m
    assert np.all(d_all > 0) and 0.5 < float(np.median(d_all)) < 8.0
    # the image alone: no focal correction
    img = net.predict(_frame().rgb)
    assert img.scale == 1.0 and img.scale_source == "none"


def test_bad_input_raises(net):
    f = _frame()
    with pytest.raises(InputError, match="uint8"):
        net.predict(f.rgb.astype(np.float32))
    with pytest.raises(InputError, match="Frame or an"):
        net.predict("image.png")
    with pytest.raises(InputError, match="at least 8 x 8"):
        net.predict(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="intrinsics are for"):
        net.predict(f.rgb, intrinsics=Intrinsics.from_fov(160, 120, 1.0))
    with pytest.raises(InputError, match="camera_height_m"):
        net.predict(f, camera_height_m=-1.0)
    with pytest.raises(ConfigError, match="depth-tiny"):
        build_depth_net("depth-huge")
    with pytest.raises(ConfigError, match="multiples of 32"):
        DepthNetConfig("x", DEPTH_PRESETS["depth-tiny"].encoder, infer_hw=(100, 160))
    with pytest.raises(ConfigError, match="min_depth_m"):
        replace(DEPTH_PRESETS["depth-tiny"], min_depth_m=5.0, max_depth_m=1.0)
    with pytest.raises(ConfigError, match="neither a depth model name"):
        load_depth_model("no/such/weights")


def test_focal_scale_is_the_focal_ratio():
    assert focal_scale(Intrinsics.from_fov(320, 240, math.radians(63.5)), 63.5) == pytest.approx(1.0)
    narrow = Intrinsics.from_fov(320, 240, math.radians(40.0))
    want = math.tan(math.radians(63.5 / 2)) / math.tan(math.radians(20.0))
    assert focal_scale(narrow, 63.5) == pytest.approx(want, rel=1e-6)


def _floor_view(h_cam=1.2, pitch_deg=-30.0, hw=(60, 80)):
    """Depth of an infinite floor seen by a camera ``h_cam`` above it, pitched down, and
    the camera's pose (world z up)."""
    Ki = Intrinsics.from_fov(hw[1], hw[0], math.radians(63.5))
    p = math.radians(pitch_deg)
    # camera axes in the world: x right = world x; z forward tilted down by the pitch; y down
    z = np.array([0.0, math.cos(p), math.sin(p)])
    x = np.array([1.0, 0.0, 0.0])
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, y, z], axis=1)
    pose[2, 3] = h_cam
    v, u = np.mgrid[0 : hw[0], 0 : hw[1]].astype(np.float64)
    rays = np.stack([(u - Ki.cx) / Ki.fx, (v - Ki.cy) / Ki.fy, np.ones_like(u)], -1)  # z = 1
    down = -(rays @ pose[:3, :3].T)[..., 2]  # metres of fall per metre of depth
    depth = np.where(down > 1e-3, h_cam / np.maximum(down, 1e-3), 0.0)
    depth[depth > 15] = 0
    return depth.astype(np.float32), Ki, pose


def test_floor_prior_recovers_the_known_height():
    depth, Ki, pose = _floor_view()
    assert np.count_nonzero(depth) > 0.3 * depth.size
    s, why = floor_scale(0.5 * depth, Ki, pose, 1.2)
    assert why == "" and s == pytest.approx(2.0, rel=0.02)
    # A view without floor (a wall facing the camera) leaves the depth alone.
    wall = np.full_like(depth, 2.0)
    level = pose.copy()
    level[:3, :3] = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    s, why = floor_scale(wall, Ki, level, 1.2)
    assert s is None and "no floor" in why
    # A factor beyond [0.5, 2] is refused, not applied.
    s, why = floor_scale(0.2 * depth, Ki, pose, 1.2)
    assert s is None and "outside" in why


def test_predict_applies_the_floor_prior(net):
    depth, Ki, pose = _floor_view()
    keep_all = DepthNet(replace(net.config, min_confidence=0.0))
    keep_all.load_state_dict(net.state_dict())
    keep_all.eval()
    f = Frame(rgb=_frame().rgb, depth_m=None, intrinsics=Ki, world_T_cam=pose)
    plain = keep_all.predict(f)
    assert plain.scale_source == "focal"
    # whatever the random network predicts, the prior either applies (and then the
    # predicted floor sits at the known height) or says why not
    prior = keep_all.predict(f, camera_height_m=1.2)
    if prior.scale_source == "floor":
        s, _ = floor_scale(prior.depth_m, Ki, pose, 1.2, min_fraction=0.0)
        assert s == pytest.approx(1.0, rel=0.05)
    else:
        assert prior.scale_source.startswith("focal: ")
        np.testing.assert_array_equal(prior.depth_m, plain.depth_m)


def test_weights_round_trip_and_corruption(net, tmp_path):
    path = save_depth_weights(net, tmp_path / "d.safetensors", {"note": "test"})
    back = load_depth_model(path)
    assert back.card["note"] == "test" and back.card["kind"] == "depth"
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(back(x).numpy(), net(x).numpy(), atol=2e-2)
    assert path.stat().st_size < 2 * sum(p.numel() for p in net.parameters()) + 100_000  # float16
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="sha256"):
        load_depth_model(path)


@pytest.mark.slow
def test_onnx_export_matches_torch(net, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    assert net.exportable
    x = torch.rand(1, 3, 64, 96)
    out = tmp_path / "depth.onnx"
    torch.onnx.export(net, (x,), str(out), input_names=["rgb"], output_names=["out"], dynamo=False)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"rgb": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, net(x).numpy(), atol=1e-4)


def test_loss_and_errors_by_hand():
    target = torch.tensor([[[[1.0, 2.0], [0.0, 4.0]]]])
    exact = torch.stack([torch.log(target.clamp(min=1e-3)[:, 0]), torch.full_like(target[:, 0], 5.0)], 1)
    loss, parts = depth_loss(exact, target)
    assert parts["silog"] < 1e-3 and parts["l1_m"] < 1e-5
    # twice the depth everywhere: scale-invariant part ~ sqrt(0.15) * ln 2, L1 = mean(gt)
    doubled = exact.clone()
    doubled[:, 0] += math.log(2.0)
    _, p2 = depth_loss(doubled, target)
    assert p2["silog"] == pytest.approx(math.sqrt(0.15) * math.log(2.0), rel=1e-3)
    assert p2["l1_m"] == pytest.approx(7.0 / 3.0, rel=1e-5)
    zero, _ = depth_loss(exact, torch.zeros_like(target))
    assert float(zero) == 0.0
    with pytest.raises(InputError, match="B, 2, H, W"):
        depth_loss(exact[:, :1], target)
    e = depth_errors(np.array([1.0, 2.4, 0.0, 3.0]), np.array([1.0, 2.0, 5.0, 0.0]))
    assert e["abs_rel"] == pytest.approx(0.1) and e["delta1"] == pytest.approx(1.0)
    assert e["coverage"] == pytest.approx(2 / 3)
    e = depth_errors(np.array([1.0, 3.0]), np.array([1.0, 2.0]))
    assert e["delta1"] == 0.5 and e["abs_rel"] == pytest.approx(0.25)


def test_two_training_steps_lower_the_loss():
    # a floor-like scene: depth grows towards the top of the image, the colour darkens with it
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    rows = torch.linspace(4.0, 1.0, 64)[:, None].expand(64, 96)
    depth = (rows * (1 + 0.05 * torch.rand(2, 1, 64, 96, generator=g))).float()
    rgb = (1.0 / depth).expand(2, 3, 64, 96).clone() + 0.05 * torch.rand(2, 3, 64, 96, generator=g)
    net = build_depth_net("depth-tiny").train()
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)
    losses = []
    for _ in range(3):
        loss, _ = depth_loss(net(rgb), depth)
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[2] < losses[0]


@pytest.mark.slow
def test_train_depth_writes_loadable_weights(tmp_path):
    from real3d.train.depth import DepthTrainConfig, train_depth

    cfg = DepthTrainConfig(
        data="synth:kind=home,size=64x96,seed=3,n=2",
        out=str(tmp_path / "run"),
        preset="depth-tiny",
        steps=2,
        batch_size=2,
        size_hw=(64, 96),
        val_data="synth:kind=home,size=64x96,seed=3,n=2",
        log_every=1,
    )
    r = train_depth(cfg)
    assert r["steps"] == 2 and len(r["losses"]) == 2 and r["val"]["pixels"] >= 0
    assert load_depth_model(r["path"]).card["train"]["steps_done"] == 2
    with pytest.raises(ConfigError, match="steps"):
        DepthTrainConfig(data="synth", out=str(tmp_path), steps=0)


@pytest.mark.slow
def test_the_train_and_eval_depth_commands(tmp_path):
    import json

    from typer.testing import CliRunner

    from real3d.cli.main import app

    spec = "synth:kind=home,size=64x96,seed=3,n=2,camera=robot,traj=32"
    out = tmp_path / "run"
    r = CliRunner().invoke(
        app,
        ["train", "depth", "--data", spec, "--out", str(out), "--preset", "depth-tiny", "--init", "none"]
        + ["--steps", "2", "--batch-size", "2", "--size", "64x96"],
    )
    assert r.exit_code == 0, r.output
    weights = out / "model.safetensors"
    assert weights.is_file()
    r = CliRunner().invoke(app, ["eval", "depth", "--model", str(weights), "--data", spec, "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "depth.json").read_text())
    assert res["frames"] == 2 and 0 <= res["coverage"] <= 1
    r = CliRunner().invoke(app, ["train", "depth", "--data", spec, "--out", str(out), "--size", "60x96"])
    assert r.exit_code != 0 and "multiples of 32" in str(r.exception)


def test_the_shipped_weights_load_and_predict_metres():
    from real3d.testing.toyscene import toy_sequence

    net = load_depth_model("depth-rgb-default")
    assert net.name == "depth-rgb-default" and net.card["kind"] == "depth" and not net.training
    f = toy_sequence(0, 1, size=(120, 160))[0]
    pred = net.predict(f)
    d, gt = pred.depth_m, f.depth_m
    assert d.shape == gt.shape and d.dtype == np.float32 and pred.valid_fraction > 0.5
    both = (d > 0) & (gt > 0)
    # an indoor room: within a factor of three of the truth on the typical pixel, however
    # unlike the training images these flat-shaded toy frames are
    assert 1 / 3 < float(np.median(d[both] / gt[both])) < 3
