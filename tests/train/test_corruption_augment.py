"""Corruption-aware training: real3d.robust corruptions as training augmentation."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from real3d.cli.main import app
from real3d.core.errors import ConfigError
from real3d.train import AugmentConfig, ToySegData, TrainConfig, train
from real3d.train.corrupt_augment import (
    DEFAULT_TRAIN_CORRUPTIONS,
    corrupt_sample,
    parse_corruption_names,
    parse_severity_range,
)
from real3d.train.data import ScheduleDataset, augment

HW = (48, 64)


def _sample(i=0):
    s = ToySegData(4, size_hw=HW)[i]
    # a block of invalid depth, as real frames have
    s["depth_m"][0, 5:15, 10:30] = 0.0
    return s


def _crop(i=0, seed=0):
    a = augment(_sample(i), HW, AugmentConfig(), torch.Generator().manual_seed(seed))
    return a["rgb"][None], a["depth_m"][None]


def test_default_list_is_colour_and_depth_without_depth_missing():
    assert "jpeg" in DEFAULT_TRAIN_CORRUPTIONS and "depth_noise" in DEFAULT_TRAIN_CORRUPTIONS
    assert "depth_missing" not in DEFAULT_TRAIN_CORRUPTIONS and "roll" not in DEFAULT_TRAIN_CORRUPTIONS
    cfg = AugmentConfig()
    assert cfg.corrupt_p == 0.0 and cfg.depth_missing_p == 0.0 and cfg.corruptions == DEFAULT_TRAIN_CORRUPTIONS


def test_schedule_items_are_deterministic_per_seed_and_item():
    cfg = AugmentConfig(corrupt_p=1.0, depth_missing_p=0.5)
    base = ToySegData(4, size_hw=HW)
    a, b = ScheduleDataset(base, HW, cfg, seed=3), ScheduleDataset(base, HW, cfg, seed=3)
    for k in range(6):
        x, y = a[k], b[k]
        assert torch.equal(x["rgb"], y["rgb"]) and torch.equal(x["depth_m"], y["depth_m"])
    other = ScheduleDataset(base, HW, cfg, seed=4)
    assert any(not torch.equal(a[k]["rgb"], other[k]["rgb"]) for k in range(6))


def test_samples_not_hit_are_exactly_the_plain_augmentation():
    # the corruption's draws come after every earlier one: a sample it leaves alone is the
    # sample the augmentation without corruption gives, and one it hits differs
    plain, corrupted = AugmentConfig(), AugmentConfig(corrupt_p=0.5, corruptions=("contrast",), corrupt_severity=(5, 5))
    same = changed = 0
    for k in range(24):
        x = augment(_sample(k % 4), HW, plain, torch.Generator().manual_seed(k))
        y = augment(_sample(k % 4), HW, corrupted, torch.Generator().manual_seed(k))
        assert torch.equal(x["labels"], y["labels"]) and torch.equal(x["depth_m"], y["depth_m"])
        if torch.equal(x["rgb"], y["rgb"]):
            same += 1
        else:
            changed += 1
            # contrast 0.1: the colours pulled towards their mean
            assert y["rgb"].std() < 0.5 * x["rgb"].std()
    assert same > 0 and changed > 0


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_corruption_applied_at_the_configured_rate(p):
    rgb, depth = _crop()
    n = 400
    hits = sum(
        corrupt_sample(rgb, depth, ("gaussian_noise", "depth_noise"), (1, 5), p, 0.0, torch.Generator().manual_seed(k))[
            2
        ]
        is not None
        for k in range(n)
    )
    sigma = (p * (1 - p) / n) ** 0.5
    assert abs(hits / n - p) <= 4.5 * sigma + 1e-9


def test_depth_missing_at_its_own_rate_and_only_depth():
    rgb, depth = _crop()
    n, p = 400, 0.25
    missing = 0
    for k in range(n):
        r, d, what = corrupt_sample(
            rgb, depth, DEFAULT_TRAIN_CORRUPTIONS, (1, 5), 0.0, p, torch.Generator().manual_seed(k)
        )
        assert torch.equal(r, rgb)
        if what == "depth_missing":
            missing += 1
            assert d.shape == depth.shape and not d.any()
        else:
            assert what is None and torch.equal(d, depth)
    assert abs(missing / n - p) <= 4.5 * (p * (1 - p) / n) ** 0.5


def test_severities_come_from_the_configured_range():
    rgb, depth = _crop()
    seen = set()
    for k in range(60):
        what = corrupt_sample(rgb, depth, ("jpeg",), (2, 3), 1.0, 0.0, torch.Generator().manual_seed(k))[2]
        name, sev = what.split(":")
        assert name == "jpeg"
        seen.add(int(sev))
    assert seen == {2, 3}


@pytest.mark.parametrize("name", DEFAULT_TRAIN_CORRUPTIONS + ("depth_missing",))
def test_every_corruption_keeps_the_sample_contract(name):
    s = _sample(1)
    cfg = AugmentConfig(corrupt_p=1.0, corruptions=(name,), corrupt_severity=(5, 5), depth_missing_p=0.0)
    plain = augment(s, HW, AugmentConfig(), torch.Generator().manual_seed(7))
    out = augment(s, HW, cfg, torch.Generator().manual_seed(7))
    assert out["rgb"].shape == (3, *HW) and out["rgb"].dtype == torch.float32
    assert float(out["rgb"].min()) >= 0.0 and float(out["rgb"].max()) <= 1.0
    assert out["depth_m"].shape == (1, *HW) and out["depth_m"].dtype == torch.float32
    assert torch.isfinite(out["depth_m"]).all() and float(out["depth_m"].min()) >= 0.0
    assert out["labels"].dtype == torch.int64 and torch.equal(out["labels"], plain["labels"])
    # invalid depth stays invalid
    assert not out["depth_m"][plain["depth_m"] == 0].any()
    # a colour corruption leaves depth alone and a depth one the colour (up to 8-bit rounding)
    if name.startswith("depth"):
        assert torch.allclose(out["rgb"], plain["rgb"], atol=0.5 / 255 + 1e-6)
        assert not torch.equal(out["depth_m"], plain["depth_m"]) or name in ("depth_holes_specular", "depth_holes_dark")
    else:
        assert torch.equal(out["depth_m"], plain["depth_m"])
        assert not torch.allclose(out["rgb"], plain["rgb"], atol=1.0 / 255)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"corruptions": ("jpg",)}, "unknown corruption"),
        ({"corruptions": ("roll",)}, "geometric"),
        ({"corruptions": (), "corrupt_p": 0.5}, "at least one"),
        ({"corrupt_severity": (0, 5)}, "1..5"),
        ({"corrupt_severity": (1, 6)}, "1..5"),
        ({"corrupt_severity": (4, 2)}, "lo <= hi"),
        ({"corrupt_severity": (2.5, 3)}, "1..5"),
        ({"corrupt_severity": 3}, "lo, hi"),
        ({"corrupt_p": -0.1}, "probability"),
        ({"corrupt_p": 1.5}, "probability"),
        ({"corrupt_p": True}, "probability"),
        ({"depth_missing_p": 2.0}, "probability"),
        ({"depth_missing_p": "0.2"}, "probability"),
    ],
)
def test_bad_settings_raise_config_error(kw, match):
    with pytest.raises(ConfigError, match=match):
        AugmentConfig(**kw)


def test_cli_parsers():
    assert parse_severity_range("1-5") == (1, 5) and parse_severity_range("3") == (3, 3)
    assert parse_corruption_names("default") == DEFAULT_TRAIN_CORRUPTIONS
    assert parse_corruption_names("jpeg, depth_missing,jpeg") == ("jpeg", "depth_missing")
    assert "depth_missing" in parse_corruption_names("depth")
    for bad in ("x", "1-", "a-b"):
        with pytest.raises(ConfigError):
            parse_severity_range(bad)
    for bad in ("", "nope", "field_of_view"):
        with pytest.raises(ConfigError):
            parse_corruption_names(bad)


def test_train_seg_cli_rejects_bad_corruption_options_before_any_data(tmp_path):
    for args, match in (
        (["--corrupt-p", "1.5"], "probability"),
        (["--corrupt-severity", "0-3"], "1..5"),
        (["--corruptions", "jpeg,snow"], "unknown corruption"),
        (["--depth-missing-p", "-1"], "probability"),
    ):
        r = CliRunner().invoke(
            app, ["train", "seg", "--data", "synth:kind=home,size=48x64,seed=0,n=2", "--out", str(tmp_path), *args]
        )
        assert isinstance(r.exception, ConfigError) and r.exception.args and match in str(r.exception), args
    assert not any(tmp_path.iterdir())


def _run_cfg(tmp_path, augment, **kw):
    base = dict(
        preset="rgbd-tiny",
        out_dir=str(tmp_path / "run"),
        steps=2,
        batch_size=4,
        crop_hw=(48, 64),
        warmup_steps=1,
        weight_samples=4,
        ckpt_every=100,
        amp="off",
        augment=augment,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_training_steps_run_with_corruption_augmentation(tmp_path):
    cfg = _run_cfg(tmp_path, AugmentConfig(corrupt_p=1.0, depth_missing_p=0.5))
    s = train(cfg, dataset=ToySegData(4, size_hw=HW), resume=False, progress=False)
    assert len(s["losses"]) == 2 and all(np.isfinite(s["losses"]))


def test_keep_clean_adds_the_crop_before_its_corruption_and_draws_the_same():
    cfg = AugmentConfig(corrupt_p=1.0, corruptions=("contrast",), corrupt_severity=(5, 5), depth_missing_p=1.0)
    for k in range(4):
        plain = augment(_sample(k), HW, AugmentConfig(), torch.Generator().manual_seed(k))
        x = augment(_sample(k), HW, cfg, torch.Generator().manual_seed(k))
        y = augment(_sample(k), HW, cfg, torch.Generator().manual_seed(k), keep_clean=True)
        assert "rgb_clean" not in x and set(y) == {"rgb", "depth_m", "labels", "rgb_clean", "depth_m_clean"}
        # the corrupted crop is the one without keep_clean; the clean one is the crop the
        # augmentation gives without corruptions
        assert torch.equal(x["rgb"], y["rgb"]) and torch.equal(x["depth_m"], y["depth_m"])
        assert torch.equal(y["rgb_clean"], plain["rgb"]) and torch.equal(y["depth_m_clean"], plain["depth_m"])
        assert not torch.equal(y["rgb"], y["rgb_clean"])
        assert float(y["depth_m"].abs().sum()) == 0.0 and float(y["depth_m_clean"].abs().sum()) > 0
    # without corruptions there is nothing to keep
    z = augment(_sample(0), HW, AugmentConfig(), torch.Generator().manual_seed(0), keep_clean=True)
    assert "rgb_clean" not in z


def test_teacher_clean_feeds_the_teacher_the_uncorrupted_batch(tmp_path, monkeypatch):
    from real3d.models import build_model
    from real3d.models.pretrained import save_weights
    from real3d.train import loop

    torch.manual_seed(0)
    t_path = save_weights(build_model("rgbd-tiny"), tmp_path / "t.safetensors", {"note": "test"})
    seen = []
    real = loop.teacher_logits

    def spy(teacher, rgb, depth, *a, **k):
        seen.append(float(depth.abs().sum()))
        return real(teacher, rgb, depth, *a, **k)

    monkeypatch.setattr(loop, "teacher_logits", spy)
    for clean in (False, True):
        seen.clear()
        aug = AugmentConfig(corrupt_p=1.0, corruptions=("contrast",), corrupt_severity=(5, 5), depth_missing_p=1.0)
        cfg = _run_cfg(
            tmp_path / str(clean),
            aug,
            steps=1,
            batch_size=2,
            weight_samples=2,
            teacher=str(t_path),
            teacher_clean=clean,
        )
        s = train(cfg, dataset=ToySegData(4, size_hw=HW), resume=False, progress=False)
        assert np.isfinite(s["losses"]).all() and len(seen) == 1
        # every crop loses its depth (depth_missing_p = 1): only the clean batch has any
        assert (seen[0] > 0) == clean


def test_teacher_clean_needs_a_teacher_and_corruptions(tmp_path):
    with pytest.raises(ConfigError, match="teacher_clean: needs a teacher"):
        TrainConfig(teacher_clean=True, augment=AugmentConfig(corrupt_p=0.5))
    with pytest.raises(ConfigError, match="teacher_clean: needs corruption-aware training"):
        TrainConfig(teacher="rgbd-default", teacher_clean=True)
    with pytest.raises(ConfigError, match="teacher_clean: needs corruption-aware training"):
        TrainConfig(teacher="rgbd-default", teacher_clean=True, augment=None)
    with pytest.raises(ConfigError, match="teacher_clean: expected a bool"):
        TrainConfig(teacher="rgbd-default", teacher_clean="yes", augment=AugmentConfig(corrupt_p=0.5))
    r = CliRunner().invoke(
        app, ["train", "seg", "--teacher", "rgbd-default", "--teacher-clean", "--out", str(tmp_path / "x")]
    )
    assert isinstance(r.exception, ConfigError) and "needs corruption-aware training" in str(r.exception)
