"""``real3d run INPUT --out DIR``: the whole pipeline over any sequence ``open_sequence`` reads.

SIGINT / SIGTERM during a run: the first stops taking frames, the outputs of what was
processed are written (marked partial) and the command exits 130 / 143; a second aborts at
once (exit 130 / 143, the earlier outputs kept). The output set is swapped in whole
(``real3d.viz.report.OutputSet``), so an interrupted, failed or killed run never leaves a
mix of old and new files or temporaries.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from real3d.cli.info_cmd import (
    DEPTH_ALIGNED_OPTION,
    DEPTH_ENCODING_OPTION,
    DEPTH_INFO_TOPIC_OPTION,
    DEPTH_SCALE_OPTION,
    DEPTH_TOPIC_OPTION,
    FORMAT_OPTION,
    INFO_TOPIC_OPTION,
    INTRINSICS_OPTION,
    POSE_TOPIC_OPTION,
    RGB_TOPIC_OPTION,
    WORLD_FRAME_OPTION,
)


class RunAborted(BaseException):
    """A second SIGINT / SIGTERM: give up the run at once (not an ``Exception``, so that no
    ``except Exception`` on the way swallows it)."""

    def __init__(self, signame: str, code: int) -> None:
        super().__init__(signame)
        self.signame, self.code = signame, code


class StopSignals:
    """SIGINT and SIGTERM handlers for the duration of a run (the previous handlers are
    restored on leaving the block; outside the main thread nothing is installed).

    The first signal sets ``event`` (pass it to ``Pipeline.run(stop=...)``) and says so on
    stderr; a second raises ``RunAborted`` in the main thread, unless ``committing`` is set
    (the complete output set is being swapped in: a few renames, which must not be cut),
    in which case it is ignored.

    Attributes:
        event: set by the first signal.
        signame: ``"SIGINT"`` / ``"SIGTERM"`` of the first signal, None before.
        exit_code: 128 + the signal number of the first signal (130 / 143), None before.
        partial: set by ``execute`` when the signal cut the run short.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signame: str | None = None
        self.exit_code: int | None = None
        self.committing = False
        self.partial = False
        self._previous: dict = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.signame is None:
            self.signame, self.exit_code = name, 128 + signum
            self.event.set()
            # os.write: safe in a signal handler (a console may be holding its own lock).
            os.write(
                2,
                f"\nreal3d: {name} received: stopping; writing the outputs of the frames "
                f"processed so far (send it again to abort without writing)\n".encode(),
            )
            return
        if not self.committing:
            raise RunAborted(name, 128 + signum)


@contextmanager
def interruptible_outputs(out: Path) -> Iterator[tuple]:
    """``(OutputSet, StopSignals)`` for a command that runs a pipeline into ``out``.

    ``out`` is checked on entry, before any model is loaded or frame read (InputError). A
    signal during the block ends the command with exit code 130 (SIGINT) / 143 (SIGTERM)
    after the block, with a line on stderr: after the first signal the outputs written
    by ``execute`` are kept (marked partial), after a second nothing is, and ``out`` keeps
    its earlier set."""
    from real3d.viz.report import OutputSet

    with StopSignals() as signals:
        try:
            with OutputSet(out) as outputs:
                yield outputs, signals
        except RunAborted as e:
            typer.echo(f"real3d: {e.signame} again: aborted; nothing written, {out} left as it was", err=True)
            raise typer.Exit(e.code) from None
    if signals.signame is not None:
        if outputs.committed and signals.partial:
            typer.echo(
                f"real3d: stopped by {signals.signame}: the outputs of the frames processed "
                f'are in {out} (metrics.json: "partial": true)',
                err=True,
            )
        elif outputs.committed:
            typer.echo(
                f"real3d: {signals.signame} came after the last frame: the outputs in {out} are complete", err=True
            )
        else:
            typer.echo(f"real3d: stopped by {signals.signame} before any frame; {out} left as it was", err=True)
        raise typer.Exit(signals.exit_code)


def _check_intrinsics(seq, path):
    """Fail before any work when the recording gives no camera intrinsics: every frame would
    be skipped (or an option does not fit it: ConfigError). Other problems of the first frame
    are left to the run (it skips and reports). Returns the first frame, or None when it
    could not be read."""
    from real3d.core.errors import ConfigError, Real3DError
    from real3d.io.base import MissingIntrinsicsError

    if not hasattr(seq, "__getitem__") or not len(seq):
        return None
    try:
        return seq[0]
    except MissingIntrinsicsError:
        raise ConfigError(
            f"{path}: the recording gives no camera intrinsics; pass them with "
            "--intrinsics fx,fy,cx,cy,width,height (pixels)"
        ) from None
    except ConfigError:
        raise  # an option that does not fit the recording (e.g. --depth-scale on disparity)
    except Real3DError:
        return None


