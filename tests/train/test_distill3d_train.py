"""3D-to-2D distillation training: paired targets, losses, discriminators, a short run."""

import numpy as np
import pytest
import torch

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, InputError
from real3d.geometry.projection import project_points
from real3d.models.distill3d import build_distill3d
from real3d.models.presets import build_model
from real3d.models.seg3d import create_seg3d
from real3d.testing.toyscene import toy_sequence
from real3d.train.distill3d import (
    CategoryDiscriminators,
    Distill3DTrainConfig,
    PairedScene,
    discriminator_loss,
    evaluate_views,
    generator_loss,
    paired_batch,
    paired_feature_loss,
    paired_scene,
    pixel_voxel_rows,
    simulated_vectors,
    train_distill3d,
)


def _look_at(eye, target) -> np.ndarray:
    """world_T_cam of an OpenCV camera at ``eye`` looking at ``target`` (world z up)."""
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], axis=1)
    T[:3, 3] = eye
    return T


def test_pixel_voxel_rows_round_trip_on_a_known_scene():
    # a known scene: 20 voxel points on a grid 0.3 m apart, seen by a camera that is not at the origin
    K = Intrinsics(fx=60.0, fy=60.0, cx=39.5, cy=29.5, width=80, height=60)
    gx, gz = np.meshgrid(np.arange(5) * 0.3 - 0.6, np.arange(4) * 0.3 + 0.5)
    voxels = np.stack([gx.ravel(), np.full(gx.size, 3.0), gz.ravel()], axis=1)
    T = _look_at(np.array([0.2, 0.0, 1.0]), np.array([0.0, 3.0, 0.9]))
    # project every voxel (world -> camera -> pixel) and write its depth at its pixel only
    cam = (voxels - T[:3, 3]) @ T[:3, :3]
    uv, z = project_points(cam, K)
    px = np.round(uv).astype(int)
    assert np.all((px >= 0) & (px < [80, 60])) and len({tuple(p) for p in px}) == len(voxels)
    depth = np.zeros((60, 80), np.float32)
    depth[px[:, 1], px[:, 0]] = z
    rows = pixel_voxel_rows(depth, K, T, voxels, max_dist_m=0.05)
    # rounding the pixel moves the back-projected point by under half a pixel (< 3 cm here)
    assert np.array_equal(rows[px[:, 1], px[:, 0]], np.arange(len(voxels)))
    assert (rows >= 0).sum() == len(voxels)
    # a pixel whose depth puts it 20 cm behind its voxel sees none
    depth[px[0, 1], px[0, 0]] += 0.2
    assert pixel_voxel_rows(depth, K, T, voxels, max_dist_m=0.05)[px[0, 1], px[0, 0]] == -1


def test_pixel_voxel_rows_rejects_bad_input():
    K = Intrinsics(fx=60.0, fy=60.0, cx=39.5, cy=29.5, width=80, height=60)
    pts = np.zeros((3, 3))
    with pytest.raises(InputError, match="intrinsics"):
        pixel_voxel_rows(np.ones((50, 80), np.float32), K, np.eye(4), pts, 0.05)
    with pytest.raises(InputError, match="world_T_cam"):
        pixel_voxel_rows(np.ones((60, 80), np.float32), K, np.eye(3), pts, 0.05)
    with pytest.raises(InputError, match="voxel_points"):
        pixel_voxel_rows(np.ones((60, 80), np.float32), K, np.eye(4), np.zeros((3, 2)), 0.05)
    with pytest.raises(InputError, match="max_dist_m"):
        pixel_voxel_rows(np.ones((60, 80), np.float32), K, np.eye(4), pts, 0.0)


@pytest.fixture(scope="module")
def toy():
    return toy_sequence(0, n_frames=4, size=(64, 96))


@pytest.fixture(scope="module")
def teacher():
    return create_seg3d("seg3d-default")


@pytest.fixture(scope="module")
def scene(toy, teacher):
    return paired_scene(toy.frames, toy.scene.mesh, teacher)


