"""Knowledge distillation: the loss, and training a student against a teacher."""

import dataclasses
import math

import pytest
import torch

from real3d.core.errors import ConfigError, InputError
from real3d.models import build_model, load_weights
from real3d.models.presets import get_preset
from real3d.models.pretrained import save_weights
from real3d.train import ToySegData, TrainConfig, distill_loss, train


def test_distill_loss_against_a_hand_computed_pixel():
    # one pixel, two classes: teacher logits (0, ln 3) -> p_t = (1/4, 3/4); student (0, 0) -> (1/2, 1/2)
    t = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1)
    s = torch.zeros(1, 2, 1, 1)
    want = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert float(distill_loss(s, t, temperature=1.0)) == pytest.approx(want, rel=1e-6)
    # temperature 2 softens both sides and scales by 4: teacher (0, ln 3 / 2) -> p = 1 / (1 + sqrt 3)
    p0 = 1.0 / (1.0 + math.sqrt(3.0))
    want2 = 4.0 * (p0 * math.log(p0 / 0.5) + (1 - p0) * math.log((1 - p0) / 0.5))
    assert float(distill_loss(s, t, temperature=2.0)) == pytest.approx(want2, rel=1e-6)


def test_distill_loss_is_zero_on_agreement_and_ignores_void():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(2, 5, 4, 6, generator=g)
    assert float(distill_loss(t.clone(), t)) == pytest.approx(0.0, abs=1e-6)
    s = t.clone()
    s[:, :, 0, 0] += torch.randn(2, 5, generator=g) * 3
    labels = torch.ones(2, 4, 6, dtype=torch.int64)
    assert float(distill_loss(s, t, labels)) > 0
    labels[:, 0, 0] = 0  # the only pixels that differ are void
    assert float(distill_loss(s, t, labels)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(s, t, torch.zeros_like(labels))) == 0.0
    # the gradient reaches the student only
    s.requires_grad_(True)
    t.requires_grad_(True)
    distill_loss(s, t).backward()
    assert s.grad is not None and float(s.grad.abs().sum()) > 0 and t.grad is None
    with pytest.raises(InputError, match="one \\(B, K, H, W\\) shape"):
        distill_loss(s, t[:, :4])
    with pytest.raises(ConfigError, match="temperature"):
        distill_loss(s, t, temperature=0.0)


def _cfg(tmp_path, name, **kw):
    base = dict(
        preset="rgb-tiny",
        out_dir=str(tmp_path / name),
        steps=6,
        batch_size=4,
        crop_hw=(64, 96),
        warmup_steps=1,
        weight_samples=4,
        ckpt_every=100,
        lr=3e-3,
        augment=None,
        amp="off",
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory):
    # an RGB-D teacher with a fixed random init: what it predicts is arbitrary, not the labels,
    # so only distillation can bring a student's predictions to it
    torch.manual_seed(7)
    net = build_model("rgbd-tiny").eval()
    return save_weights(net, tmp_path_factory.mktemp("teacher") / "teacher.safetensors", {"note": "test"})


def _kl_to(student_path, teacher_path, data):
    s, t = load_weights(student_path), load_weights(teacher_path)
    batch = [data[i] for i in range(len(data))]
    rgb = torch.stack([b["rgb"] for b in batch]).float() / 255.0
    depth = torch.stack([b["depth_m"] for b in batch]).float()
    with torch.no_grad():
        return float(distill_loss(s(rgb, None), t(rgb, depth), temperature=1.0))


def test_an_rgb_student_moves_towards_an_rgbd_teacher(tmp_path, teacher_path):
    data = ToySegData(4)
    plain = train(_cfg(tmp_path, "plain"), dataset=data, resume=False, progress=False)
    kd = train(
        _cfg(tmp_path, "kd", teacher=str(teacher_path), distill_weight=20.0, distill_temperature=1.0),
        dataset=data,
        resume=False,
        progress=False,
    )
    assert all(math.isfinite(v) for v in kd["losses"])
    card = load_weights(kd["weights"])  # the card records the teacher
    import json

    tc = json.loads((tmp_path / "kd" / "model.json").read_text())["train_config"]
    assert tc["teacher"] == str(teacher_path) and tc["distill_weight"] == 20.0 and card.config.name == "rgb-tiny"
    kl_kd, kl_plain = _kl_to(kd["weights"], teacher_path, data), _kl_to(plain["weights"], teacher_path, data)
    assert kl_kd < 0.5 * kl_plain


def test_resume_with_a_teacher_gives_the_same_steps(tmp_path, teacher_path):
    data = ToySegData(6)
    kw = dict(teacher=str(teacher_path), steps=3, augment=None)
    full = train(_cfg(tmp_path, "full", **kw), dataset=data, resume=False, progress=False)
    train(_cfg(tmp_path, "part", **kw), dataset=data, resume=False, progress=False, stop_at=1)
    rest = train(_cfg(tmp_path, "part", **kw), dataset=data, resume=True, progress=False)
    assert rest["losses"] == full["losses"][1:]


