import numpy as np
import pytest

from real3d.core.errors import ConfigError, InputError
from real3d.core.segmentation import SegmentationResult
from real3d.train.selection import STRATEGIES, FrameStats, frame_stats, select


def _stats(entropy=0.5, margin=0.5, confidence=0.5, share=(0.5, 0.5), embedding=None):
    return FrameStats(
        entropy,
        margin,
        confidence,
        np.asarray(share, float),
        None if embedding is None else np.asarray(embedding, float),
    )


def test_uncertainty_strategies_pick_the_expected_frame():
    pool = [_stats(0.1, 0.9, 0.95), _stats(0.8, 0.6, 0.7), _stats(0.3, 0.1, 0.5)]
    assert select(pool, 1, "entropy") == [1]
    assert select(pool, 1, "margin") == [2]
    assert select(pool, 1, "confidence") == [2]
    assert select(pool, 2, "entropy") == [1, 2]


def test_class_balanced_prefers_what_the_labelled_set_lacks():
    pool = [_stats(share=(1.0, 0.0, 0.0)), _stats(share=(0.0, 0.0, 1.0)), _stats(share=(0.0, 1.0, 0.0))]
    labelled = np.array([1000, 500, 0])  # class 3 never labelled
    assert select(pool, 1, "class_balanced", labelled_class_pixels=labelled) == [1]
    with pytest.raises(InputError):
        select(pool, 1, "class_balanced", labelled_class_pixels=np.array([1, 2]))


def test_coreset_covers_the_pool_away_from_the_labelled_set():
    emb = [(0.0, 0.0), (0.1, 0.0), (10.0, 0.0), (5.0, 5.0)]
    pool = [_stats(embedding=e) for e in emb]
    # labelled near the origin: the farthest frame first, then the one farthest from both
    assert select(pool, 2, "coreset", labelled_embeddings=np.array([[0.0, 0.0]])) == [2, 3]
    with pytest.raises(InputError):
        select(pool, 1, "coreset", labelled_embeddings=np.zeros((1, 3)))


def test_random_is_deterministic_per_seed_and_scenes_are_taken_whole():
    pool = [_stats(entropy=e) for e in (0.1, 0.2, 0.9, 0.8, 0.3)]
    assert select(pool, 3, "random", seed=1) == select(pool, 3, "random", seed=1)
    assert sorted(select(pool, 5, "random")) == [0, 1, 2, 3, 4]
    scenes = [0, 0, 1, 1, 2]
    assert select(pool, 1, "entropy", scene_ids=scenes) == [2, 3]  # scene 1: mean 0.85
    assert select(pool, 3, "entropy", scene_ids=scenes) == [2, 3, 4]


def test_frame_stats_from_a_prediction():
    p = np.zeros((4, 2, 2), np.float32)
    p[1] = 1.0
    p[:, 1, 1] = [0.0, 0.2, 0.3, 0.5]
    r = SegmentationResult(labels=(p[1:].argmax(0) + 1).astype(np.uint8), probs=p)
    s = frame_stats(r)
    assert s.class_share.tolist() == [0.75, 0.0, 0.25]
    assert s.confidence == pytest.approx((3 * 1.0 + 0.5) / 4)
    assert s.margin == pytest.approx((3 * 1.0 + 0.2) / 4)
    assert 0 < s.entropy < 1
    softer = frame_stats(r, temperature=2.0)
    assert softer.entropy > s.entropy
    with pytest.raises(InputError):
        frame_stats(p)
    with pytest.raises(InputError):
        frame_stats(r, embedding=np.array([np.nan]))


def test_bad_selection_input():
    pool = [_stats()]
    assert "random" in STRATEGIES
    with pytest.raises(ConfigError):
        select(pool, 1, "loss")
    for k in (0, True, 1.5):
        with pytest.raises(InputError):
            select(pool, k)
    with pytest.raises(InputError):
        select([], 1)
    with pytest.raises(InputError):
        select(pool, 1, scene_ids=[0, 1])
