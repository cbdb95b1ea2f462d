"""Feature distillation from the teacher (TrainConfig.teacher_feature_weight): the term, its
three ways of matching stages, and a short fine-tune of a pruned student."""

import copy

import pytest
import torch

from real3d.core.errors import ConfigError
from real3d.models import build_model, load_weights
from real3d.models.pretrained import save_weights
from real3d.train import ToySegData, TrainConfig, train
from real3d.train.loop import TeacherFeatures, stage_feature_modules

HW = (32, 64)


def _batch(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, *HW, generator=g), torch.rand(b, 1, *HW, generator=g) * 4 + 0.3


def _opt(model):
    return torch.optim.SGD(model.parameters(), lr=0.0)


def _term(student, distiller, rgb, depth):
    student(rgb, depth, head="both")
    return distiller.loss(rgb, depth)


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(5)
    return build_model("rgbd-tiny").eval().requires_grad_(False)


def test_stage_modules_give_the_encoded_maps(teacher):
    rgb, depth = _batch()
    seen = []
    hooks = [m.register_forward_hook(lambda m, a, out: seen.append(out)) for m in stage_feature_modules(teacher)]
    with torch.no_grad():
        feats = teacher.encode(rgb, depth)
    for h in hooks:
        h.remove()
    assert len(seen) == 5 and all(torch.equal(a, b) for a, b in zip(seen, feats))


def test_term_is_zero_for_the_teacher_itself_and_pulls_a_student(teacher):
    rgb, depth = _batch()
    same = copy.deepcopy(teacher).eval()
    d = TeacherFeatures(same, teacher, None, _opt(same))
    assert d.modes == ["same"] * 5
    assert float(_term(same, d, rgb, depth)) == pytest.approx(0.0, abs=1e-7)

    torch.manual_seed(11)
    student = build_model("rgbd-tiny").eval()  # same architecture, other weights
    opt = torch.optim.SGD(student.parameters(), lr=0.05)
    d = TeacherFeatures(student, teacher, None, opt)
    first = float(_term(student, d, rgb, depth).detach())
    assert first > 0.1
    for _ in range(5):
        opt.zero_grad()
        _term(student, d, rgb, depth).backward()
        opt.step()
    assert float(_term(student, d, rgb, depth).detach()) < 0.8 * first


def test_pruned_student_is_compared_on_its_kept_channels(teacher):
    pytest.importorskip("torch_pruning")
    from real3d.deploy.prune import prune_to_macs
    from real3d.models.pretrained import count_macs

    r = prune_to_macs(teacher, count_macs(teacher, HW) * 0.6, HW, step_fraction=0.3)
    student = r.model
    opt = _opt(student)
    groups = len(opt.param_groups)
    d = TeacherFeatures(student, teacher, {"pruned": r.card_entry()}, opt)
    assert d.modes == ["kept"] * 5 and len(opt.param_groups) == groups  # no projection
    rgb, depth = _batch()
    with torch.no_grad():
        t = teacher.encode(rgb, depth)
        s = student.encode(rgb, depth)
    # the stem reads the unpruned input: its kept channels are the teacher's exactly
    torch.testing.assert_close(s[0], t[0][:, list(r.feature_channels[0])])
    assert float(_term(student, d, rgb, depth)) > 0
    # a record of the same source weights counts; one of other weights does not
    other = copy.deepcopy(teacher)
    other.card = {"sha256": "a" * 64}
    entry = {**r.card_entry(), "source_sha256": "a" * 64}
    assert TeacherFeatures(student, other, {"pruned": entry}, _opt(student)).modes == ["kept"] * 5
    entry["source_sha256"] = "b" * 64
    assert "projection" in TeacherFeatures(student, other, {"pruned": entry}, _opt(student)).modes
    # without the record the widths differ, so the stages go through projections
    opt = _opt(student)
    d = TeacherFeatures(student, teacher, None, opt)
    assert "projection" in d.modes and len(opt.param_groups) == groups + 1


def test_other_widths_go_through_a_trained_projection(teacher):
    torch.manual_seed(2)
    student = build_model("rgb-tiny").eval()
    opt = torch.optim.SGD(student.parameters(), lr=0.05)
    d = TeacherFeatures(student, teacher, None, opt)
    # rgb-tiny has rgbd-tiny's RGB widths: same at every stage
    assert d.modes == ["same"] * 5
    small = build_model("rgbd-small").eval()
    opt = torch.optim.SGD(small.parameters(), lr=0.05)
    d = TeacherFeatures(small, teacher, None, opt)
    assert d.modes == ["same"] + ["projection"] * 4  # both stems have 16 channels
    proj = list(d.projections.parameters())
    assert opt.param_groups[-1]["params"] == proj
    rgb, depth = _batch()
    loss = _term(small, d, rgb, depth)
    loss.backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in proj)


def test_config_checks():
    with pytest.raises(ConfigError, match="teacher_feature_weight: needs a teacher"):
        TrainConfig(teacher_feature_weight=1.0)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ConfigError, match="teacher_feature_weight"):
            TrainConfig(teacher="t.safetensors", teacher_feature_weight=bad)
    assert TrainConfig().teacher_feature_weight == 0.0


def test_cli_flag_needs_a_teacher(tmp_path):
    from typer.testing import CliRunner

    from real3d.cli.main import app

    r = CliRunner().invoke(app, ["train", "seg", "--teacher-features", "1", "--out", str(tmp_path)])
    assert isinstance(r.exception, ConfigError) and "needs a teacher" in str(r.exception)


def test_two_step_fine_tune_of_a_pruned_student(teacher, tmp_path):
    pytest.importorskip("torch_pruning")
    from real3d.deploy.prune import prune_to_macs
    from real3d.models.pretrained import count_macs

    t_path = save_weights(teacher, tmp_path / "teacher.safetensors", {"note": "test"})
    r = prune_to_macs(teacher, count_macs(teacher, HW) * 0.6, HW, step_fraction=0.3)
    s_path = save_weights(r.model, tmp_path / "pruned.safetensors", {"pruned": r.card_entry()})
    cfg = TrainConfig(
        preset="rgbd-small",  # not used: pruned weights are their own architecture
        init_weights=str(s_path),
        teacher=str(t_path),
        teacher_feature_weight=1.0,
        out_dir=str(tmp_path / "ft"),
        steps=2,
        batch_size=2,
        crop_hw=HW,
        warmup_steps=1,
        weight_samples=2,
        augment=None,
        amp="off",
        lr=1e-3,
    )
    summary = train(cfg, dataset=ToySegData(4, HW), resume=False, progress=False)
    assert summary["steps"] == 2 and all(torch.isfinite(torch.tensor(summary["losses"])))
    out = load_weights(summary["weights"])
    assert out.config == r.model.config
    assert out.card["pruned"]["feature_channels"] == r.card_entry()["feature_channels"]
    assert any(not torch.equal(a, b) for a, b in zip(out.state_dict().values(), r.model.state_dict().values()))
