from types import SimpleNamespace

import numpy as np

from real3d.eval.recorder import RunRecorder


def _result(i, status="fused", labels=None, latency=None):
    return SimpleNamespace(
        index=i, status=status, latency_ms=latency or {"segment": 1.0, "total": 2.0}, map_voxels=10 * i, labels=labels
    )


def _frame(labels):
    h, w = labels.shape
    return SimpleNamespace(labels=labels, rgb=np.zeros((h, w, 3), np.uint8), depth_clean_m=None, world_T_cam=np.eye(4))


def test_recorder_keeps_bounded_summaries():
    rec = RunRecorder(expected_frames=10, n_samples=3, rss_every=4)
    gt = np.array([[1, 2], [3, 0]], np.uint8)
    for i in range(10):
        lat = {"segment": 1.0, "total": 2.0} if i != 4 else {"segment": 1.0, "total": 2.0, "graph": 5.0}
        rec.on_result(_result(i, labels=gt.copy(), latency=lat), _frame(gt))
    assert rec.index == list(range(10)) and rec.map_voxels[-1] == 90
    # the void pixel is not counted: 3 labelled pixels per frame, all right
    assert rec.confusion.sum() == 30 and np.trace(rec.confusion) == 30
    assert [s["index"] for s in rec.samples] == [0, 4, 9]
    assert [k for k, _ in rec.rss] == [0, 4, 8]
    lat = rec.latency_arrays()
    assert lat["segment"].shape == (10,) and np.isnan(lat["graph"]).sum() == 9 and lat["graph"][4] == 5.0
    assert rec.position == list(range(10)) and rec.row_stride == 1


def test_frames_without_labels_only_count():
    rec = RunRecorder()
    rec.on_result(_result(0, status="skipped"), None)
    assert rec.status == ["skipped"] and rec.confusion is None and rec.samples == []


def test_recorder_rows_stay_bounded_over_a_long_run():
    rec = RunRecorder(max_rows=100, rss_every=1)
    for i in range(1000):
        rec.on_result(_result(i, latency={"segment": float(i), "total": 1.0}), None)
    assert rec.frames_seen == 1000
    assert 50 <= len(rec.position) < 100 and rec.row_stride == 16
    assert len(rec.index) == len(rec.status) == len(rec.map_voxels) == len(rec.position)
    lat = rec.latency_arrays()
    assert lat["segment"].shape == (len(rec.position),)
    assert np.array_equal(lat["segment"], np.asarray(rec.position, float))  # rows stay aligned
    assert np.all(np.diff(rec.position) == 16) and rec.position[0] == 0
    assert 10 <= len(rec.rss) < 20 and rec.rss[-1][0] > 900


def test_recorder_refuses_bad_settings():
    import pytest

    from real3d.core.errors import InputError

    for kw in ({"max_rows": 10}, {"max_rows": True}, {"rss_every": 0}):
        with pytest.raises(InputError):
            RunRecorder(**kw)


def test_seen_objects_count_depth_pixels_of_fused_frames_only():
    labels = np.ones((30, 30), np.uint8)
    inst = np.zeros((30, 30), np.int32)
    inst[:20, :20] = 1  # 400 pixels, 300 of them with depth
    inst[25:, 25:] = 2  # 25 pixels
    inst[:, 20:22] = 3  # 60 pixels, never with depth
    depth = np.ones((30, 30), np.float32)
    depth[:5, :20] = 0.0
    depth[:, 20:22] = 0.0

    def frame():
        f = _frame(labels)
        f.instances, f.depth_m = inst, depth
        return f

    rec = RunRecorder()
    assert rec.seen_instances() is None  # nothing says which objects were seen
    rec.on_result(_result(0, labels=labels), frame())
    assert rec.instance_pixels == {1: 300, 2: 25}
    assert rec.seen_instances() == set() and rec.seen_instances(min_pixels=100) == {1}
    rec.on_result(_result(1, status="rgb_only", labels=labels), frame())  # not fused: not in the map
    assert rec.instance_pixels == {1: 300, 2: 25}
    rec.on_result(_result(2, labels=labels), frame())
    assert rec.seen_instances() == {1} and rec.seen_instances(min_pixels=50) == {1, 2}
    # frames without instance images say nothing
    plain = RunRecorder()
    plain.on_result(_result(0, labels=labels), _frame(labels))
    assert plain.seen_instances() is None
