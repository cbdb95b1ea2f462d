import numpy as np
import pytest

from real3d.testing.fusion import fuse_sequence, fused_home, fused_home_tag


@pytest.fixture(scope="module")
def seq():
    from real3d.synth import generate_sequence

    return generate_sequence(3, 12, size=(60, 80), kind="home", noise=False)


def test_fuse_sequence_updates_the_graph_every_ten_frames(seq):
    m, g, fuse_ms, graph_ms = fuse_sequence(seq, stride=2)
    assert len(fuse_ms) == 12 and len(graph_ms) == 2  # after frames 10 and 12
    assert len(m) > 0 and np.isfinite(g.floor_z_m)


def test_fuse_sequence_with_a_model_fuses_its_probabilities(seq):
    class Uniform:  # a "network" that says floor everywhere
        def predict(self, f):
            h, w = f.size_hw
            probs = np.zeros((14, h, w), np.float32)
            probs[5] = 1.0
            return type("R", (), {"probs": probs})()

    calls = []
    model = Uniform()
    model.predict = lambda f, p=model.predict: calls.append(f) or p(f)
    m, _, fuse_ms, graph_ms = fuse_sequence(list(seq)[:3], stride=2, model=model)
    assert len(calls) == 3 and len(fuse_ms) == 3 and len(graph_ms) == 1 and len(m) > 0


def test_fused_home_is_kept_and_read_back(tmp_path):
    m, extra = fused_home(2, tmp_path, 2)
    tag = fused_home_tag(2, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{tag}_map.npz", f"{tag}_scene.pkl"]
    assert set(extra) == {"scene", "objects", "floor_z"}
    m2, extra2 = fused_home(2, tmp_path, 2)
    assert len(m2) == len(m) and extra2["floor_z"] == extra["floor_z"]
    assert fused_home_tag(2, 2, "runs/x/my model.safetensors").endswith("_my_model")
