"""``Pipeline.run``: the stages of ``real3d.pipeline.runner.Pipeline`` overlapping in threads.

A reader thread takes frames from the source (replaying them at their own rate in
``"realtime"`` mode, capping timestamp gaps at ``max_gap_s``), a segmentation thread runs
the network, and the calling thread fuses, refreshes the graph and costmap and reports
every frame in stream order. The modes, the overload policies and the stop event are
described in ``real3d.pipeline.runner``. This half lives apart from the per-frame stages
only to keep each file readable: ``StreamRunner`` is a base class of ``Pipeline`` and uses
its stages (``_check``, ``_segment``, ``_fuse``, ``_result``) and state.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from real3d.core.frame import Frame
from real3d.pipeline.config import STAGES
from real3d.pipeline.results import MAX_FRAMES_LISTED, MAX_GAPS_LISTED, RunSummary, StepResult, ThinnedRows
from real3d.pipeline.source import _Item, _iterate, _pose_delta, _ReadError

_END = object()  # the source has no more frames


class StreamRunner:
    """The streaming half of ``Pipeline`` (``run`` and its queue policies)."""

    def run(
        self,
        source: Sequence[Frame] | Iterable[Frame],
        on_result: Callable[[StepResult, Frame | None], None] | None = None,
        max_frames: int | None = None,
        stop: threading.Event | None = None,
    ) -> RunSummary:
        """Stream ``source`` through the pipeline with overlapping stages.

        Args:
            source: a sequence with ``len`` and indexing (e.g. ``real3d.io`` sequences: a
                frame whose decoding fails is skipped with the reader's message) or any
                iterable of Frames.
            on_result: called in stream order as ``on_result(result, frame)`` for every
                frame, dropped and skipped ones included (``frame`` None when the source
                could not deliver it). Runs on the calling thread.
            max_frames: stop after taking this many items from the source.
            stop: set it (from any thread, a signal handler or ``on_result``) to end the run
                early: no further frame is taken from the source (a realtime wait ends at
                once), frames waiting for segmentation are reported ``"dropped"`` ("run
                stopped"), the frame being segmented and those already segmented are
                finished, and ``run`` returns with ``summary.stopped`` set.

        Returns:
            RunSummary. The map, graph and costmap stay on the pipeline; a background
            refresh still running when the source ends is waited for and put in place.
        """
        cfg = self.config
        summary = RunSummary(mode=cfg.mode, overload_policy=cfg.overload_policy)
        waits0, errors0 = self.refresh_waits, self.refresh_errors
        self._refresh_sink = {k: [] for k in self.refresh_ms}
        lat = ThinnedRows((*STAGES, "total"))
        shutdown = threading.Event()  # set when run ends, for whatever reason
        external = stop if stop is not None else threading.Event()

        def stopping() -> bool:
            return shutdown.is_set() or external.is_set()

        errors: list[BaseException] = []
        q_in: deque = deque()
        cv = threading.Condition()
        q_fuse: queue.Queue = queue.Queue(maxsize=cfg.queue_size)
        done_reading = threading.Event()
        order_out: queue.Queue = queue.Queue()  # dropped frames, from the source thread

        def wait(seconds: float) -> None:
            # In short slices: a stop (which wakes the wait at once) or the end of the run
            # is seen within 50 ms.
            end = time.perf_counter() + seconds
            while not stopping():
                left = end - time.perf_counter()
                if left <= 0:
                    return
                external.wait(min(left, 0.05))

        def produce():
            try:
                t_start = time.perf_counter()
                t0_frame = prev_ts = None
                skipped_s = 0.0  # replay time left out at gaps longer than max_gap_s
                frames = _iterate(source, max_frames)
                for k in itertools.count():
                    if stopping():
                        summary.stopped = external.is_set()
                        break
                    obj = next(frames, _END)
                    if obj is _END:
                        break
                    f = obj if not isinstance(obj, _ReadError) else None
                    if cfg.mode == "realtime" and f is not None:
                        # Replay at the source's rate: wait until the frame's capture time.
                        ts = self._replay_time(f, k, prev_ts)
                        if t0_frame is None:
                            t0_frame = ts
                        elif ts - prev_ts > cfg.max_gap_s:
                            skipped_s += ts - prev_ts - cfg.max_gap_s
                            summary.n_gaps += 1
                            if len(summary.gaps) < MAX_GAPS_LISTED:
                                summary.gaps.append((k, ts - prev_ts))
                        prev_ts = ts
                        delay = (ts - t0_frame - skipped_s) - (time.perf_counter() - t_start)
                        if delay > 0:
                            wait(delay)
                        if stopping():
                            summary.stopped = external.is_set()
                            break
                    item = _Item(k, obj, time.perf_counter())
                    with cv:
                        if cfg.mode == "offline":
                            while len(q_in) >= cfg.queue_size and not stopping():
                                cv.wait(0.1)
                            if stopping():
                                summary.stopped = external.is_set()
                                break
                            q_in.append(item)
                        else:
                            self._admit(q_in, item, order_out)
                        cv.notify_all()
                    summary.frames_in += 1
            except BaseException as e:  # surfaced on the calling thread
                errors.append(e)
            finally:
                done_reading.set()
                with cv:
                    cv.notify_all()

        def segment_worker():
            try:
                while not shutdown.is_set():
                    with cv:
                        while not q_in and not done_reading.is_set():
                            cv.wait(0.1)
                        if not q_in:
                            break
                        item = q_in.popleft()
                        cv.notify_all()
                    if external.is_set():
                        # Stopped: what still waits is reported, not processed.
                        item.status, item.reason = "dropped", "run stopped"
                        summary.stopped = True
                        q_fuse.put(item)
                        continue
                    if cfg.mode == "offline":
                        # Offline, the source is read ahead on purpose: latency counts from
                        # when the frame's processing starts, not from the read-ahead.
                        item.t_in = time.perf_counter()
                    if isinstance(item.frame, _ReadError):
                        item.status, item.reason, item.frame = "skipped", item.frame.reason, None
                    elif self._check(item):
                        self._segment(item)
                    q_fuse.put(item)
            except BaseException as e:
                errors.append(e)
            finally:
                q_fuse.put(None)

        t_run = time.perf_counter()
        threads = [
            threading.Thread(target=produce, name="real3d-source", daemon=True),
            threading.Thread(target=segment_worker, name="real3d-segment", daemon=True),
        ]
        for t in threads:
            t.start()
        # Dropped frames are reported by the source thread as they happen, processed ones
        # after fusion: results wait here until every earlier index has its result.
        pending: dict = {}
        next_index = 0

        def settle(it: _Item) -> None:
            nonlocal next_index
            pending[it.index] = (self._result(it, time.perf_counter()), it.frame)
            while next_index in pending:
                self._emit(*pending.pop(next_index), summary, lat, on_result)
                next_index += 1

        try:
            while True:
                while True:
                    try:
                        settle(order_out.get_nowait())
                    except queue.Empty:
                        break
                item = q_fuse.get()
                if item is None:
                    break
                if item.status in ("fused", "rgb_only"):
                    self._fuse(item, defer=cfg.mode == "realtime" and not q_fuse.empty())
                settle(item)
            while not order_out.empty():
                settle(order_out.get_nowait())
            for k in sorted(pending):  # only reached if the source skipped indices
                self._emit(*pending.pop(k), summary, lat, on_result)
            self._finish_refresh()
        finally:
            shutdown.set()
            with cv:
                cv.notify_all()
            # Unblock a worker waiting on a full fuse queue.
            while any(t.is_alive() for t in threads):
                try:
                    q_fuse.get(timeout=0.05)
                except queue.Empty:
                    pass
            for t in threads:
                t.join()
            summary.refresh_ms = {k: np.asarray(v, np.float64) for k, v in self._refresh_sink.items()}
            summary.refresh_waits = self.refresh_waits - waits0
            summary.refresh_errors = self.refresh_errors - errors0
            self._refresh_sink = None
        summary.wall_s = time.perf_counter() - t_run
        summary.latency_ms = lat.arrays()
        summary.latency_stride = lat.stride
        if errors:
            raise errors[0]
        return summary

    def _replay_time(self, f: Frame, k: int, prev: float | None) -> float:
        """Replay time (seconds) of the ``k``-th item: ``k / source_fps``, else the frame's
        timestamp; 1/30 s after the previous one (``prev``) when the timestamps do not
        increase or are not finite."""
        cfg = self.config
        if cfg.source_fps is not None:
            return k / cfg.source_fps
        ts = float(f.timestamp_s)
        if prev is None:
            return ts if np.isfinite(ts) else 0.0
        if not np.isfinite(ts) or ts <= prev:
            return prev + 1 / 30.0
        return ts

    def _admit(self, q_in: deque, item: _Item, dropped_out: queue.Queue) -> None:
        """Realtime admission into the bounded input queue (caller holds the lock)."""
        cfg = self.config
        full = len(q_in) >= cfg.queue_size
        if cfg.overload_policy == "drop":
            if full:
                old = q_in.popleft()
                old.status, old.reason = "dropped", "input queue full (drop oldest)"
                dropped_out.put(old)
            q_in.append(item)
            return
        f = item.frame
        is_key = True
        if isinstance(f, Frame) and f.world_T_cam is not None and self._last_key_pose is not None:
            t, r = _pose_delta(self._last_key_pose, f.world_T_cam)
            is_key = t >= cfg.keyframe_translation_m or r >= cfg.keyframe_rotation_deg
        if full and not is_key:
            item.status, item.reason = "dropped", "input queue full and not a keyframe"
            dropped_out.put(item)
            return
        if full:
            old = q_in.popleft()
            old.status, old.reason = "dropped", "input queue full (evicted by a keyframe)"
            dropped_out.put(old)
        if isinstance(f, Frame) and f.world_T_cam is not None and is_key:
            self._last_key_pose = f.world_T_cam
        q_in.append(item)

    def _emit(self, res: StepResult, frame, summary: RunSummary, lat: ThinnedRows, on_result) -> None:
        summary.counts[res.status] += 1
        if res.status == "skipped":
            if len(summary.skipped) < MAX_FRAMES_LISTED:
                summary.skipped.append((res.index, res.reason))
        elif res.status == "dropped":
            if len(summary.dropped) < MAX_FRAMES_LISTED:
                summary.dropped.append(res.index)
        else:
            if res.status == "rgb_only" and len(summary.rgb_only) < MAX_FRAMES_LISTED:
                summary.rgb_only.append((res.index, res.reason))
            lat.add(res.latency_ms)
        if on_result is not None:
            on_result(res, frame if isinstance(frame, Frame) else None)