def test_paired_targets_land_on_the_pixels_of_their_voxels(scene, toy, teacher):
    ok = scene.rows >= 0
    assert ok.mean() > 0.5  # most pixels with depth find their voxel
    assert scene.features.shape[1] == teacher.feature_dim
    # the voxel a pixel is paired with has the pixel's class in 3D (ground truth of the mesh)
    v3 = scene.voxel_labels[scene.rows[ok]]
    v2 = scene.labels[ok]
    both = (v3 > 0) & (v2 > 0)
    assert both.sum() > 1000 and (v3[both] == v2[both]).mean() > 0.9
    # shuffling the pairing breaks the agreement: the test can fail
    perm = np.random.default_rng(0).permutation(len(scene.voxel_labels))
    assert (scene.voxel_labels[perm][scene.rows[ok]][both] == v2[both]).mean() < 0.6
    with pytest.raises(InputError, match="lacks depth"):
        paired_scene([toy.frames[0].replace(depth_m=None)], toy.scene.mesh, teacher)


def test_paired_feature_loss_by_hand():
    sim = torch.zeros(1, 2, 1, 1)  # one cell: upsampled to a constant 0 image
    f3d = torch.zeros(1, 2, 2, 2)
    f3d[0, 0, 0] = torch.tensor([1.0, 3.0])
    f3d[0, 1, 1] = torch.tensor([100.0, 100.0])  # not paired: ignored
    paired = torch.tensor([[[True, True], [False, False]]])
    # pixels (0, 0): (1, 3) and (0, 1): (0, 0) -> (1 + 9 + 0 + 0) / 4
    assert float(paired_feature_loss(sim, f3d, paired)) == pytest.approx(2.5)
    assert float(paired_feature_loss(sim, f3d, torch.zeros_like(paired))) == 0.0
    with pytest.raises(InputError, match="f3d_sim"):
        paired_feature_loss(sim, f3d[..., :1], paired)


def test_discriminators_have_six_layers_per_class_and_route_by_class():
    d = CategoryDiscriminators(3, 4, hidden=8)
    assert len(d.heads) == 3
    assert all(sum(isinstance(m, torch.nn.Linear) for m in h) == 6 for h in d.heads)
    x = torch.randn(5, 4)
    cls = torch.tensor([1, 3, 3, 2, 1])
    out = d(x, cls)
    assert torch.allclose(out[1], d.heads[2](x[1:2]).squeeze())
    assert torch.allclose(out[3], d.heads[1](x[3:4]).squeeze())
    with pytest.raises(InputError, match="outside 1..3"):
        d(x, torch.tensor([1, 1, 4, 1, 1]))


def _batch_loss_parts(scene, n=4):
    return paired_batch([scene], [(0, i) for i in range(n)], [False] * n)


def test_a_discriminator_step_and_a_generator_step_move_their_losses(scene):
    torch.manual_seed(0)
    net = build_distill3d("rgb-tiny", sim_channels=scene.feature_dim).train()
    b = _batch_loss_parts(scene)
    gen = torch.Generator().manual_seed(0)
    disc = CategoryDiscriminators(13, scene.feature_dim, hidden=32)
    real = torch.from_numpy(scene.features)
    real_cls = torch.from_numpy(scene.voxel_labels.astype(np.int64))
    real, real_cls = real[real_cls > 0], real_cls[real_cls > 0]
    _, _, sim = net.forward_train(b["rgb"])
    fake, fake_cls = simulated_vectors(sim, b["labels"], 64, gen)
    assert len(fake) > 0
    # D step: its loss on the same vectors goes down
    d_opt = torch.optim.Adam(disc.parameters(), lr=1e-3)
    before = discriminator_loss(disc, real, real_cls, fake, fake_cls)
    d_opt.zero_grad()
    before.backward()
    d_opt.step()
    assert float(discriminator_loss(disc, real, real_cls, fake, fake_cls).detach()) < float(before.detach())
    # G step: the student moves its simulated features towards "real" for the fixed discriminators
    d_opt.zero_grad(set_to_none=True)
    disc.requires_grad_(False)
    g_opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def g_loss():
        _, _, s = net.forward_train(b["rgb"])
        f, c = simulated_vectors(s, b["labels"], 10**6, gen)
        return generator_loss(disc, f, c)

    before = g_loss()
    g_opt.zero_grad()
    before.backward()
    g_opt.step()
    assert float(g_loss().detach()) < float(before.detach())
    assert all(p.grad is None for p in disc.parameters())


def _fixed_loss(net, b, weight):
    from real3d.train.losses import seg_loss

    with torch.no_grad():
        refined, coarse, sim = net.forward_train(b["rgb"])
        return float(seg_loss(refined, coarse, b["labels"]) + weight * paired_feature_loss(sim, b["f3d"], b["paired"]))


