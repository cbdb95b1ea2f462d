import numpy as np
import pytest
import torch

from real3d.core.errors import ConfigError
from real3d.train import AugmentConfig, ToySegData, augment, parse_synth_spec
from real3d.train.data import ScheduleDataset, StepSampler
from real3d.train.losses import class_weights_from_counts, seg_loss


def test_synth_spec_parsing():
    s = parse_synth_spec("synth:kind=mixed,size=240x320,seed=0-999")
    assert (s.kind, s.size_hw, s.seed, s.first, s.n) == ("mixed", (240, 320), 0, 0, 1000)
    s = parse_synth_spec("synth:kind=home,seed=7,n=20,noise=0")
    assert (s.seed, s.n, s.noise) == (7, 20, False)
    assert parse_synth_spec(s.to_string()) == s
    for rays in ("bvh", "torch"):
        s = parse_synth_spec(f"synth:kind=home,seed=7,n=20,rays={rays}")
        assert s.rays == rays and s.render_config().shadow_rays == rays
        assert parse_synth_spec(s.to_string()) == s
    for bad in ("synth:colour=red", "synth:size=big", "synth:seed=5-1", "synth:rays=embree"):
        with pytest.raises(ConfigError):
            parse_synth_spec(bad)


def test_augment_keeps_labels_valid_and_is_seeded():
    sample = ToySegData(1, (64, 96))[0]
    cfg = AugmentConfig()
    a = augment(sample, (48, 64), cfg, torch.Generator().manual_seed(3))
    b = augment(sample, (48, 64), cfg, torch.Generator().manual_seed(3))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["rgb"].shape == (3, 48, 64) and a["depth_m"].shape == (1, 48, 64) and a["labels"].shape == (48, 64)
    # nearest sampling: no label or depth value that was not in the input appears
    assert set(a["labels"].unique().tolist()) <= set(sample["labels"].unique().tolist()) | {0}
    assert a["rgb"].min() >= 0 and a["rgb"].max() <= 1 and a["depth_m"].min() >= 0
    plain = augment(sample, (64, 96), None, torch.Generator())
    assert torch.equal(plain["labels"], sample["labels"])
    assert torch.equal(plain["rgb"], sample["rgb"].float() / 255)


def test_schedule_is_a_pure_function_of_the_step():
    ds = ScheduleDataset(ToySegData(5), (32, 48), AugmentConfig(), seed=1)
    first = [ds[k]["labels"] for k in range(12)]
    ds2 = ScheduleDataset(ToySegData(5), (32, 48), AugmentConfig(), seed=1)
    assert all(torch.equal(ds2[k]["labels"], first[k]) for k in (11, 3, 7))
    # ranks take disjoint parts of every global batch
    r0 = list(StepSampler(2, 4, 3, rank=0, world=2))
    r1 = list(StepSampler(2, 4, 3, rank=1, world=2))
    assert r0 == [12, 13, 14, 18, 19, 20] and r1 == [15, 16, 17, 21, 22, 23]


def test_class_balanced_loss_ignores_void():
    w = class_weights_from_counts(torch.tensor([100, 10, 0, 1]))
    assert w[1] > w[0] and w[2] == w.max()
    logits = torch.zeros(1, 4, 2, 2, requires_grad=True)
    labels = torch.tensor([[[0, 0], [0, 0]]])
    assert seg_loss(logits, None, labels).item() == 0.0  # all void
    labels = torch.tensor([[[1, 0], [0, 0]]])
    loss = seg_loss(logits, None, labels)
    assert loss.item() == pytest.approx(torch.log(torch.tensor(4.0)).item(), rel=1e-5)


