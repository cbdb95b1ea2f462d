import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from real3d.core.errors import InputError
from real3d.models import build_model, load_model
from real3d.train import ToySegData
from real3d.train.class_bias import _miou, apply_class_bias, collect_logits, fit_class_bias

ROOT = Path(__file__).resolve().parents[2]


def _skewed_logits(n=40_000, seed=0):
    """Class 0 holds 70 % of the pixels; the logits favour the three rare classes by 1.5,
    as a class-weighted loss would leave them."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.multinomial(torch.tensor([0.7, 0.1, 0.1, 0.1]), n, replacement=True, generator=g)
    logits = 2.0 * torch.nn.functional.one_hot(labels, 4).float() + torch.randn(n, 4, generator=g)
    logits[:, 1:] += 1.5
    return logits, labels


def test_fit_undoes_a_bias_toward_rare_classes():
    logits, labels = _skewed_logits()
    fit = fit_class_bias(logits, labels)
    assert fit.miou_after > fit.miou_before + 3.0
    assert fit.bias[0] - fit.bias[1:].mean() > 0.8  # the frequent class is favoured again
    assert abs(float(fit.bias.mean())) < 1e-5 and fit.pixels == len(labels)
    # the offsets carry over to other pixels of the same distribution
    other_logits, other_labels = _skewed_logits(seed=1)
    assert (
        _miou(other_logits, other_labels, torch.from_numpy(fit.bias))
        > _miou(other_logits, other_labels, torch.zeros(4)) + 2.0
    )


def test_fit_reports_what_its_offsets_give():
    labels = torch.arange(4).repeat(100)
    logits = 5.0 * torch.nn.functional.one_hot(labels, 4).float()  # already perfect
    fit = fit_class_bias(logits, labels)
    assert fit.miou_before == fit.miou_after == 100.0
    logits, labels = _skewed_logits(n=5_000, seed=2)
    fit = fit_class_bias(logits, labels, steps=(0.3,), rounds=1)
    assert fit.miou_before == pytest.approx(_miou(logits, labels, torch.zeros(4)))
    # the mean-centred offsets give the mIoU the fit reports (a common shift keeps the argmax)
    assert fit.miou_after == pytest.approx(_miou(logits, labels, torch.from_numpy(fit.bias)))
    assert fit.miou_after > fit.miou_before


@pytest.mark.parametrize(
    "logits, labels",
    [
        (torch.zeros(5, 3), torch.zeros(4, dtype=torch.long)),
        (torch.zeros(5, 3), torch.full((5,), 3)),
        (torch.full((5, 3), float("nan")), torch.zeros(5, dtype=torch.long)),
        (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)),
    ],
)
def test_fit_rejects_bad_input(logits, labels):
    with pytest.raises(InputError, match="fit_class_bias"):
        fit_class_bias(logits, labels)


def test_apply_shifts_the_refined_logits_only():
    torch.manual_seed(0)
    m = build_model("rgbd-tiny").eval()
    rgb, depth = torch.rand(1, 3, 64, 96), 1 + 3 * torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        refined, coarse = m(rgb, depth), m(rgb, depth, head="coarse")
    bias = np.linspace(-1, 1, 13).astype(np.float32)
    apply_class_bias(m, bias)
    with torch.no_grad():
        assert torch.allclose(m(rgb, depth) - refined, torch.from_numpy(bias)[None, :, None, None], atol=1e-5)
        assert torch.equal(m(rgb, depth, head="coarse"), coarse)
    with pytest.raises(InputError, match="apply_class_bias"):
        apply_class_bias(m, np.zeros(12))
    with pytest.raises(InputError, match="apply_class_bias"):
        apply_class_bias(m, np.full(13, np.nan))


def test_collect_logits_leaves_out_void():
    data = ToySegData(3, (64, 96))
    m = build_model("rgbd-tiny")
    m.train()
    logits, labels = collect_logits(m, data, stride=2, batch_size=2)
    assert m.training  # the mode is restored
    # 3 views of 32x48 sampled pixels, less the void strip (rows 0-1 -> sampled row 1 -> 48 pixels each)
    assert logits.shape == (3 * (32 * 48 - 48), 13) and labels.shape == (len(logits),)
    assert int(labels.min()) >= 0 and int(labels.max()) <= 12
    with pytest.raises(InputError, match="stride"):
        collect_logits(m, data, stride=0)


def test_collect_logits_sees_what_predict_sees():
    from real3d.eval.segmentation import sample_to_frame

    data = ToySegData(2, (64, 96))
    torch.manual_seed(2)
    m = build_model("rgbd-tiny").eval()
    # infer_hw (224, 288) runs a 64x96 view at 224x320: the logits come back at 64x96
    m.config = dataclasses.replace(m.config, infer_hw=(224, 288))
    logits, labels = collect_logits(m, data, stride=1, batch_size=2)
    pred = (
        torch.cat(
            [
                torch.from_numpy(m.predict(sample_to_frame(data[i], i)).labels.astype(np.int64))[data[i]["labels"] > 0]
                for i in range(2)
            ]
        )
        - 1
    )
    assert len(pred) == len(labels)
    assert float((logits.argmax(1) == pred).float().mean()) > 0.999


@pytest.mark.slow
def test_tool_writes_weights_with_the_fit_in_their_card(tmp_path):
    src = tmp_path / "w.safetensors"
    from real3d.models import save_weights

    torch.manual_seed(1)
    save_weights(build_model("rgbd-tiny"), src, {"metrics": {"heldout_refined": {"miou": 1.0}}})
    out = tmp_path / "biased" / "w.safetensors"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "tune_class_bias.py"),
            str(src),
            "--data",
            "synth:kind=home,size=48x64,seed=3,n=2",
            "--views",
            "2",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    m = load_model(out)
    fit = m.card["class_bias"]
    assert len(fit["bias"]) == 13 and fit["miou_after"] >= fit["miou_before"] and fit["views"] == 2
    assert "metrics" not in m.card  # they described the weights before the offsets
    before = load_model(src)
    assert torch.allclose(
        m.decoder.refine_head.bias - before.decoder.refine_head.bias, torch.tensor(fit["bias"]), atol=1e-3
    )
    again = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "tune_class_bias.py"),
            str(out),
            "--data",
            "synth:kind=home,size=48x64,seed=3,n=2",
            "--views",
            "2",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert again.returncode != 0 and "already carries" in again.stderr
    on_top = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "tune_class_bias.py"),
            str(out),
            "--data",
            "synth:kind=home,size=48x64,seed=4,n=2",
            "--views",
            "2",
            "--threads",
            "1",
            "--on-top",
            "--out",
            str(tmp_path / "x.safetensors"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert on_top.returncode == 0, on_top.stderr
    m2 = load_model(tmp_path / "x.safetensors")
    assert m2.card["class_bias_before"]["bias"] == fit["bias"] and "seed=4" in m2.card["class_bias"]["data"]
    assert torch.allclose(
        m2.decoder.refine_head.bias - m.decoder.refine_head.bias, torch.tensor(m2.card["class_bias"]["bias"]), atol=1e-3
    )