def test_teacher_checks(tmp_path):
    with pytest.raises(ConfigError, match="trained weights"):
        train(_cfg(tmp_path, "a", teacher="rgbd-small"), dataset=ToySegData(4), resume=False, progress=False)
    five = dataclasses.replace(get_preset("rgbd-tiny"), num_classes=5)
    from real3d.models.segmentation import Real3DVisionNet

    p = save_weights(Real3DVisionNet(five), tmp_path / "five.safetensors", {})
    with pytest.raises(ConfigError, match="5 classes"):
        train(_cfg(tmp_path, "b", teacher=str(p)), dataset=ToySegData(4), resume=False, progress=False)
    with pytest.raises(ConfigError, match="distill_weight"):
        TrainConfig(distill_weight=-1.0)
    with pytest.raises(ConfigError, match="distill_temperature"):
        TrainConfig(distill_temperature=0.0)
    with pytest.raises(ConfigError, match="teacher_flip"):
        TrainConfig(teacher_flip=True)


def _batch(seed, h, w):
    torch.manual_seed(seed)
    return torch.rand(2, 3, h, w), 0.5 + 4 * torch.rand(2, 1, h, w)


def test_flip_averaged_teacher(tmp_path, teacher_path):
    from real3d.train.loop import teacher_logits

    t = load_weights(teacher_path)
    rgb, depth = _batch(1, 32, 48)
    with torch.no_grad():
        plain = teacher_logits(t, rgb, depth)
        mirrored = teacher_logits(t, rgb.flip(-1), depth.flip(-1))
        both = teacher_logits(t, rgb, depth, flip=True, temperature=2.0)
    assert torch.equal(plain, t(rgb, depth, head="refined"))
    # softmax(both / T) is the mean of the plain and the un-mirrored mirrored distributions at T
    want = 0.5 * (torch.softmax(plain / 2.0, 1) + torch.softmax(mirrored.flip(-1) / 2.0, 1))
    torch.testing.assert_close(torch.softmax(both / 2.0, 1), want, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(torch.softmax(plain / 2.0, 1), want, atol=1e-3)  # the mirror changed it
    run = train(
        _cfg(tmp_path, "flip", teacher=str(teacher_path), teacher_flip=True, steps=2),
        dataset=ToySegData(4),
        resume=False,
        progress=False,
    )
    assert all(math.isfinite(v) for v in run["losses"])


def test_multiscale_teacher(tmp_path, teacher_path):
    from real3d.models import network_size
    from real3d.models.segmentation import resize_inputs
    from real3d.train.loop import teacher_logits

    t = load_weights(teacher_path)
    rgb, depth = _batch(2, 64, 96)
    with torch.no_grad():
        plain = teacher_logits(t, rgb, depth)
        r, d = resize_inputs(rgb, depth, network_size(64, 96, (64 * 1.5, 96 * 1.5)))
        assert tuple(r.shape[-2:]) == (96, 160)  # sides multiples of 32
        big = torch.nn.functional.interpolate(
            t(r, d, head="refined"), size=(64, 96), mode="bilinear", align_corners=False
        )
        both = teacher_logits(t, rgb, depth, temperature=2.0, scales=(1.0, 1.5))
        flip_one = teacher_logits(t, rgb, depth, flip=True, temperature=2.0)
        flip_both = teacher_logits(t, rgb, depth, flip=True, temperature=2.0, scales=(1.0,))
    want = 0.5 * (torch.softmax(plain / 2.0, 1) + torch.softmax(big / 2.0, 1))
    torch.testing.assert_close(torch.softmax(both / 2.0, 1), want, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(torch.softmax(plain / 2.0, 1), want, atol=1e-3)  # the scale changed it
    torch.testing.assert_close(flip_one, flip_both)
    with pytest.raises(ConfigError, match="teacher_scales"):
        TrainConfig(teacher_scales=(1.0, 1.2))  # no teacher
    with pytest.raises(ConfigError, match="teacher_scales"):
        TrainConfig(teacher="rgbd-default", teacher_scales=(1.0, 9.0))
    assert TrainConfig(teacher="rgbd-default", teacher_scales=[1, 1.2]).teacher_scales == (1.0, 1.2)
    run = train(
        _cfg(tmp_path, "ms", teacher=str(teacher_path), teacher_flip=True, teacher_scales=(1.0, 1.25), steps=2),
        dataset=ToySegData(4),
        resume=False,
        progress=False,
    )
    assert all(math.isfinite(v) for v in run["losses"])
