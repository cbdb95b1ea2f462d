"""A frame source that corrupts and health-checks the frames of another on the way through.

``CorruptedSource(source, corruptions, seed, health)`` reads like ``source`` (by index when
``source`` has ``len`` and indexing, otherwise by iteration) and gives each frame:

1. every corruption of ``corruptions`` in order (``real3d.robust.corrupt``), deterministic
   per (seed, frame index, corruption name): reading a frame twice gives the same bytes;
   depth corruptions leave a frame that has no depth as it is;
2. when ``health`` is a ``HealthConfig``, the sensor health check
   (``real3d.robust.health.check_health``) of the corrupted frame, recorded by frame index
   in ``records``; a frame whose depth fails the check is passed on without depth
   (``switch_bad_depth``), so that a pipeline segments it with its RGB-only model and does
   not fuse the bad depth.

``parse_corruption_spec("jpeg:3,depth_missing:5")`` reads the command-line form.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from real3d.core.errors import ConfigError, InputError
from real3d.core.frame import Frame
from real3d.robust.corruptions import check_corruption, check_severity, corrupt
from real3d.robust.depth import DEPTH
from real3d.robust.health import FrameHealth, HealthConfig, check_health


def parse_corruption_spec(text: str) -> tuple[tuple[str, int], ...]:
    """``"NAME:SEVERITY[,NAME:SEVERITY...]"`` -> ``((name, severity), ...)``.

    Raises:
        ConfigError: an unknown corruption name (the message lists the valid ones) or an
            item without ``:SEVERITY``.
        InputError: a severity that is not an integer in 1..5.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"--corrupt: expected NAME:SEVERITY[,NAME:SEVERITY...] such as jpeg:3, got {text!r}")
    out: list[tuple[str, int]] = []
    for item in (p.strip() for p in text.split(",")):
        name, sep, sev = item.partition(":")
        if not sep:
            raise ConfigError(f"--corrupt: expected NAME:SEVERITY such as jpeg:3, got {item!r}")
        check_corruption(name.strip())
        try:
            severity = int(sev.strip())
        except ValueError:
            raise InputError(f"--corrupt {item}: expected an integer severity in 1..5, got {sev.strip()!r}") from None
        out.append((name.strip(), check_severity(severity, f"--corrupt {item}")))
    return tuple(out)


def describe_corruptions(corruptions: Sequence[tuple[str, int]]) -> str:
    """``((jpeg, 3), (depth_missing, 5))`` -> ``"jpeg:3, depth_missing:5"``."""
    return ", ".join(f"{n}:{s}" for n, s in corruptions)


class CorruptedSource:
    """Frames of ``source`` under ``corruptions``, health-checked when ``health`` is given.

    Args:
        source: a sequence of Frames with ``len`` and indexing (read by index, and then so is
            this source) or any iterable of Frames.
        corruptions: ``(name, severity)`` pairs applied in order (may be empty).
        seed: integer >= 0 selecting the corruptions' random draws, with each frame's index.
        health: thresholds of the health check; None: no check.
        switch_bad_depth: with ``health``, pass a frame whose depth fails the check on
            without depth (``depth_m`` and ``depth_clean_m`` None).

    Attributes:
        records: frame index -> ``FrameHealth`` of every frame checked so far.

    Raises:
        ConfigError / InputError: a bad corruption name / severity, a bad seed, ``health``
            not a HealthConfig.
    """

    def __init__(
        self,
        source,
        corruptions: Sequence[tuple[str, int]] = (),
        seed: int = 0,
        health: HealthConfig | None = None,
        switch_bad_depth: bool = True,
    ) -> None:
        self.corruptions = tuple((check_corruption(n), check_severity(s)) for n, s in corruptions)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"CorruptedSource: expected an integer seed >= 0, got {seed!r}")
        if health is not None and not isinstance(health, HealthConfig):
            raise InputError(f"CorruptedSource: expected a HealthConfig or None, got {type(health).__name__}")
        self.source = source
        self.seed = seed
        self.health = health
        self.switch_bad_depth = bool(switch_bad_depth)
        self.records: dict[int, FrameHealth] = {}
        self._lock = threading.Lock()

    def __new__(cls, source, *args, **kwargs):
        # Only an indexable source makes this one indexable: a pipeline then reads it by
        # index, so that one undecodable frame is skipped rather than ending the run.
        if cls is CorruptedSource and hasattr(source, "__len__") and hasattr(source, "__getitem__"):
            cls = _IndexedCorruptedSource
        return super().__new__(cls)

    def apply(self, frame: Frame) -> Frame:
        """``frame`` corrupted, checked and (depth failing) switched to RGB only."""
        if not isinstance(frame, Frame):
            raise InputError(f"CorruptedSource: expected the source to give Frames, got {type(frame).__name__}")
        for name, severity in self.corruptions:
            if name in DEPTH and frame.depth_m is None:
                continue
            frame = corrupt(frame, name, severity, self.seed)
        if self.health is None:
            return frame
        rec = check_health(frame, self.health)
        with self._lock:
            self.records[rec.index] = rec
        if rec.flagged:
            meta = dict(frame.meta)
            meta["health"] = rec.reason
            changes: dict = {"meta": meta}
            if self.switch_bad_depth and rec.depth_flag and frame.depth_m is not None:
                changes.update(depth_m=None, depth_clean_m=None)
            frame = frame.replace(**changes)
        return frame

    def __iter__(self) -> Iterator[Frame]:
        for frame in self.source:
            yield self.apply(frame)

    def summary(self, max_listed: int | None = None) -> dict:
        """The health records so far as a JSON-ready dict: ``checked``, ``flagged`` (count),
        ``by_fault`` (count per failed check), ``depth_switched`` (frames passed on without
        depth), ``frames`` (``{"index", "reason"}`` of each flagged frame in index order, the
        first ``max_listed`` when given)."""
        with self._lock:
            recs = [self.records[k] for k in sorted(self.records)]
        flagged = [r for r in recs if r.flagged]
        by_fault = {k: sum(k in r.faults for r in recs) for k in ("depth", "exposure", "blur", "noise")}
        switched = sum(r.depth_flag and r.has_depth for r in recs) if self.switch_bad_depth else 0
        listed = flagged if max_listed is None else flagged[:max_listed]
        return {
            "checked": len(recs),
            "flagged": len(flagged),
            "by_fault": by_fault,
            "depth_switched": switched,
            "frames": [{"index": r.index, "reason": r.reason} for r in listed],
        }


class _IndexedCorruptedSource(CorruptedSource):
    """A ``CorruptedSource`` over an indexable source: also has ``len`` and indexing."""

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> Frame:
        return self.apply(self.source[i])

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self)):
            yield self[i]
