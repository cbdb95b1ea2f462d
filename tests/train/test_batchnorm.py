import subprocess
import sys
from pathlib import Path

import pytest
import torch

from real3d.core.errors import InputError
from real3d.models import build_model, load_model, save_weights
from real3d.train import ToySegData
from real3d.train.batchnorm import recalibrate_batchnorm

ROOT = Path(__file__).resolve().parents[2]


def _bn_layers(m):
    return [x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)]


@pytest.mark.parametrize("flip", [False, True])
def test_statistics_are_the_average_of_the_batch_statistics(flip):
    torch.manual_seed(0)
    m = build_model("rgbd-tiny")
    m.train()
    bns = _bn_layers(m)
    for bn in bns:  # stale statistics, far from anything the data gives
        bn.running_mean.fill_(5.0)
        bn.running_var.fill_(100.0)
    weights = {k: v.clone() for k, v in m.state_dict().items() if "running" not in k and "num_batches" not in k}
    seen = {0: [], len(bns) - 1: []}
    hooks = [
        bns[i].register_forward_hook(lambda mod, inp, out, i=i: seen[i].append(inp[0].detach().clone())) for i in seen
    ]
    stats = recalibrate_batchnorm(m, ToySegData(5, (64, 96)), batch_size=2, flip=flip)
    for h in hooks:
        h.remove()
    passes = 2 * (2 if flip else 1)  # 5 views -> 2 whole batches of 2
    assert stats.batches == 2 and stats.views == 4 and stats.layers == len(bns) and stats.flip == flip
    for i, xs in seen.items():
        assert len(xs) == passes
        mean = torch.stack([x.mean((0, 2, 3)) for x in xs]).mean(0)
        var = torch.stack([x.var((0, 2, 3), unbiased=True) for x in xs]).mean(0)
        torch.testing.assert_close(bns[i].running_mean, mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(bns[i].running_var, var, rtol=1e-4, atol=1e-5)
        assert int(bns[i].num_batches_tracked) == passes
    assert m.training and all(bn.momentum == 0.1 for bn in bns)  # mode and momentum restored
    for k, v in m.state_dict().items():
        if k in weights:
            assert torch.equal(v, weights[k]), k  # no weight moved
    assert stats.mean_shift > 1.0  # the stale means were far off


def test_runs_at_the_size_predict_uses():
    m = build_model("rgbd-tiny").eval()
    sizes = []
    hook = _bn_layers(m)[0].register_forward_hook(lambda mod, inp, out: sizes.append(tuple(inp[0].shape[-2:])))
    stats = recalibrate_batchnorm(m, ToySegData(2, (60, 80)), batch_size=2, flip=False)
    hook.remove()
    from real3d.models.segmentation import network_size

    nh, nw = network_size(60, 80, m.config.infer_hw)
    assert stats.size_hw == (nh, nw) and not m.training
    assert sizes and all(s[0] * 2 in (nh, nh + 1) and s[1] * 2 in (nw, nw + 1) for s in sizes)  # stride-2 stem


def test_bad_requests_fail_and_leave_the_statistics():
    m = build_model("rgbd-tiny")
    bn = _bn_layers(m)[0]
    bn.running_mean.fill_(3.0)
    with pytest.raises(InputError, match="batch_size"):
        recalibrate_batchnorm(m, ToySegData(4, (64, 96)), batch_size=1)
    with pytest.raises(InputError, match="at least"):
        recalibrate_batchnorm(m, ToySegData(3, (64, 96)), batch_size=4)

    class Broken(ToySegData):
        def __getitem__(self, i):
            if i >= 2:
                raise OSError("truncated view")
            return super().__getitem__(i)

    with pytest.raises(OSError):
        recalibrate_batchnorm(m, Broken(4, (64, 96)), batch_size=2)
    assert torch.all(bn.running_mean == 3.0) and bn.momentum == 0.1
    m.unused = torch.nn.BatchNorm2d(4)  # a layer the forward pass never reaches
    with pytest.raises(InputError, match="1 BatchNorm layers saw no batch"):
        recalibrate_batchnorm(m, ToySegData(2, (64, 96)), batch_size=2)
    assert torch.all(bn.running_mean == 3.0) and int(bn.num_batches_tracked) == 0
    del m.unused
    with pytest.raises(InputError, match="no BatchNorm"):
        recalibrate_batchnorm(torch.nn.Conv2d(3, 3, 1), ToySegData(2, (64, 96)), batch_size=2)


def test_tool_writes_weights_with_the_run_in_their_card(tmp_path):
    src = tmp_path / "w.safetensors"
    torch.manual_seed(1)
    save_weights(build_model("rgbd-tiny"), src, {"metrics": {"heldout_refined": {"miou": 1.0}}, "seeds": [1]})
    out = tmp_path / "bn" / "w.safetensors"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "recalibrate_bn.py"),
            str(src),
            "--data",
            "synth:kind=home,size=48x64,seed=3,n=4",
            "--views",
            "4",
            "--batch-size",
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
    rec = m.card["batchnorm_recalibration"]
    assert rec["views"] == 4 and rec["batches"] == 2 and rec["flip"] is True and "recalibrate_bn.py" in rec["command"]
    assert "metrics" not in m.card and m.card["seeds"] == [1]
    before = load_model(src)
    assert not torch.equal(_bn_layers(m)[0].running_mean, _bn_layers(before)[0].running_mean)