def test_a_cache_drawn_by_another_engine_version_is_rendered_again(tmp_path):
    import json

    import numpy as np

    from real3d.synth import engine_fingerprint
    from real3d.train.data import open_data

    fp = engine_fingerprint()
    assert len(fp) == 12 and fp == engine_fingerprint()
    spec = "synth:kind=home,size=48x64,seed=3,n=2"
    first = open_data(spec, tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["key"].endswith(f"engine={fp}")
    labels = first[1]["labels"].numpy()
    # The same spec drawn by another engine version: its arrays must not be read as current.
    meta["key"] = meta["key"].replace(fp, "0" * 12)
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    stale = np.load(tmp_path / "labels.npy", mmap_mode="r+")
    stale[:] = 0
    stale.flush()
    del stale, first
    again = open_data(spec, tmp_path)
    assert np.array_equal(again[1]["labels"].numpy(), labels)
    assert json.loads((tmp_path / "meta.json").read_text())["key"].endswith(f"engine={fp}")


def test_trajectory_spec_takes_frames_of_camera_paths():
    from real3d.synth import SyntheticStream
    from real3d.train.data import SynthData

    spec = parse_synth_spec("synth:kind=home,size=60x80,seed=2,n=6,camera=robot,traj=40,fps=4")
    assert spec.camera == "robot" and spec.traj == 40
    assert "camera=robot" in spec.to_string()
    # Views keep the spelling their caches are keyed by.
    assert "camera" not in parse_synth_spec("synth:kind=home,size=60x80,seed=2,n=6").to_string()
    data = SynthData(spec)
    a = data[5]
    assert a["rgb"].shape == (3, 60, 80) and a["depth_m"].shape == (1, 60, 80) and a["labels"].shape == (60, 80)
    # Item 5 is the second scene's frame 1 * (40 // 4) = 10, of scene seed 1,000,000 + 200,000 + 1.
    f = SyntheticStream(1_200_001, 40, (60, 80), "home", True, mode="robot")[10]
    assert torch.equal(a["labels"], torch.as_tensor(f.labels, dtype=torch.int64))
    assert torch.equal(a["rgb"], torch.as_tensor(np.moveaxis(f.rgb, -1, 0)))
    assert torch.equal(SynthData(spec)[5]["rgb"], a["rgb"])  # deterministic
    assert not torch.equal(data[4]["labels"], a["labels"])
    for bad in ("synth:camera=drone", "synth:camera=robot,fps=8,traj=4"):
        with pytest.raises(ConfigError):
            parse_synth_spec(bad)


@pytest.mark.slow
def test_joined_specs_give_both_parts_in_order_each_cached_apart(tmp_path):
    from real3d.train.data import open_data, split_data_spec

    views = "synth:kind=home,size=48x64,seed=3,n=2"
    traj = "synth:kind=home,size=48x64,seed=2,n=3,camera=robot,traj=30,fps=3"
    assert split_data_spec(f"{views}+{traj}") == [views, traj]
    # a path is one part even when it holds '+'; so is a mix with a non-synth part
    assert split_data_spec("some/dir+x") == ["some/dir+x"]
    joined = open_data(f"{views}+{traj}", tmp_path)
    assert len(joined) == 5
    a, b = open_data(views), open_data(traj)
    assert torch.equal(joined[1]["labels"], a[1]["labels"])
    assert torch.equal(joined[2]["rgb"], b[0]["rgb"])
    assert torch.equal(joined[4]["labels"], b[2]["labels"])
    assert (tmp_path / "part0" / "meta.json").is_file() and (tmp_path / "part1" / "meta.json").is_file()


def test_synth_spec_labels_key():
    from real3d.train.data import data_label_set, open_data

    s = parse_synth_spec("synth:kind=warehouse,size=48x64,seed=3,n=2,labels=warehouse")
    assert s.labels == "warehouse" and "labels=warehouse" in s.to_string()
    assert parse_synth_spec(s.to_string()) == s
    # NYUv2-13 specs keep the spelling their caches are keyed by
    plain = parse_synth_spec("synth:kind=warehouse,size=48x64,seed=3,n=2")
    assert plain.labels == "nyu13" and "labels" not in plain.to_string()
    assert (
        parse_synth_spec("synth:kind=home,labels=nyu13").to_string() == parse_synth_spec("synth:kind=home").to_string()
    )
    for bad in ("synth:labels=warehous", "synth:labels=nyu40"):
        with pytest.raises(ConfigError, match="labels"):
            parse_synth_spec(bad)
    # the model's label set fills in a spec that names none, and a spec naming another is refused
    assert data_label_set(open_data("synth:kind=warehouse,n=2", labels="warehouse")) == "warehouse"
    assert data_label_set(open_data("synth:kind=warehouse,n=2")) == "nyu13"
    assert data_label_set(open_data("synth:n=2+synth:n=3", labels="warehouse")) == "warehouse"
    with pytest.raises(ConfigError, match="gives warehouse labels, the model needs nyu13"):
        open_data("synth:kind=warehouse,n=2,labels=warehouse", labels="nyu13")
    with pytest.raises(ConfigError, match="labels"):
        open_data("synth:n=2", labels="nyu40")


@pytest.mark.slow
def test_warehouse_labels_sit_on_the_engine_labels_pixels(tmp_path):
    from real3d.core import WAREHOUSE, map_labels
    from real3d.train.data import data_label_set, open_data

    spec = "synth:kind=warehouse,size=48x64,seed=3,n=3,fps=2"
    plain = open_data(spec)
    ware = open_data(spec + ",labels=warehouse", tmp_path / "w")
    assert data_label_set(ware) == "warehouse"
    seen = set()
    for i in range(3):
        w = ware[i]["labels"].numpy()
        assert torch.equal(ware[i]["rgb"], plain[i]["rgb"])  # same frames, other labels
        assert np.array_equal(map_labels(w, "warehouse", "nyu13"), plain[i]["labels"].numpy())
        seen |= {WAREHOUSE.names[k] for k in np.unique(w)}
    assert "rack" in seen or "pillar" in seen or "pallet" in seen, seen
    # the cache is keyed by the labels: the NYUv2-13 spec does not read the warehouse arrays
    again = open_data(spec, tmp_path / "w")
    assert data_label_set(again) == "nyu13"
    assert torch.equal(again[1]["labels"], plain[1]["labels"])


def test_spec_cache_dir_names_long_joins_within_file_system_limits():
    from real3d.train.data import spec_cache_dir

    assert spec_cache_dir("c", "synth:kind=home,seed=0,n=5").name == "synth_kind-home_seed-0_n-5"
    parts = [f"synth:kind=home,size=240x320,seed={i},n=160" for i in range(10)]
    a, b = "+".join(parts), "+".join(parts[:-1] + ["synth:kind=home,size=240x320,seed=99,n=160"])
    assert len(spec_cache_dir("c", a).name) <= 120 and spec_cache_dir("c", a) != spec_cache_dir("c", b)
    assert spec_cache_dir("c", "runs/seq/one").parent == spec_cache_dir("c", "x").parent  # one level