def viewer_options(viewer: str | None, url: str | None, every: int = 5, map_every: int = 30):
    """``ViewerOptions`` of the ``--viewer`` options, checked before any work: ConfigError
    for an unknown mode or URL, and for a viewer asked for without rerun-sdk installed.
    Without ``--viewer``: ``connect`` when ``--viewer-url`` is given, else ``save`` (which
    without rerun-sdk only notes that no recording is written)."""
    from real3d.viz.rerun_log import ViewerOptions

    mode = viewer if viewer is not None else ("connect" if url is not None else "save")
    opts = ViewerOptions(
        mode=mode, url=url, image_every=every, map_every=map_every, requested=viewer is not None or url is not None
    )
    opts.check()
    return opts


#: the ``--viewer`` options of ``real3d run`` and ``real3d demo``
VIEWER_HELP = (
    "rerun recording: save (recording.rrd in OUT; the default, when rerun-sdk is installed) | spawn (start a "
    "viewer and stream to it) | connect (stream to --viewer-url) | none. spawn and connect also save "
    "recording.rrd (docs/viewer.md)."
)
VIEWER_URL_HELP = "rerun gRPC URL of a viewer for --viewer connect (default rerun+http://127.0.0.1:9876/proxy)."


def parse_goal(text: str | None):
    """'2.5,-1' -> (2.5, -1.0) world metres."""
    from real3d.core.errors import InputError

    if text is None:
        return None
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--goal: expected X,Y in metres such as 2.5,-1.0, got {text!r}") from None
    return (x, y)


def build_pipeline(
    model: str,
    rgb_model: str | None,
    backend: str,
    mode: str,
    policy: str,
    threads: int | None,
    **overrides,
):
    """A Pipeline for the command line: the shipped weights via ``Pipeline.default`` (clear
    error when missing), other model specs directly."""
    from real3d.pipeline import Pipeline, PipelineConfig

    kw = dict(
        model=model,
        rgb_model=rgb_model,
        backend=backend,
        mode=mode,
        overload_policy=policy,
        threads=threads,
        **overrides,
    )
    if model == "rgbd-default" or rgb_model == "rgb-default":
        return Pipeline.default(**kw)
    return Pipeline(PipelineConfig(**kw))


