import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from real3d.core import InputError
from real3d.synth import SynthDataset


def test_items_and_determinism():
    ds = SynthDataset(6, size_hw=(48, 64), kind="mixed", seed=3, frames_per_scene=3)
    item = ds[4]
    assert item["rgb"].shape == (3, 48, 64) and item["rgb"].dtype == torch.uint8
    assert item["depth_m"].shape == (1, 48, 64) and item["depth_m"].dtype == torch.float32
    assert item["labels"].dtype == torch.int64 and int(item["labels"].max()) <= 13
    # out-of-order access gives the same bytes as a fresh dataset
    fresh = SynthDataset(6, size_hw=(48, 64), kind="mixed", seed=3, frames_per_scene=3)
    fresh[0]
    again = fresh[4]
    assert torch.equal(item["rgb"], again["rgb"]) and torch.equal(item["depth_m"], again["depth_m"])
    assert ds.scene_for(0) != SynthDataset(6, seed=4, frames_per_scene=3).scene_for(0)


def test_dataloader_workers_match_main_process():
    ds = SynthDataset(4, size_hw=(32, 48), kind="home", seed=1, frames_per_scene=2)
    main = [ds[i]["rgb"] for i in range(4)]
    loader = DataLoader(ds, batch_size=2, num_workers=2)
    got = torch.cat([b["rgb"] for b in loader])
    assert torch.equal(torch.stack(main), got)


def test_bad_arguments():
    with pytest.raises(InputError):
        SynthDataset(0)
    with pytest.raises(InputError):
        SynthDataset(4, kind="garden")
    with pytest.raises(IndexError):
        SynthDataset(2, size_hw=(32, 32)).frame(5)
    assert np.isfinite(SynthDataset(1, size_hw=(32, 32))[0]["depth_m"].numpy()).all()


def test_worker_batches_deal_whole_scenes_to_workers():
    ds = SynthDataset(29, size_hw=(32, 48), kind="mixed", seed=2, frames_per_scene=4)  # 8 scenes, last short
    for workers in (0, 1, 2, 3):
        batches = ds.worker_batches(3, workers)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(29))  # every index once
        assert all(1 <= len(b) <= 3 for b in batches)
        n = max(1, workers)
        # Batch k goes to worker k % n: each scene's frames must all land on one worker
        # (up to the tail, where the workers' shares run out unevenly).
        scenes_of = [set() for _ in range(n)]
        full_rounds = len(batches) - len(batches) % n - n
        for k, b in enumerate(batches[: max(full_rounds, 0)]):
            scenes_of[k % n] |= {i // 4 for i in b}
        for a in range(n):
            for c in range(a + 1, n):
                assert not scenes_of[a] & scenes_of[c]
    assert ds.worker_batches(3, 2, seed=1) == ds.worker_batches(3, 2, seed=1)
    with pytest.raises(InputError):
        ds.worker_batches(0, 2)
    # Items do not depend on the order: a loader over the dealt batches gives the same frames.
    small = SynthDataset(6, size_hw=(32, 48), kind="home", seed=1, frames_per_scene=2)
    order = small.worker_batches(2, 2)
    loader = DataLoader(small, batch_sampler=order, num_workers=2)
    for b, idx in zip(loader, order):
        assert torch.equal(b["rgb"], torch.stack([small[i]["rgb"] for i in idx]))
