from types import SimpleNamespace

import torch

from real3d.eval.timing import median_ms, random_inputs


def test_median_ms_counts_only_the_timed_calls():
    calls = []
    ms = median_ms(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and 0.0 <= ms < 100.0


def test_random_inputs_follow_the_config_and_the_seed():
    cfg = SimpleNamespace(uses_rgb=True, uses_depth=True)
    rgb, depth = random_inputs(cfg, (8, 12))
    assert rgb.shape == (1, 3, 8, 12) and depth.shape == (1, 1, 8, 12)
    assert 0.0 <= float(rgb.min()) and float(rgb.max()) <= 1.0
    assert 0.5 <= float(depth.min()) and float(depth.max()) <= 5.5
    again, _ = random_inputs(cfg, (8, 12))
    assert torch.equal(rgb, again)
    rgb_only = random_inputs(SimpleNamespace(uses_rgb=True, uses_depth=False), (8, 12))
    assert rgb_only[1] is None and torch.equal(rgb_only[0], rgb)
