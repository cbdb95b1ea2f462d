import numpy as np
import pytest

from real3d.core.errors import InputError
from real3d.robust import RobustnessTable, corruption_error, mean_ce, mean_rr, resilience

# Hand-computed example. Model A (clean 0.80) and reference B (clean 0.85) at severities 3, 5:
#   jpeg:  A 0.70, 0.50   B 0.60, 0.40
#   noise: A 0.75, 0.65   B 0.80, 0.70
# CE_jpeg  = (0.30 + 0.50) / (0.40 + 0.60) = 0.8
# CE_noise = (0.25 + 0.35) / (0.20 + 0.30) = 1.2          mCE = 1.0
# RR_jpeg  = (0.70 + 0.50) / 2 / 0.80 = 0.75
# RR_noise = (0.75 + 0.65) / 2 / 0.80 = 0.875             mRR = 0.8125
A = {"jpeg": {3: 0.70, 5: 0.50}, "noise": {3: 0.75, 5: 0.65}}
B = {"jpeg": {3: 0.60, 5: 0.40}, "noise": {3: 0.80, 5: 0.70}}


def test_against_the_hand_computed_example():
    assert corruption_error(A["jpeg"], B["jpeg"]) == pytest.approx(0.8)
    assert corruption_error(A["noise"], B["noise"]) == pytest.approx(1.2)
    assert mean_ce(A, B) == pytest.approx(1.0)
    assert resilience(A["jpeg"], 0.80) == pytest.approx(0.75)
    assert resilience(A["noise"], 0.80) == pytest.approx(0.875)
    assert mean_rr(A, 0.80) == pytest.approx(0.8125)
    # against itself every CE is 1
    assert mean_ce(B, B) == pytest.approx(1.0)


def test_the_table_gives_the_same_figures():
    a = RobustnessTable("A", "miou", 0.80, A, frames=4)
    b = RobustnessTable("B", "miou", 0.85, B, frames=4)
    assert a.corruption_error(b) == pytest.approx({"jpeg": 0.8, "noise": 1.2})
    assert a.mce(b) == pytest.approx(1.0) and a.mrr() == pytest.approx(0.8125)
    d = a.to_dict(b)
    assert d["clean"] == pytest.approx(80.0) and d["scores"]["jpeg"]["5"] == pytest.approx(50.0)
    assert d["rr"] == pytest.approx({"jpeg": 75.0, "noise": 87.5})
    assert d["mrr"] == pytest.approx(81.25) and d["mce"] == pytest.approx(1.0) and d["reference"] == "B"
    # scores on other frames or by another metric are not comparable
    with pytest.raises(InputError, match="not comparable"):
        a.mce(RobustnessTable("C", "agreement", 1.0, B, frames=4))
    with pytest.raises(InputError, match="not comparable"):
        a.mce(RobustnessTable("C", "miou", 0.85, B, frames=5))


def test_undefined_ratios_are_none_in_the_table():
    perfect = {"jpeg": {3: 1.0, 5: 1.0}, "noise": {3: 1.0, 5: 1.0}}
    d = RobustnessTable("Z", "miou", 0.0, A, frames=4).to_dict(RobustnessTable("P", "miou", 1.0, perfect, frames=4))
    assert d["mrr"] is None and d["rr"]["jpeg"] is None
    assert d["ce"] == {"jpeg": None, "noise": None} and d["mce"] is None


def test_bad_inputs_raise():
    with pytest.raises(InputError, match="same severities"):
        corruption_error({3: 0.5}, {5: 0.5})
    with pytest.raises(InputError, match="undefined"):
        corruption_error({3: 0.5}, {3: 1.0})
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        corruption_error({3: 50.0}, {3: 0.5})
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        resilience({3: np.nan}, 0.5)
    with pytest.raises(InputError, match="clean score is 0"):
        resilience({3: 0.5}, 0.0)
    with pytest.raises(InputError, match="missing"):
        mean_ce(A, {"jpeg": B["jpeg"]})
    with pytest.raises(InputError, match="none"):
        mean_rr({}, 0.5)