def test_a_two_step_paired_run_lowers_the_loss(scene):
    torch.manual_seed(0)
    net = build_distill3d("rgb-tiny", sim_channels=scene.feature_dim, momentum=1.0)
    b = _batch_loss_parts(scene, n=len(scene))
    net.train()
    from real3d.models.distill3d import channel_stats

    net.dn1.update_target(*channel_stats(b["f3d"].permute(0, 3, 1, 2), b["paired"]))
    before = _fixed_loss(net, b, 1.0)
    cfg = Distill3DTrainConfig(mode="paired", steps=2, batch_size=len(scene), lr=5e-3, flip=False)
    hist = train_distill3d(net, [scene], cfg)
    assert [h["step"] for h in hist] == [1, 2] and all(h["feat"] > 0 for h in hist)
    net.train()  # the comparison uses batch statistics, as training does
    assert _fixed_loss(net, b, 1.0) < before


def test_unpaired_and_rgb_modes_run_and_report_their_parts(scene, toy):
    torch.manual_seed(0)
    net = build_distill3d("rgb-tiny", sim_channels=scene.feature_dim)
    hist = train_distill3d(net, [scene], Distill3DTrainConfig(mode="unpaired", steps=2, batch_size=2, per_class=16))
    assert set(hist[-1]) >= {"ce", "d", "g", "loss"} and np.isfinite(hist[-1]["loss"])
    # DN1 took the real pool's statistics
    assert torch.allclose(net.dn1.target_mean, torch.from_numpy(scene.features.mean(axis=0)), atol=1e-5)
    base = build_model("rgb-tiny")
    hist = train_distill3d(base, [scene], Distill3DTrainConfig(mode="rgb", steps=1, batch_size=2))
    assert set(hist[0]) == {"step", "ce", "loss"}
    res = evaluate_views(base, toy.frames[:1])
    assert 0.0 <= res["miou"] <= 1.0 and res["frames"] == 1


def test_training_rejects_bad_input(scene):
    net = build_distill3d("rgb-tiny", sim_channels=scene.feature_dim + 1)
    with pytest.raises(ConfigError, match="simulates"):
        train_distill3d(net, [scene], Distill3DTrainConfig(steps=1))
    with pytest.raises(ConfigError, match="needs a Distill3DNet"):
        train_distill3d(build_model("rgb-tiny"), [scene], Distill3DTrainConfig(steps=1))
    with pytest.raises(ConfigError, match="RGB-only"):
        train_distill3d(build_model("rgbd-tiny"), [scene], Distill3DTrainConfig(mode="rgb", steps=1))
    with pytest.raises(InputError, match="non-empty"):
        train_distill3d(net, [], Distill3DTrainConfig(steps=1))
    with pytest.raises(ConfigError, match="mode"):
        Distill3DTrainConfig(mode="cascade")
    with pytest.raises(ConfigError, match="lr"):
        Distill3DTrainConfig(lr=float("nan"))
    odd = PairedScene(
        rgb=scene.rgb[:, :48],
        labels=scene.labels[:, :48],
        rows=scene.rows[:, :48],
        features=scene.features,
        voxel_labels=scene.voxel_labels,
    )
    with pytest.raises(InputError, match="multiples of 32"):
        train_distill3d(build_distill3d("rgb-tiny", sim_channels=scene.feature_dim), [odd], Distill3DTrainConfig())
    with pytest.raises(InputError, match="beyond"):
        PairedScene(scene.rgb, scene.labels, scene.rows + len(scene.features), scene.features, scene.voxel_labels)


def test_cli_command_checks_its_options_before_any_data_is_made(tmp_path):
    import typer
    from typer.testing import CliRunner

    from real3d.cli.distill_cmd import distill3d

    app = typer.Typer()
    app.command("distill3d")(distill3d)
    app.command("other")(lambda: None)  # two commands: the name is a subcommand, as under `real3d train`
    runner = CliRunner()
    res = runner.invoke(app, ["distill3d", "--out", str(tmp_path / "m.pt")])
    assert isinstance(res.exception, InputError) and ".safetensors" in str(res.exception)
    res = runner.invoke(app, ["distill3d", "--out", str(tmp_path / "m.safetensors"), "--size", "100x128"])
    assert isinstance(res.exception, InputError) and "multiples of 32" in str(res.exception)
    res = runner.invoke(app, ["distill3d", "--out", str(tmp_path / "m.safetensors"), "--mode", "cascade"])
    assert isinstance(res.exception, ConfigError) and "paired" in str(res.exception)
    assert not (tmp_path / "m.safetensors").exists()
