import json

import numpy as np
import pytest

from real3d.core.errors import ConfigError, FormatError, InputError
from real3d.train.active import (
    ActiveConfig,
    ActiveRun,
    RoundResult,
    check_heldout,
    pool_scene_ids,
    run_active_learning,
    run_curated_subset,
    summarise,
)
from real3d.train.data import ToySegData
from real3d.train.selection import STRATEGIES, prune_near_duplicates

POOL = ToySegData(12, (32, 64))
HELDOUT = ToySegData(3, (32, 64))


def tiny(strategy="entropy", **kw):
    return ActiveConfig(
        **{"strategy": strategy, "initial": 3, "batch": 2, "rounds": 2, "steps": 2, "batch_size": 2, **kw}
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_loop_grows_by_the_batch_and_never_picks_a_labelled_frame(strategy, tmp_path):
    run = run_active_learning(tiny(strategy, seed=3), tmp_path, pool=POOL, heldout=HELDOUT)
    assert [r.labelled for r in run.rounds] == [3, 5, 7]
    labelled = list(run.initial)
    for r in run.rounds[:-1]:
        assert len(r.picked) == 2
        assert all(0 <= i < len(POOL) for i in r.picked)
        assert not set(r.picked) & set(labelled)
        labelled += r.picked
    assert run.rounds[-1].picked == ()
    assert all(0.0 <= r.miou <= 1.0 for r in run.rounds)


def test_loop_is_deterministic_per_seed_and_reuses_trained_rounds(tmp_path):
    a = run_active_learning(tiny("coreset", seed=5), tmp_path / "a", pool=POOL, heldout=HELDOUT)
    b = run_active_learning(tiny("coreset", seed=5), tmp_path / "b", pool=POOL, heldout=HELDOUT)
    assert a.initial == b.initial
    assert [r.picked for r in a.rounds] == [r.picked for r in b.rounds]
    assert [r.miou for r in a.rounds] == [r.miou for r in b.rounds]
    other = run_active_learning(tiny("random", seed=6), tmp_path / "a", pool=POOL, heldout=HELDOUT)
    assert other.initial != a.initial
    # the same settings again in the same folder: every round is loaded, none trained
    again = run_active_learning(tiny("coreset", seed=5), tmp_path / "a", pool=POOL, heldout=HELDOUT)
    assert all(r.train_s == 0.0 for r in again.rounds)
    assert [r.picked for r in again.rounds] == [r.picked for r in a.rounds]


def test_strategies_share_the_first_round(tmp_path):
    a = run_active_learning(tiny("entropy", rounds=1), tmp_path, pool=POOL, heldout=HELDOUT)
    b = run_active_learning(tiny("margin", rounds=1), tmp_path, pool=POOL, heldout=HELDOUT)
    assert a.initial == b.initial and a.rounds[0].miou == b.rounds[0].miou
    assert b.rounds[0].train_s == 0.0


def test_scene_selection_takes_whole_scenes(tmp_path):
    scenes = np.repeat(np.arange(6), 2)  # 6 scenes of 2 frames
    run = run_active_learning(
        tiny("entropy", unit="scene", initial=2, batch=3), tmp_path, pool=POOL, heldout=HELDOUT, scene_ids=scenes
    )
    labelled = list(run.initial)
    assert len({int(scenes[i]) for i in labelled}) == 1
    for r in run.rounds[:-1]:
        got = {int(scenes[i]) for i in r.picked}
        assert len(r.picked) == 4 and len(got) == 2  # two whole scenes reach >= 3 frames
        assert not set(r.picked) & set(labelled)
        labelled += r.picked


def test_heldout_must_not_share_scenes_with_the_pool():
    check_heldout("synth:kind=home,size=32x64,seed=1,n=32", "synth:kind=home,size=32x64,seed=2,n=32")
    check_heldout("synth:kind=home,size=32x64,seed=1,n=32", "synth:kind=home,size=32x64,seed=1,first=32,n=16")
    with pytest.raises(ConfigError, match="shares scenes"):
        check_heldout("synth:kind=home,size=32x64,seed=1,n=32", "synth:kind=home,size=32x64,seed=1,first=20,n=16")
    with pytest.raises(ConfigError, match="shares scenes"):  # item 30 and 33 are both scene 2 (fps 16)
        check_heldout("synth:kind=home,size=32x64,seed=1,n=33", "synth:kind=home,size=32x64,seed=1,first=33,n=4")
    with pytest.raises(ConfigError):
        run_active_learning(
            ActiveConfig(pool="synth:size=32x64,seed=1,n=8", heldout="synth:size=32x64,seed=1,n=4"), "unused"
        )


def test_pool_scene_ids_follow_the_spec():
    assert pool_scene_ids("synth:kind=home,seed=1,n=6,fps=2", 6).tolist() == [0, 0, 1, 1, 2, 2]
    assert pool_scene_ids("synth:seed=1,first=3,n=4,fps=2", 4).tolist() == [0, 1, 1, 2]
    joined = pool_scene_ids("synth:seed=1,n=2,fps=2+synth:seed=2,n=2,fps=1", 4)
    assert joined.tolist() == [0, 0, 1, 2]
    with pytest.raises(ConfigError):
        pool_scene_ids("some/recording", 4)
    with pytest.raises(ConfigError):
        pool_scene_ids("synth:seed=1,n=6", 5)


def test_bad_loop_input(tmp_path):
    with pytest.raises(ConfigError, match="valid"):
        ActiveConfig(strategy="loss")
    with pytest.raises(ConfigError):
        ActiveConfig(unit="room")
    for field in ("initial", "batch", "steps"):
        with pytest.raises(ConfigError):
            ActiveConfig(**{field: 0})
    with pytest.raises(ConfigError):
        ActiveConfig(preset="no-such")
    with pytest.raises(InputError, match="initial"):
        run_active_learning(tiny(initial=13), tmp_path, pool=POOL, heldout=HELDOUT)
    with pytest.raises(InputError, match="multiples of 32"):
        run_active_learning(tiny(), tmp_path, pool=ToySegData(6, (48, 64)), heldout=HELDOUT)
    with pytest.raises(InputError, match="scene_ids"):
        run_active_learning(tiny(unit="scene"), tmp_path, pool=POOL, heldout=HELDOUT, scene_ids=[0, 1])


def test_prune_near_duplicates_drops_the_more_redundant_twin():
    emb = np.array([[0.0], [0.01], [5.0], [10.0]])
    # 0 and 1 are twins; 1 is nearer to 2 than 0 is, so 1 goes
    assert prune_near_duplicates(emb, 3) == [0, 2, 3]
    assert prune_near_duplicates(emb, 2) == [0, 3]
    assert prune_near_duplicates(emb, 4) == [0, 1, 2, 3]
    dup = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    kept = prune_near_duplicates(dup, 2)
    assert 1 in kept and len(kept) == 2


def test_prune_near_duplicates_bad_input():
    for keep in (0, 5, True, 1.5):
        with pytest.raises(InputError):
            prune_near_duplicates(np.zeros((4, 2)), keep)
    with pytest.raises(InputError):
        prune_near_duplicates(np.array([[np.nan, 0.0]]), 1)
    with pytest.raises(InputError):
        prune_near_duplicates(np.zeros(4), 1)


def test_curated_subset_trains_three_sets_of_the_right_size(tmp_path):
    out = run_curated_subset(tiny(), tmp_path, 0.75, pool=POOL, heldout=HELDOUT)
    assert out["full"]["frames"] == 12 and out["curated"]["frames"] == 9 and out["random"]["frames"] == 9
    assert len(out["curated"]["removed"]) == 3
    assert all(0 <= out[k]["miou"] <= 100 for k in ("full", "curated", "random"))
    with pytest.raises(InputError):
        run_curated_subset(tiny(), tmp_path, 1.0, pool=POOL, heldout=HELDOUT)


def _run(strategy, seed, mious, unit="frame"):
    rounds = tuple(RoundResult(10 * (k + 1), m, (m,), (), 0.0, 0.0) for k, m in enumerate(mious))
    return ActiveRun(strategy, unit, seed, (), rounds)


def test_summarise_means_spread_and_where_the_full_pool_is_reached():
    runs = [
        _run("random", 0, [0.10, 0.20, 0.30]),
        _run("random", 1, [0.20, 0.30, 0.40]),
        _run("entropy", 0, [0.10, 0.40, 0.50]),
        _run("entropy", 1, [0.10, 0.30, 0.50], unit="scene"),
    ]
    s = summarise(runs, [{"labelled": 100, "miou": 40.0}, {"labelled": 100, "miou": 30.0}])
    r = s["curves"]["random"]
    assert r["labelled"] == [10, 20, 30] and r["miou_mean"] == [15.0, 25.0, 35.0]
    assert r["miou_min"] == [10.0, 20.0, 30.0] and r["miou_max"] == [20.0, 30.0, 40.0]
    assert r["reaches_full_pool_at"] == 30  # mean full pool 35
    assert s["curves"]["entropy"]["reaches_full_pool_at"] == 20
    assert s["curves"]["entropy:scene"]["seeds"] == [1]
    assert s["full_pool_miou"] == 35.0 and s["full_pool_frames"] == 100
    assert summarise(runs)["curves"]["random"]["reaches_full_pool_at"] is None


def test_a_run_round_trips_through_its_dict():
    run = ActiveRun("coreset", "scene", 2, (4, 5), (RoundResult(2, 0.12345, (0.5, np.nan), (7, 8), 1.0, 0.5),))
    back = ActiveRun.from_dict(json.loads(json.dumps(run.to_dict())))
    assert (back.strategy, back.unit, back.seed, back.initial) == ("coreset", "scene", 2, (4, 5))
    r = back.rounds[0]
    assert r.labelled == 2 and r.picked == (7, 8) and r.miou == pytest.approx(0.1235)
    assert r.iou[0] == 0.5 and np.isnan(r.iou[1])
    with pytest.raises(FormatError):
        ActiveRun.from_dict({"strategy": "random"})
