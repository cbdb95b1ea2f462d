import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from real3d.core.errors import ConfigError, InputError
from real3d.models import build_model, load_model, save_weights
from real3d.models.segmentation import network_size, resize_inputs
from real3d.train import ToySegData
from real3d.train.data import stack_views
from real3d.train.decoder_tune import DecoderTuneConfig, cache_views, open_view_cache, tune_decoder
from real3d.train.loop import teacher_logits

ROOT = Path(__file__).resolve().parents[2]


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model("rgbd-tiny").eval()


def test_cache_holds_what_the_encoder_gives_at_the_predict_size(tmp_path):
    m, data = _model(), ToySegData(5, (64, 96))
    cache = cache_views(m, data, tmp_path / "c", batch_size=2, teacher_flip=True, teacher_scales=(1.0, 1.5))
    assert len(cache) == 5 and not list(tmp_path.glob("c.tmp*"))
    nh, nw = network_size(64, 96, m.config.infer_hw)
    assert cache.meta["network_hw"] == [nh, nw] and cache.meta["teacher"] == {"flip": True, "scales": [1.0, 1.5]}
    rgb, depth = resize_inputs(*stack_views([data[3], data[4]]), (nh, nw))
    with torch.inference_mode():
        feats = m.encode(rgb, depth)
        target = teacher_logits(m, rgb, depth, True, 1.0, (1.0, 1.5)).exp()
    for k, f in enumerate(feats):
        assert cache.feats[k].shape[1:] == f.shape[1:]
        assert torch.allclose(torch.from_numpy(np.array(cache.feats[k][3:5])).float(), f, atol=2e-2, rtol=1e-2)
    assert np.array_equal(cache.labels[3:5], torch.stack([data[3]["labels"], data[4]["labels"]]).numpy())
    t = torch.from_numpy(np.array(cache.teacher[3:5])).float()
    assert t.shape[-2:] == (nh // 2, nw // 2)
    assert torch.allclose(t, F.avg_pool2d(target, 2), atol=2e-3)
    assert torch.allclose(t.sum(1), torch.ones(()), atol=5e-3)
    again = open_view_cache(tmp_path / "c")
    assert again.meta == cache.meta and again.teacher is not None
    assert again.matches(m, "", True, (1.0, 1.5))
    assert not again.matches(m, "", True, (1.0,)) and not again.matches(m, "", False, (1.0, 1.5))
    assert not again.matches(m, "other", True, (1.0, 1.5)) and not again.matches(m, "", True, (1.0, 1.5), 4)
    assert not again.matches(_model(9), "", True, (1.0, 1.5))  # same layout, other weights


def test_the_decoder_on_cached_features_gives_the_network_output(tmp_path):
    m, data = _model(1), ToySegData(2, (64, 96))
    cache = cache_views(m, data, tmp_path / "c")
    assert cache.teacher is None and cache.meta["teacher"] is None
    nh, nw = network_size(64, 96, m.config.infer_hw)
    rgb, depth = resize_inputs(*stack_views([data[0], data[1]]), (nh, nw))
    fs = [torch.from_numpy(np.array(f)).float() for f in cache.feats]
    with torch.inference_mode():
        want = m(rgb, depth)
        c, d = m.decoder.coarse(fs)
        got = F.interpolate(m.decoder.refine(fs, c, d), size=(nh, nw), mode="bilinear", align_corners=False)
    assert (want.argmax(1) == got.argmax(1)).float().mean() > 0.99


@pytest.mark.slow
def test_tuning_trains_the_decoder_alone_and_lowers_the_loss(tmp_path):
    m, data = _model(2), ToySegData(4, (64, 96))
    cache = cache_views(m, data, tmp_path / "c", teacher_flip=True)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    cfg = DecoderTuneConfig(steps=30, batch_size=4, lr=3e-3, kd_weight=0.5, lovasz_weight=0.5)
    losses = tune_decoder(m, cache, cfg)
    assert len(losses) == 30 and np.mean(losses[-5:]) < np.mean(losses[:5])
    assert not m.training and all(p.requires_grad for p in m.parameters())
    for k, v in m.state_dict().items():
        moved = not torch.equal(v, before[k])
        if k.startswith("decoder.") and k.endswith((".weight", ".bias")):
            assert moved, k
        elif not k.startswith("decoder.") or "running" in k or "num_batches" in k:
            assert not moved, k  # encoder, fusions and BatchNorm statistics untouched


def test_bad_settings_and_caches_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="steps"):
        DecoderTuneConfig(steps=0)
    with pytest.raises(ConfigError, match="loss weights"):
        DecoderTuneConfig(ce_weight=0, kd_weight=0, lovasz_weight=0)
    with pytest.raises(ConfigError, match="lr"):
        DecoderTuneConfig(lr=float("nan"))
    m = _model()
    cache = cache_views(m, ToySegData(2, (64, 96)), tmp_path / "c")
    with pytest.raises(ConfigError, match="teacher"):
        tune_decoder(m, cache, DecoderTuneConfig(steps=1, kd_weight=1.0))
    other = build_model("rgbd-small")
    with pytest.raises(ConfigError, match="another network"):
        tune_decoder(other, cache, DecoderTuneConfig(steps=1, kd_weight=0.0))
    with pytest.raises(InputError, match="no views"):
        cache_views(m, ToySegData(2, (64, 96)), tmp_path / "d", max_views=0)
    with pytest.raises(InputError, match="no complete cache"):
        open_view_cache(tmp_path / "nothing")
    (tmp_path / "c" / "f2.npy").write_bytes(b"truncated")
    with pytest.raises(InputError, match="unreadable"):
        open_view_cache(tmp_path / "c")


