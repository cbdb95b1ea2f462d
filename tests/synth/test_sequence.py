import numpy as np
import pytest

from real3d.core import InputError
from real3d.synth import generate_sequence


def test_same_seed_same_bytes(bank, home_seq):
    again = generate_sequence(7, 6, size=(60, 80), kind="home", noise=True, bank=bank)
    for a, b in zip(home_seq, again):
        assert a.rgb.tobytes() == b.rgb.tobytes()
        assert a.depth_m.tobytes() == b.depth_m.tobytes()
        assert np.array_equal(a.world_T_cam, b.world_T_cam)
    other = generate_sequence(8, 2, size=(60, 80), kind="home", bank=bank)
    assert other[0].rgb.tobytes() != home_seq[0].rgb.tobytes()


def test_sequence_contents(home_seq, clean_seq):
    assert len(home_seq) == 6
    f = home_seq[0]
    assert f.labels is not None and f.instances is not None and f.depth_clean_m is not None
    assert f.intrinsics.size_hw == (60, 80)
    ts = [fr.timestamp_s for fr in home_seq]
    assert np.all(np.diff(ts) > 0)
    # every instance id in an image exists in the scene's object list
    ids = {o.instance_id for o in home_seq.scene.objects}
    for fr in home_seq:
        assert set(np.unique(fr.instances)) - {0} <= ids
    # noise-free frames: depth equals clean depth
    for fr in clean_seq:
        assert np.array_equal(fr.depth_m, fr.depth_clean_m)


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_frames=0),
        dict(size=(8, 8)),
        dict(size="240x320"),
        dict(kind="garage"),
        dict(mode="fly"),
        dict(fps=0),
    ],
)
def test_bad_arguments(bank, kw):
    args = dict(seed=0, n_frames=1, size=(60, 80), kind="home", bank=bank)
    args.update(kw)
    with pytest.raises(InputError):
        generate_sequence(**args)
