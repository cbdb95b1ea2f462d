"""The Lovász-softmax loss and training with it."""

import pytest
import torch
import torch.nn.functional as F

from real3d.core.errors import ConfigError, InputError
from real3d.train import ToySegData, TrainConfig, train
from real3d.train.losses import lovasz_softmax_loss


def _one_hot_logits(pred, k=13):
    return F.one_hot(pred - 1, k).permute(0, 3, 1, 2).float() * 50.0


def test_equals_one_minus_iou_on_hard_predictions():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (2, 9, 11), generator=g)  # 0 = void
    pred = torch.randint(1, 6, (2, 9, 11), generator=g)  # class 5 is predicted, never labelled
    valid = labels > 0
    want = []
    for c in labels[valid].unique().tolist():
        a, b = labels[valid] == c, pred[valid] == c
        want.append(1.0 - float((a & b).sum()) / float((a | b).sum()))
    got = float(lovasz_softmax_loss(_one_hot_logits(pred), labels))
    assert got == pytest.approx(sum(want) / len(want), abs=1e-5)
    assert float(lovasz_softmax_loss(_one_hot_logits(labels.clamp(min=1)), labels)) == pytest.approx(0.0, abs=1e-5)
    assert float(lovasz_softmax_loss(_one_hot_logits(pred), torch.zeros_like(labels))) == 0.0  # all void


def test_gradient_steps_lower_it_and_stride_subsamples():
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(1, 4, (2, 8, 8), generator=g)
    logits = torch.randn(2, 13, 8, 8, generator=g, requires_grad=True)
    first = lovasz_softmax_loss(logits, labels)
    first.backward()
    with torch.no_grad():
        after = lovasz_softmax_loss(logits - 5.0 * logits.grad, labels)
    assert float(after) < float(first.detach())
    sub = lovasz_softmax_loss(logits[:, :, ::2, ::2], labels[:, ::2, ::2])
    assert float(lovasz_softmax_loss(logits, labels, stride=2)) == pytest.approx(float(sub))
    with pytest.raises(InputError, match="lovasz"):
        lovasz_softmax_loss(logits, labels[:, :4])
    with pytest.raises(ConfigError, match="stride"):
        lovasz_softmax_loss(logits, labels, stride=0)


def test_training_with_the_term(tmp_path):
    cfg = TrainConfig(
        preset="rgb-tiny",
        out_dir=str(tmp_path / "a"),
        steps=2,
        batch_size=4,
        crop_hw=(64, 96),
        warmup_steps=1,
        weight_samples=4,
        ckpt_every=100,
        lr=3e-3,
        augment=None,
        amp="off",
        lovasz_weight=1.0,
        lovasz_stride=1,
    )
    s = train(cfg, dataset=ToySegData(4), resume=False, progress=False)
    assert s["losses"][1] < s["losses"][0]
    plain = train(
        TrainConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "b"), "lovasz_weight": 0.0}),
        dataset=ToySegData(4),
        resume=False,
        progress=False,
    )
    assert s["losses"][0] > plain["losses"][0] + 0.05  # the same first batch, one more term
    for bad in ({"lovasz_weight": -1.0}, {"lovasz_stride": 0}):
        with pytest.raises(ConfigError, match="lovasz"):
            TrainConfig(**bad)