@pytest.mark.parametrize("bad", [0, 3])
def test_a_failed_cache_leaves_nothing_behind(tmp_path, bad):
    m = _model()

    class Broken(ToySegData):
        def __getitem__(self, i):
            if i == bad:
                raise RuntimeError("a view that cannot be read")
            return super().__getitem__(i)

    with pytest.raises(RuntimeError):
        cache_views(m, Broken(4, (64, 96)), tmp_path / "c", batch_size=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_tool_writes_tuned_weights_with_their_card(tmp_path):
    src = tmp_path / "w.safetensors"
    torch.manual_seed(3)
    save_weights(build_model("rgbd-tiny"), src, {"metrics": {"heldout_refined": {"miou": 1.0}}})
    out = tmp_path / "tuned" / "w.safetensors"
    cmd = [
        sys.executable,
        str(ROOT / "tools" / "tune_decoder.py"),
        str(src),
        "--data",
        "synth:kind=home,size=48x64,seed=3,n=2",
        "--features",
        str(tmp_path / "f"),
        "--teacher-flip",
        "--steps",
        "3",
        "--batch-size",
        "2",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    m, before = load_model(out), load_model(src)
    entry = m.card["decoder_tune"]
    assert entry["views"] == 2 and entry["teacher"] == {"flip": True, "scales": [1.0]}
    assert entry["config"]["kd_weight"] == 1.0 and entry["config"]["steps"] == 3
    assert "metrics" not in m.card
    assert not torch.equal(m.decoder.refine_head.weight, before.decoder.refine_head.weight)
    stamp = (tmp_path / "f" / "meta.json").stat().st_mtime_ns
    same = subprocess.run(
        cmd[:-2] + ["--out", str(tmp_path / "same.safetensors")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert same.returncode == 0, same.stderr
    assert (tmp_path / "f" / "meta.json").stat().st_mtime_ns == stamp  # the stored features were used
    # a request for fewer views makes the cache again rather than reuse the larger one
    fewer = subprocess.run(
        cmd[:-2] + ["--views", "1", "--out", str(tmp_path / "one.safetensors")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert fewer.returncode == 0, fewer.stderr
    assert load_model(tmp_path / "one.safetensors").card["decoder_tune"]["views"] == 1
    assert torch.equal(m.encoder.stages[0][0].weight, before.encoder.stages[0][0].weight)
    bad = subprocess.run(
        cmd[:-2] + ["--kd-weight", "1", "--teacher-scales", "x", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert bad.returncode != 0 and "--teacher-scales" in bad.stderr