def execute(
    pipeline,
    source,
    out: Path,
    meta: dict,
    scene=None,
    goal=None,
    max_frames: int | None = None,
    title: str = "real3d run",
    viewer=None,
    outputs=None,
    signals: StopSignals | None = None,
    on_frame=None,
    extra_metrics=None,
    mesh: bool = False,
    gt_objects=None,
) -> dict | None:
    """Run ``pipeline`` over ``source`` with a progress bar, write every output into
    ``out`` as one set and print a summary table.

    Args:
        outputs: the open ``OutputSet`` of ``out`` (opened here when None): the files go
            into its staging folder, which replaces ``out`` at the end.
        signals: the ``StopSignals`` in force; its event stops the run early, and the
            outputs of what was processed are then written marked partial.
        on_frame: called as ``on_frame(result, frame)`` after each frame (e.g. to write
            its labels into a results bag).
        extra_metrics: called after the run, returns a dict of further top-level entries
            of metrics.json (e.g. ``sensor_health``).
        viewer: ``real3d.viz.rerun_log.ViewerOptions`` of the rerun recording (default:
            ``recording.rrd`` when rerun-sdk is installed).
        mesh: also write the TSDF mesh with labels as ``semantic_mesh.ply``.
        gt_objects: the scene's objects (``SceneGT.objects``; default ``scene.objects``)
            from which frames' ground-truth labels of another label set than the
            pipeline's are made in its (``real3d.eval.ground_truth.ground_truth_frame``).

    Returns:
        ``write_run_outputs``'s dict; None when the run was stopped before it took a frame
        (nothing written, ``out`` left as it was).
    """
    import json

    from real3d.viz.report import OutputSet

    if outputs is None:
        with OutputSet(out) as outs:
            return execute(
                pipeline,
                source,
                out,
                meta,
                scene,
                goal,
                max_frames,
                title,
                viewer,
                outs,
                signals,
                on_frame,
                extra_metrics,
                mesh,
                gt_objects,
            )
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    import dataclasses

    from real3d.core.errors import ConfigError
    from real3d.core.labels import NYU13
    from real3d.eval.ground_truth import ground_truth_frame
    from real3d.viz.report import RunRecorder, write_run_outputs
    from real3d.viz.rerun_log import INSTALL_HINT, RerunLogger, ViewerOptions

    console = Console(stderr=True)
    staging = outputs.staging
    total = len(source) if hasattr(source, "__len__") else None
    if total is not None and max_frames is not None:
        total = min(total, max_frames)
    recorder = RunRecorder(expected_frames=total)
    viewer = ViewerOptions() if viewer is None else viewer
    label_set = getattr(pipeline, "label_set", NYU13)
    if gt_objects is None and scene is not None:
        gt_objects = scene.objects

    def report(message: str) -> None:
        console.print(f"[yellow]{escape(message)}[/yellow]")

    unscored: list[int] = []  # frames whose ground truth could not be put in the model's label set

    rr_log = None
    if viewer.check():  # ConfigError: a viewer asked for without rerun-sdk
        try:
            rr_log = RerunLogger(staging / "recording.rrd", viewer, report, label_set)
        except Exception as e:  # an optional extra that cannot start must not end the run
            report(f"rerun: no recording ({type(e).__name__}: {e})")
    elif viewer.mode != "none":
        console.print(f"[dim]rerun-sdk not installed: no recording.rrd ({escape(INSTALL_HINT)})[/dim]")
    # Without a terminal the bar is drawn only at the end: say how far the run is in plain
    # lines (first frame, then every tenth of the run or every 50 frames).
    line_every = max(1, total // 10) if total else 50
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("frames", total=total, info="")
        done = 0

        def on_result(res, frame):
            nonlocal rr_log, done
            # ground truth is scored in the model's label set: relabelled, or left unscored
            # with a note when it cannot be (labels of another set, nothing to relabel from)
            truth = frame
            if getattr(frame, "labels", None) is not None:
                try:
                    truth = ground_truth_frame(frame, label_set, gt_objects)
                except ConfigError as e:
                    if not unscored:
                        report(f"ground truth not scored: {e}")
                    unscored.append(frame.index)
                    truth = dataclasses.replace(frame, labels=None)
            recorder.on_result(res, truth)
            if on_frame is not None:
                on_frame(res, frame)
            if rr_log is not None:
                try:
                    rr_log.log_frame(res, frame, pipeline)
                except Exception as e:  # an optional extra must not end the run
                    report(f"rerun logging stopped: {type(e).__name__}: {e}; no recording.rrd")
                    rr_log.abort()
                    rr_log = None
            progress.update(task, advance=1, info=f"{res.status:8s} {res.map_voxels / 1000:7.0f}k voxels")
            done += 1
            if not console.is_terminal and (done == 1 or done % line_every == 0):
                console.print(f"frame {done}/{total if total else '?'}: {res.status}", highlight=False)

        stop = signals.event if signals is not None else None
        try:
            summary = pipeline.run(source, on_result=on_result, max_frames=max_frames, stop=stop)
        except BaseException:
            if rr_log is not None:
                rr_log.abort()
            raise
        stopped_by = signals.signame if signals is not None and summary.stopped else None
        if signals is not None:
            signals.partial = summary.stopped
        if summary.stopped and summary.frames_in == 0:
            if rr_log is not None:
                rr_log.abort()
            progress.stop()
            console.print(f"real3d: stopped before the first frame; {out} left as it was")
            return None
        task2 = progress.add_task("writing outputs", total=None, info="")
        try:
            result = write_run_outputs(
                staging,
                pipeline,
                summary,
                recorder,
                meta=meta,
                scene=scene,
                goal_xy=goal,
                atomic=False,
                stopped_by=stopped_by,
                extra_metrics=None if extra_metrics is None else extra_metrics(),
            )
            if mesh:
                result["files"]["semantic_mesh.ply"] = write_mesh(staging / "semantic_mesh.ply", pipeline, recorder)
        except BaseException:
            if rr_log is not None:
                rr_log.abort()
            raise
        if rr_log is not None:
            try:
                path_info = json.loads(Path(result["files"]["path.json"]).read_text())
                saved = rr_log.finish(pipeline, path_info)
                if saved is not None:
                    result["files"]["recording.rrd"] = saved
            except Exception as e:
                report(f"no recording.rrd: {type(e).__name__}: {e}")
                rr_log.abort()
        result["files"] = {k: outputs.final(v) for k, v in result["files"].items()}
        if signals is not None:
            signals.committing = True
        try:
            outputs.commit()
        finally:
            if signals is not None:
                signals.committing = False
        progress.update(task2, total=1, completed=1)

    m = result["metrics"]
    pct = summary.latency_percentiles()
    t = Table(title=title + (" (partial)" if summary.stopped else ""))
    t.add_column("", style="bold")
    t.add_column("value")
    c = summary.counts
    t.add_row(
        "frames",
        f"{summary.frames_in} in: {c['fused']} fused, {c['rgb_only']} rgb-only, "
        f"{c['skipped']} skipped, {c['dropped']} dropped",
    )
    if summary.stopped:
        t.add_row("stopped", f"early, by {stopped_by or 'a stop request'}: partial outputs")
    if summary.n_gaps:
        t.add_row(
            "timestamp gaps",
            f"{summary.n_gaps} longer than "
            f"{pipeline.config.max_gap_s:g} s, replayed as {pipeline.config.max_gap_s:g} s",
        )
    t.add_row("throughput", f"{summary.fps:.1f} frames/s over {summary.wall_s:.1f} s ({summary.mode})")
    for k in ("segment", "fuse", "graph", "costmap", "total"):
        if k in pct:
            t.add_row(f"latency {k}", f"p50 {pct[k]['p50']:.1f} ms, p95 {pct[k]['p95']:.1f} ms")
    t.add_row("map", f"{m['map']['voxels']:,} voxels, {m['map']['bytes'] / 2**20:.1f} MiB")
    sg = m["scene_graph"]
    t.add_row(
        "scene graph",
        f"{sg['objects']} objects, {sg['structures']} structures, {sg['rooms']} rooms, {sg['edges']} relations",
    )
    p = m["path"]
    t.add_row("path", p["status"] + (f", {p['length_m']:.2f} m" if p.get("length_m") else ""))
    gt = m.get("ground_truth") or {}
    if gt.get("seg2d"):
        t.add_row("2D mIoU", f"{gt['seg2d']['miou']:.1f} %")
    if gt.get("map3d"):
        t.add_row("3D mIoU", f"{gt['map3d']['miou']:.1f} %")
    if gt.get("objects"):
        t.add_row("object F1 @0.25", object_f1_text(gt))
    if gt.get("nav"):
        t.add_row(
            "nav success",
            f"{100 * (gt['nav']['success_rate'] or 0):.0f} % of {gt['nav']['n_pairs']} pairs",
        )
    t.add_row("peak RSS", f"{m['peak_rss_mb']:.0f} MiB")
    for i, r in summary.skipped[:10]:
        t.add_row(f"skipped {i}", r)
    t.add_row("output", str(out / "report.html"))
    Console().print(t)
    return result


def object_f1_text(gt: dict) -> str:
    """The summary table's object F1 at IoU 0.25 from ``metrics.json``'s ``ground_truth``:
    scored against the objects the run saw, with how many of them and of the whole scene
    the graph found."""
    d = gt["objects"]["detection"]["0.25"]
    text = f"{d['f1']:.2f}"
    if gt["objects"].get("scored_against") != "seen":
        return text
    text += f" ({d['true_positives']} of {d['n_ground_truth']} objects seen"
    every = (gt.get("objects_in_scene") or {}).get("detection", {}).get("0.25")
    if every is not None:
        text += f"; {every['true_positives']} of {every['n_ground_truth']} in the scene"
    return text + ")"


def _ground_truth_objects(seq, first, label_set):
    """The scene objects of a recording in real3d's layout (``scene.json``), from which its
    frames' NYUv2-13 ground truth is relabelled in ``label_set`` when the model predicts
    another (None otherwise, or for other formats). Ground truth that cannot be relabelled is
    left unscored by ``execute``, which says so."""
    from real3d.core.errors import FormatError

    if first is None or first.labels is None or first.label_set == label_set.name:
        return None
    objects = None
    source = getattr(seq, "_source", None) if seq.info.format == "real3d" else None
    if source is not None:
        try:
            objects = source.scene.objects
        except FormatError:
            objects = None
    return objects


def write_mesh(path: Path, pipeline, recorder) -> Path:
    """The map's TSDF mesh (marching cubes) with class colours and labels as a binary PLY
    at ``path`` (``semantic_mesh.ply``), written atomically, its header's comments naming
    the map frame as ``semantic_map.ply``'s do."""
    from real3d.mapping.export import export_mesh_ply
    from real3d.scene.graph import frame_header
    from real3d.viz.outputs import frame_comments

    header = frame_header(pipeline.gravity_T_world, pipeline.gravity_note, recorder.last_fused_s)
    return export_mesh_ply(pipeline.map, path, label_set=pipeline.label_set, comments=frame_comments(header))


def open_results_bag(bag_out: Path | None, out: Path):
    """The ``ResultsBag`` of ``--bag-out`` (None without), checked before any work: not
    inside ``--out`` (the output set replaces that folder whole)."""
    if bag_out is None:
        return None
    from real3d.core.errors import InputError
    from real3d.io.ros_write import ResultsBag

    b, o = Path(os.path.realpath(bag_out)), Path(os.path.realpath(out))
    if b == o or o in b.parents or b in o.parents:
        raise InputError(
            f"--bag-out {bag_out}: expected a path outside --out {out} (the output set replaces that folder whole)"
        )
    return ResultsBag(bag_out)


def bag_frame_writer(bag, pipeline):
    """``execute``'s ``on_frame`` writing each segmented frame into ``bag``: its labels and,
    when its pose is known, the camera pose in the map frame. Returns (callback, a dict
    whose ``"t_s"`` is the last frame's time)."""
    last = {"t_s": 0.0}

    def on_frame(res, frame) -> None:
        last["t_s"] = max(last["t_s"], float(frame.timestamp_s))
        if res.labels is None:
            return
        g = pipeline.gravity_T_world
        pose = None if g is None or frame.world_T_cam is None else g @ frame.world_T_cam
        bag.add_frame(frame.timestamp_s, res.labels, pose)

    return on_frame, last


def finish_results_bag(bag, pipeline, out: Path, t_s: float) -> Path:
    """Write the final map products of ``pipeline`` (the costmap, the path and scene graph
    as written into ``out``, the surface points) into ``bag`` and close it."""
    import json

    import numpy as np

    occ = res = origin = None
    cm = pipeline.costmap
    if cm is not None:
        g = cm.grid
        occ = np.where(g.unknown, -1, np.where(g.occupied, 100, 0)).astype(np.int8)
        res, origin = g.resolution_m, g.origin_xy
    path = json.loads((out / "path.json").read_text())
    waypoints = path.get("waypoints") or None
    graph = json.loads((out / "scene_graph.json").read_text())
    pts = pipeline.map.semantic_points()
    bag.add_results(
        t_s,
        occupancy=occ,
        resolution_m=res,
        origin_xy=origin,
        path_xy=None if waypoints is None else np.asarray(waypoints, np.float64),
        graph=graph,
        points=pts.points if len(pts.points) else None,
        point_labels=pts.labels if len(pts.points) else None,
    )
    return bag.close()


def parse_corrupt_option(text: str | None) -> tuple[tuple[str, int], ...]:
    """``--corrupt`` as ``((name, severity), ...)`` (empty without it). ConfigError for an
    unknown name (listing the valid ones), InputError for a severity outside 1..5."""
    if text is None:
        return ()
    from real3d.robust.source import parse_corruption_spec

    return parse_corruption_spec(text)


#: flagged frames listed by index in the report's settings table (metrics.json lists all)
HEALTH_LISTED = 20


def robust_source(seq, corruptions, seed: int, health: bool, meta: dict, on_frame=None):
    """``(source, on_frame)`` for ``execute``: ``seq`` itself without ``--corrupt``, else a
    ``real3d.robust.CorruptedSource`` over it; ``meta`` (the report's settings) gets the
    corruptions applied.

    With ``health`` (the pipeline then runs ``PipelineConfig.health_check``), ``meta`` also
    gets a one-line summary of the checks (``sensor health``: frames flagged per check, those
    sent to the RGB model, the first flagged frames), kept current after each frame by the
    returned ``on_frame`` (which calls the given one); metrics.json has the counts as
    ``run.sensor_health``."""
    source = seq
    if corruptions:
        from real3d.robust.source import CorruptedSource, describe_corruptions

        source = CorruptedSource(seq, corruptions, seed=seed)
        meta["corruption"] = f"{describe_corruptions(corruptions)} (seed {seed}, --corrupt)"
    if not health:
        return source, on_frame
    from real3d.pipeline.results import count_health

    tally: dict = {}

    def update() -> None:
        s = tally or {"checked": 0, "flagged": 0, "by_fault": {}, "depth_switched": 0, "frames": []}
        faults = ", ".join(f"{k}: {n}" for k, n in s["by_fault"].items() if n)
        line = f"{s['flagged']} of {s['checked']} frames flagged" + (f" ({faults})" if faults else "")
        if s["depth_switched"]:
            line += f"; {s['depth_switched']} without usable depth went to the RGB model"
        listed = s["frames"][:HEALTH_LISTED]
        if listed:
            more = s["flagged"] - len(listed)
            line += "; frames " + ", ".join(str(f["index"]) for f in listed) + (f" and {more} more" if more else "")
        meta["sensor health"] = line

    def health_on_frame(res, frame) -> None:
        count_health(tally, res)
        update()
        if on_frame is not None:
            on_frame(res, frame)

    update()
    return source, health_on_frame


def open_input(
    path: Path,
    format: str | None,
    intrinsics: str | None,
    depth_encoding: str | None,
    stride: int,
    max_frames: int | None,
    depth_scale: float | None = None,
    depth_aligned: bool = False,
    **bag: str | None,
):
    """``open_sequence`` with the command's options (``--depth-encoding`` says how depth is
    stored in plain folders, e.g. ``tum`` for ``N.png`` + ``N_depth.png`` TUM pairs;
    ``--depth-scale`` the metres per stored unit for any linear encoding; ``bag`` the ROS
    bag options of ``info_cmd.BAG_FLAGS``)."""
    from real3d.cli.info_cmd import input_options
    from real3d.io import open_sequence

    fmt, opts = input_options(
        path,
        format,
        intrinsics=intrinsics,
        depth_encoding=depth_encoding,
        depth_scale=depth_scale,
        depth_aligned=depth_aligned,
        **bag,
    )
    opts["stride"] = stride
    if max_frames is not None:
        opts["max_frames"] = max_frames
    return open_sequence(path, format=fmt, **opts)


def run(
    input: Path = typer.Argument(..., help="Recording or dataset (anything real3d info reads)."),
    out: Path = typer.Option(Path("real3d_run"), "--out", help="Output folder."),
    backend: str = typer.Option("auto", "--backend", help="auto | torch | onnx | int8 | openvino (docs/pipeline.md)"),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Process at most N frames."),
    goal: str | None = typer.Option(
        None,
        "--goal",
        help="X,Y world metres (z-up map frame) to plan to; default: the farthest reachable free cell.",
    ),
    model: str = typer.Option(
        "rgbd-default",
        "--model",
        help="RGB-D model: pretrained name, preset (random weights) or .safetensors path.",
    ),
    rgb_model: str = typer.Option(
        "rgb-default",
        "--rgb-model",
        help="Model for frames without depth ('none' to skip such frames).",
    ),
    mode: str = typer.Option("offline", "--mode", help="offline (every frame, deterministic) | realtime"),
    policy: str = typer.Option("drop", "--policy", help="Realtime overload policy: drop | keyframe"),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="torch / onnxruntime intra-op threads (default: chosen from the core count).",
    ),
    format: str | None = FORMAT_OPTION,
    intrinsics: str | None = INTRINSICS_OPTION,
    depth_encoding: str | None = DEPTH_ENCODING_OPTION,
    depth_scale: float | None = DEPTH_SCALE_OPTION,
    rgb_topic: str | None = RGB_TOPIC_OPTION,
    depth_topic: str | None = DEPTH_TOPIC_OPTION,
    info_topic: str | None = INFO_TOPIC_OPTION,
    depth_info_topic: str | None = DEPTH_INFO_TOPIC_OPTION,
    depth_aligned: bool = DEPTH_ALIGNED_OPTION,
    pose_topic: str | None = POSE_TOPIC_OPTION,
    world_frame: str | None = WORLD_FRAME_OPTION,
    stride: int = typer.Option(1, "--stride", min=1, help="Use every N-th frame."),
    gravity: str = typer.Option(
        "auto",
        "--gravity",
        help="auto | floor | off: re-express poses in a floor-plane gravity frame (auto: unless the source is z-up).",
    ),
    seg_flip: bool = typer.Option(
        False, "--seg-flip", help="Test-time flip: also segment each mirrored frame and average."
    ),
    seg_scales: str = typer.Option(
        "1",
        "--seg-scales",
        help="Comma-separated multiples of the model's size to segment at and average, e.g. "
        "1,1.2: more accurate labels for more segmentation time (figures: docs/pipeline.md).",
    ),
    seg_guided: bool = typer.Option(
        False,
        "--seg-guided",
        help="Upsample the class probabilities along the image's edges, as predict does for the "
        "shipped weights: more accurate labels for more time per frame (figures: docs/pipeline.md). "
        "Off by default for the frame rate.",
    ),
    map_refiner: str | None = typer.Option(
        None,
        "--map-refiner",
        help="3D network over the map (a seg3d name or .safetensors path): its labels and object "
        "instances feed the scene graph; run every --refine-every fused frames.",
    ),
    refine_every: int = typer.Option(30, "--refine-every", min=1, help="Fused frames between map refinements."),
    bag_out: Path | None = typer.Option(
        None,
        "--bag-out",
        help="Also write the results as a ROS 2 bag (MCAP) folder: label images, tf, costmap, path, "
        "scene-graph markers, labelled point cloud (docs/outputs.md).",
    ),
    corrupt: str | None = typer.Option(
        None,
        "--corrupt",
        help="NAME:SEVERITY[,NAME:SEVERITY...]: apply these corruptions (real3d eval robust --help lists "
        "the names; severity 1..5) to every frame before the pipeline, deterministic per frame index "
        "(docs/robustness.md).",
    ),
    corrupt_seed: int = typer.Option(0, "--corrupt-seed", min=0, help="Seed of the --corrupt random draws."),
    health: bool = typer.Option(
        False,
        "--health",
        help="Check each frame's sensor health (depth validity, exposure, blur, noise): flagged frames are "
        "counted and listed in the report and metrics.json; a frame whose depth fails goes to the RGB model "
        "(and to predicted depth with --depth-model).",
    ),
    depth_model: str | None = typer.Option(
        None,
        "--depth-model",
        help="Metric depth model for frames without usable depth (depth-rgb-default, or a .safetensors path): "
        "they are segmented by --rgb-model and fused with predicted depth at a lower weight and twice the "
        "truncation (docs/camera_only.md). Default: none (such frames are not fused).",
    ),
    predicted_depth_weight: float = typer.Option(
        0.3,
        "--predicted-depth-weight",
        help="The say of a predicted-depth frame in the map, in (0, 1]; a sensor frame has 1.",
    ),
    camera_height: float | None = typer.Option(
        None,
        "--camera-height",
        help="The camera's height above the floor in metres, for scaling predicted depth (default: the pose's z).",
    ),
    no_floor_prior: bool = typer.Option(
        False, "--no-floor-prior", help="Use the depth model's own scale instead of rescaling it to the camera height."
    ),
    viewer: str | None = typer.Option(None, "--viewer", help=VIEWER_HELP),
    viewer_url: str | None = typer.Option(None, "--viewer-url", help=VIEWER_URL_HELP),
    viewer_every: int = typer.Option(
        5, "--viewer-every", min=1, help="rerun: log the colour, depth and label images of every N-th frame."
    ),
    viewer_map_every: int = typer.Option(
        30, "--viewer-map-every", min=1, help="rerun: log the growing map's points every N fused frames."
    ),
    mesh: bool = typer.Option(
        False, "--mesh", help="Also write the TSDF mesh with class colours and labels as semantic_mesh.ply."
    ),
) -> None:
    """Run the whole pipeline over INPUT and write the report and outputs into OUT.

    Segmentation, mapping, scene graph and planning; OUT gets report.html / report.md,
    semantic_map.ply, scene_graph.json, costmap.png, path.json and metrics.json (with --mesh
    semantic_mesh.ply; with rerun-sdk recording.rrd, see --viewer)."""
    from real3d.cli.eval_cmd import parse_scales
    from real3d.core.errors import ConfigError

    goal_xy = parse_goal(goal)
    viewer_opts = viewer_options(viewer, viewer_url, viewer_every, viewer_map_every)
    scales = parse_scales(seg_scales, "--seg-scales")
    corruptions = parse_corrupt_option(corrupt)
    if gravity not in ("auto", "floor", "off"):
        raise ConfigError(f"--gravity: expected auto | floor | off, got {gravity!r}")
    # --out is checked (and its staging folder made) before the input is opened or a
    # model loaded: a bad output folder fails at once, not after the whole run.
    with interruptible_outputs(out) as (outputs, signals):
        bag = open_results_bag(bag_out, out)
        seq = open_input(
            input,
            format,
            intrinsics,
            depth_encoding,
            stride,
            max_frames,
            depth_scale,
            depth_aligned,
            rgb_topic=rgb_topic,
            depth_topic=depth_topic,
            camera_info_topic=info_topic,
            depth_camera_info_topic=depth_info_topic,
            pose_topic=pose_topic,
            world_frame=world_frame,
        )
        with seq:
            first = _check_intrinsics(seq, input)
            scale_warning = None
            if first is not None and first.depth_m is not None:
                from real3d.cli.info_cmd import depth_scale_warning

                unit = seq.options.depth_scale_m or seq.assumed_depth_unit_m()
                scale_warning = depth_scale_warning(first.depth_m, unit)
                if scale_warning is not None:
                    typer.echo(f"real3d: warning: first frame: {scale_warning}", err=True)
            info = seq.info
            # Synthetic (real3d layout) and SUN/NYU (gravity-aligned by their readers) are z-up.
            # Without poses every frame is placed by its own floor fit (missing_pose="gravity"),
            # which is already a z-up frame.
            no_poses = info.pose_source is None
            z_up = info.format == "real3d" or info.pose_source == "gravity" or no_poses
            grav = ("off" if z_up else "floor") if gravity == "auto" else gravity
            warning = None
            if no_poses:
                warning = (
                    "the source has no poses: each frame is placed by a floor-plane fit of its own "
                    "depth, which is right for a static camera only"
                )
            pipe = build_pipeline(
                model,
                None if rgb_model == "none" else rgb_model,
                backend,
                mode,
                policy,
                threads or "auto",
                gravity=grav,
                missing_pose="gravity" if no_poses else "skip",
                graph_every=30,
                costmap_every=30,
                seg_flip=seg_flip,
                seg_scales=scales,
                seg_guided=seg_guided,
                map_refiner=map_refiner,
                refine_every=refine_every,
                health_check=health,
                depth_model=depth_model,
                predicted_depth_weight=predicted_depth_weight,
                camera_height_m=camera_height,
                depth_floor_prior=not no_floor_prior,
            )
            if bag is not None:
                bag.label_set = pipe.label_set
            gt_objects = _ground_truth_objects(seq, first, pipe.label_set)
            meta = {
                "input": str(input),
                "format": info.format,
                "frames": info.num_frames,
                "model": model,
                "rgb_model": rgb_model,
                "backend": backend,
                "mode": mode,
                "overload_policy": policy,
                "gravity": grav,
                "poses": info.pose_source or "none",
            }
            if pipe.label_set.name != "nyu13":
                meta["label set"] = f"{pipe.label_set.name} (the model's): " + ", ".join(pipe.label_set.names[1:])
            if depth_scale is not None:
                meta["depth scale"] = f"{depth_scale:g} m per stored unit (--depth-scale)"
            for key in ("rgb_topic", "depth_topic", "camera_info_topic", "pose_topic"):
                if info.extra.get(key):
                    meta[key.replace("_", " ")] = info.extra[key]
            if seg_flip or scales != (1.0,):
                meta["segmentation test-time augmentation"] = (
                    ("flip, " if seg_flip else "") + "scales " + ", ".join(f"{v:g}" for v in scales)
                )
            meta["segmentation upsampling"] = "guided" if seg_guided else "bilinear"
            if map_refiner:
                meta["map refiner"] = f"{map_refiner} (every {refine_every} fused frames)"
            if depth_model:
                meta["depth model"] = (
                    f"{depth_model} for frames without usable depth (weight {predicted_depth_weight:g}"
                    + (", floor prior" if not no_floor_prior else "")
                    + (f", camera height {camera_height:g} m" if camera_height is not None else "")
                    + ")"
                )
            if warning:
                meta["warning"] = warning
            if scale_warning:
                meta["depth scale warning"] = f"first frame: {scale_warning}"
            on_frame, last = bag_frame_writer(bag, pipe) if bag is not None else (None, None)
            source, on_frame = robust_source(seq, corruptions, corrupt_seed, health, meta, on_frame)
            try:
                result = execute(
                    pipe,
                    source,
                    out,
                    meta,
                    scene=None,
                    goal=goal_xy,
                    max_frames=max_frames,
                    outputs=outputs,
                    signals=signals,
                    on_frame=on_frame,
                    viewer=viewer_opts,
                    mesh=mesh,
                    gt_objects=gt_objects,
                )
                if bag is not None and result is not None:
                    typer.echo(f"results bag: {finish_results_bag(bag, pipe, out, last['t_s'])}", err=True)
            finally:
                if bag is not None and not bag.closed:
                    bag.abort()
            # frames the reader knew to be bad at open (a bad pose row, a missing depth
            # image) and those that failed to decode; the pipeline reported each as skipped
            bad = {s.index for s in seq.known_bad()} | {s.index for s in seq.skipped}
            if bad:
                typer.echo(f"reader skipped {len(bad)} frame(s)", err=True)
            if health and result is not None:
                typer.echo(f"sensor health: {meta['sensor health']}", err=True)
