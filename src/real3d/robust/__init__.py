"""Robustness to sensor corruption: corruptions of a Frame's colour, depth and geometry at
five severities (``corrupt``, ``CORRUPTIONS``), the robustness metrics of the literature
(corruption error, mCE, resilience, mRR), a runner that scores a model under them
(``evaluate_robustness``), a per-frame sensor health check (``check_health``) and a frame
source that corrupts and checks another's frames (``CorruptedSource``). docs/robustness.md
describes them and the measured figures.
"""

from real3d.robust.corruptions import CORRUPTIONS, GROUPS, SEVERITIES, corrupt, parse_corruptions
from real3d.robust.health import FrameHealth, HealthConfig, check_health
from real3d.robust.metrics import RobustnessTable, corruption_error, mean_ce, mean_rr, resilience
from real3d.robust.runner import evaluate_robustness
from real3d.robust.source import CorruptedSource, parse_corruption_spec

__all__ = [
    "CORRUPTIONS",
    "GROUPS",
    "SEVERITIES",
    "CorruptedSource",
    "FrameHealth",
    "HealthConfig",
    "RobustnessTable",
    "check_health",
    "corrupt",
    "corruption_error",
    "evaluate_robustness",
    "mean_ce",
    "mean_rr",
    "parse_corruption_spec",
    "parse_corruptions",
    "resilience",
]
