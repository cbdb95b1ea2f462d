"""What a pipeline run writes: map, graph, costmap, path, metrics and a visual report.

A ``RunRecorder`` (``real3d.eval.recorder``) watches a ``Pipeline.run`` (pass
``recorder.on_result`` as its callback). ``write_run_outputs`` then plans a path
(``real3d.nav.goals``), scores the run against ground truth where there is some
(``real3d.eval.run_metrics``) and writes the output set below. The set is written whole
or not at all: every file goes into a temporary sibling folder (``.NAME.tmp-PID-XXXX``)
that replaces the output folder by renames at the end (``OutputSet``,
``real3d.core.files.atomic_dir``), so a failed or killed run leaves the earlier set
complete and no temporaries::

    report.html, report.md        the report, pictures in report_files/
    semantic_map.ply              labelled surface voxels: observed colour, ``label`` (ids of
                                  the model's label set, named in the header)
    scene_graph.json              the scene graph (schema in real3d.scene.graph)
    costmap.png                   top-down costmap with objects, trajectory and path
    path.json                     the planned path
    metrics.json                  run figures; with ground truth 2D/3D mIoU, object F1, nav
    map.yaml, map.pgm             the costmap as a nav2 map (real3d.nav.nav2)
    recording.rrd                 when rerun-sdk is installed (written by viz.rerun_log)

Everything is in the gravity-aligned map frame ``"map"`` (z up, metres, yaw counter-clockwise
about +z from +x in radians); the JSON files, the PLY header and map.yaml say so and carry
``map_T_input`` (``Pipeline.gravity_T_world``) back to the input's frame, and the capture
time of the last fused frame (``real3d.scene.graph.frame_header``; docs/outputs.md).

A run stopped early (``RunSummary.stopped``; ``real3d run`` on SIGINT / SIGTERM) writes the
set of what it processed, marked ``"partial": true`` in metrics.json and in the report.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import numpy as np

from real3d.core.errors import InputError, OutputError
from real3d.core.files import atomic_write_text
from real3d.core.labels import NYU13, LabelSet
from real3d.core.machine import current_rss_mb, peak_rss_mb
from real3d.eval.recorder import RunRecorder
from real3d.eval.run_metrics import ground_truth_metrics
from real3d.nav.goals import auto_goal, plan_for_report
from real3d.viz.outputs import (
    METRICS_SCHEMA,
    METRICS_SCHEMA_VERSION,
    OUTPUT_FILES,
    OutputSet,
    atomic_save_png,
    check_output_folder,
    frame_comments,
    write_json,
)

# The names below were defined here before recording, scoring, goal choice and the output
# set moved to their own modules; they stay importable from this module.
__all__ = [
    "OUTPUT_FILES",
    "OutputSet",
    "RunRecorder",
    "atomic_save_png",
    "atomic_write_text",
    "auto_goal",
    "check_output_folder",
    "current_rss_mb",
    "ground_truth_metrics",
    "peak_rss_mb",
    "plan_for_report",
    "write_json",
    "write_report",
    "write_run_outputs",
]


# ---------------------------------------------------------------------------- report
def _table_html(rows, header=None) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{'<tr>' + h + '</tr>' if h else ''}{body}</table>"


def _table_md(rows, header) -> str:
    lines = ["| " + " | ".join(str(c) for c in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _f(v, nd=1, unit="") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{v:.{nd}f}{unit}"


_CSS = """body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;
color:#222}h1{margin-bottom:4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 10px;text-align:left;
font-size:14px}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}.note{color:#666;font-size:14px}
.kpi{display:inline-block;margin:6px 18px 6px 0}.kpi b{font-size:24px;display:block}"""


def _topdown(pipeline, path_info: dict):
    """The costmap seen from above with the objects, the trajectory, the planned path, its
    start and goal (``path_info`` as ``plan_for_report`` gives it), with metre axes, the
    origin, a scale bar and a legend (``real3d.nav.draw.topdown_figure``)."""
    from real3d.nav.draw import render_topdown
    from real3d.nav.planner import Path as NavPath

    cm = pipeline.costmap
    label_set = _label_set(pipeline)
    wp = np.asarray(path_info.get("waypoints") or np.zeros((0, 2)), float)
    p = NavPath(wp, path_info.get("length_m") or 0.0, 0.0, np.zeros((0, 2), np.int64)) if len(wp) > 1 else None
    traj = np.asarray(pipeline.trajectory) if pipeline.trajectory else None
    return render_topdown(
        cm,
        objects=pipeline.scene_graph.objects(),
        path=p,
        trajectory=traj,
        goal_xy=path_info.get("goal_xy"),
        start_xy=path_info.get("start_xy"),
        scale=int(np.clip(860 // max(cm.grid.shape), 1, 6)),
        label_set=label_set,
    )


def _label_set(pipeline) -> LabelSet:
    """The label set of a pipeline's map, graph and segmentations (NYUv2-13 for an object
    that does not say)."""
    return getattr(pipeline, "label_set", NYU13)


def write_report(
    out_dir, meta: dict, summary, recorder: RunRecorder, pipeline, path_info: dict, metrics: dict
) -> tuple[Path, Path]:
    """Pictures into ``out_dir/report_files`` and report.html / report.md next to them."""
    from real3d.viz.mapview import render_scene_graph
    from real3d.viz.plots import (
        bar_chart,
        label_legend,
        line_chart,
        segmentation_samples,
        stack_vertical,
    )

    out = Path(out_dir)
    fig_dir = out / "report_files"
    figs = {}
    lat = recorder.latency_arrays()
    processed = np.array([s in ("fused", "rgb_only") for s in recorder.status], bool)
    stage_series = {k: lat[k][processed] for k in ("segment", "fuse", "graph", "costmap", "total") if k in lat}
    # graph / costmap run every N frames: plot only where they ran (NaN elsewhere)
    for k in ("graph", "costmap"):
        if k in stage_series:
            v = stage_series[k].copy()
            v[~(v > 0)] = np.nan
            stage_series[k] = v
    xs = np.asarray(recorder.position, np.int64)[processed]
    figs["latency"] = line_chart(
        stage_series,
        "Latency per stage over the run",
        "frame (stream order)",
        "ms",
        x=xs if len(xs) else None,
        style="steps",
    )
    mem = [
        line_chart(
            {"voxels": np.asarray(recorder.map_voxels, float) / 1000},
            "Map size",
            "frame",
            "k voxels",
            x=np.asarray(recorder.position, float) if recorder.position else None,
            size=(900, 220),
        )
    ]
    if recorder.rss:
        r = np.asarray(recorder.rss, float)
        mem.append(
            line_chart(
                {"RSS": r[:, 1]},
                "Process memory (resident)",
                "frame",
                "MiB",
                x=r[:, 0],
                size=(900, 220),
                ylim=(0, max(100.0, float(r[:, 1].max()) * 1.15)),
            )
        )
    figs["memory"] = stack_vertical(mem)
    if recorder.health:
        hx = np.asarray(recorder.position, np.float64)
        hs = {k: np.asarray(v, np.float64) for k, v in recorder.health.items()}
        figs["health"] = stack_vertical(
            [
                line_chart(
                    {"valid depth": 100 * hs["valid_depth"], "flagged": 100 * hs["flagged"]},
                    "Sensor health: depth",
                    "frame (stream order)",
                    "% of pixels / flagged",
                    x=hx,
                    size=(900, 220),
                    ylim=(0, 105),
                    style="steps",
                ),
                line_chart(
                    {"sharpness": hs["sharpness"]},
                    "Sensor health: sharpness (mean squared Laplacian over squared gradient)",
                    "frame (stream order)",
                    "1/pixel^2",
                    x=hx,
                    size=(900, 220),
                    style="steps",
                ),
                line_chart(
                    {"brightness": 100 * hs["mean_luma"], "noise": 100 * hs["noise_sigma"]},
                    "Sensor health: exposure and noise",
                    "frame (stream order)",
                    "% of full scale",
                    x=hx,
                    size=(900, 220),
                    ylim=(0, 105),
                    style="steps",
                ),
            ]
        )
    label_set = _label_set(pipeline)
    figs["segmentation"] = stack_vertical([segmentation_samples(recorder.samples, label_set), label_legend(label_set)])
    if pipeline.costmap is not None:
        figs["topdown"] = _topdown(pipeline, path_info)
    figs["graph"] = render_scene_graph(pipeline.scene_graph, size_px=800)
    if len(pipeline.map):
        from real3d.viz.mapview import side_by_side, topdown_labels_figure, topdown_uncertainty_figure

        try:
            left = topdown_labels_figure(
                pipeline.map, use_refinement=False, title="Fused labels", label_set=label_set
            ).image
            right = topdown_uncertainty_figure(pipeline.map, title="How unsure", label_set=label_set).image
            figs["uncertainty"] = side_by_side(np.asarray(left), np.asarray(right), 8)
            if pipeline.map.refinement is not None:
                refined = topdown_labels_figure(
                    pipeline.map, title="Refined by the 3D network", label_set=label_set
                ).image
                figs["refined"] = side_by_side(np.asarray(left), np.asarray(refined), 8)
        except InputError:
            pass  # nothing labelled to draw
    pix = pipeline.class_pixels[1:].astype(float)
    hist = {}
    gt_counts = None
    if recorder.confusion is not None:
        gt_counts = recorder.confusion[1:].sum(axis=1).astype(float)
    for k, name in enumerate(label_set.names[1:]):
        pred_share = 100 * pix[k] / max(pix.sum(), 1)
        if gt_counts is not None:
            hist[name] = [pred_share, 100 * gt_counts[k] / max(gt_counts.sum(), 1)]
        else:
            hist[name] = pred_share
    colors = {n: label_set.colors[i + 1] for i, n in enumerate(label_set.names[1:])}
    figs["classes"] = bar_chart(
        hist,
        "Class histogram of the segmented pixels",
        "% of pixels",
        colors=colors,
        groups=["predicted", "ground truth"] if gt_counts is not None else None,
    )
    paths = {}
    for name, im in figs.items():
        paths[name] = atomic_save_png(im, fig_dir / f"{name}.png")

    pct = summary.latency_percentiles()
    counts = summary.counts
    kpis = [
        ("frames", f"{summary.frames_in}"),
        ("processed FPS", _f(summary.fps, 1)),
        ("p50 latency", _f(pct.get("total", {}).get("p50"), 0, " ms")),
        ("map voxels", f"{len(pipeline.map):,}"),
        ("objects", f"{len(pipeline.scene_graph.objects())}"),
        ("peak RSS", _f(metrics.get("peak_rss_mb"), 0, " MiB")),
    ]
    lat_rows = [(k, _f(v.get("p50"), 1), _f(v.get("p95"), 1), _f(v.get("mean"), 1)) for k, v in pct.items()]
    status_rows = [(k, v) for k, v in counts.items()]
    issues = (
        [(i, "skipped", r) for i, r in summary.skipped]
        + [(i, "rgb only", r) for i, r in summary.rgb_only]
        + [
            (i, "dropped", "overload or run stopped" if getattr(summary, "stopped", False) else "overload")
            for i in summary.dropped[:50]
        ]
    )
    gt = metrics.get("ground_truth") or {}
    gt_rows = []
    if gt.get("seg2d"):
        gt_rows.append(("2D segmentation mIoU", _f(gt["seg2d"]["miou"], 1, " %")))
        gt_rows.append(("2D pixel accuracy", _f(gt["seg2d"]["pixel_acc"], 1, " %")))
    if gt.get("map3d"):
        gt_rows.append(("3D map mIoU (surface voxels)", _f(gt["map3d"]["miou"], 1, " %")))
        gt_rows.append(("3D map completeness", _f(100 * gt["map3d"]["completeness"], 1, " %")))
        gt_rows.append(("3D map accuracy (median)", _f(gt["map3d"]["accuracy_cm_median"], 1, " cm")))
    if gt.get("objects"):
        seen = gt["objects"].get("scored_against") == "seen"
        for t, dsc in gt["objects"]["detection"].items():
            what = " (objects the camera saw)" if seen else ""
            gt_rows.append((f"object F1 @ IoU {t}{what}", _f(dsc["f1"], 2)))
        d25 = gt["objects"]["detection"].get("0.25")
        if d25 is not None:
            gt_rows.append(
                ("objects found @ IoU 0.25", f"{d25['true_positives']} of {d25['n_ground_truth']} seen objects")
            )
    every = (gt.get("objects_in_scene") or {}).get("detection", {}).get("0.25")
    if every is not None and (gt.get("objects") or {}).get("scored_against") == "seen":
        gt_rows.append(
            (
                "objects found of the whole scene @ IoU 0.25",
                f"{every['true_positives']} of {every['n_ground_truth']} (recall {_f(every['recall'], 2)}; "
                "includes objects the camera never saw)",
            )
        )
    if gt.get("nav"):
        gt_rows.append(
            (
                "navigation success",
                _f(100 * gt["nav"]["success_rate"], 0, " %") + f" of {gt['nav']['n_pairs']} pairs",
            )
        )
        gt_rows.append(("navigation collisions", _f(100 * gt["nav"]["collision_rate"], 0, " %")))
    meta_rows = [(k, v) for k, v in meta.items()]
    path_txt = f"{path_info['status']}" + (
        f", {path_info['length_m']:.2f} m from {np.round(path_info['start_xy'], 2).tolist()} "
        f"to {np.round(path_info['goal_xy'], 2).tolist()} ({path_info['goal_source']})"
        if path_info.get("status") == "ok"
        else ""
    )

    sections = [
        (
            "Latency per stage",
            "latency",
            "Milliseconds per frame in each stage, as measured: each frame's time is a step one frame wide; "
            "the graph and costmap refreshes run every few frames and show as dots on the frames they ran "
            "in (nothing is drawn between them). 'total' runs from the start of a frame's processing "
            "(realtime mode: its arrival) to its result, waits between the overlapping stages included.",
        ),
        (
            "Sensor health per frame",
            "health",
            "The sensor health check of each checked frame (PipelineConfig.health_check, real3d run --health): "
            "the share of pixels with valid depth, sharpness, mean brightness and the noise estimate; "
            "'flagged' is 100 on frames that failed a check (the settings list them and the reason).",
        ),
        (
            "Segmentation samples",
            "segmentation",
            "Evenly spaced frames: colour, the network's labels and, where the source has them, the ground truth.",
        ),
        (
            "Top-down map",
            "topdown",
            "The costmap from above in the map frame (axes in metres, the origin marked where it is on the "
            "map); the legend names every colour: the cells' states, the object boxes by class, the camera "
            f"trajectory, the planned path, its start and goal. Path: {path_txt}.",
        ),
        (
            "Map labels: 2D fusion and 3D network",
            "refined",
            "The semantic map from above (highest labelled surface per cell, ceiling left out): left the "
            "2D segmentation fused over the frames, right the same map after the 3D network "
            f"({(meta.get('map refiner') or '').split(' (')[0]}) refined it; the scene graph uses the right one.",
        ),
        (
            "Where the map is unsure",
            "uncertainty",
            "The fused labels from above (left; highest labelled surface per cell, ceiling left out) and "
            "how sure the map is of them (right): the normalised entropy of each voxel's class evidence, "
            "pale where one class holds it all, dark red where all classes are equally likely.",
        ),
        (
            "Scene graph",
            "graph",
            "Objects and structure at their positions seen from above (edges coloured by relation, legend "
            "at the top). Captions are placed so that none covers another or a node; a thin dark line joins "
            "a caption set further out to its node, and captions with no free spot are listed underneath. "
            "Objects resting on another object are drawn a little higher up the picture.",
        ),
        (
            "Class histogram",
            "classes",
            "Share of segmented pixels per class"
            + (" next to the ground truth share." if gt_counts is not None else "."),
        ),
        ("Memory", "memory", "Voxels in the map and resident memory of the process over the run."),
    ]
    h = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>real3d report</title><style>{_CSS}</style>"
        "</head><body>",
        "<h1>real3d run report</h1>",
        f"<p class='note'>{html.escape(str(meta.get('input', '')))} &middot; "
        f"{html.escape(time.strftime('%Y-%m-%d %H:%M:%S'))}</p>",
        "<div>"
        + "".join(f"<span class='kpi'><b>{html.escape(v)}</b>{html.escape(k)}</span>" for k, v in kpis)
        + "</div>",
    ]
    if meta.get("partial run"):
        h.append(f"<p><b>Partial run:</b> {html.escape(str(meta['partial run']))}</p>")
    if meta.get("warning"):
        h.append(f"<p><b>Note:</b> {html.escape(str(meta['warning']))}</p>")
    if gt_rows:
        h += ["<h2>Quality against ground truth</h2>", _table_html(gt_rows, ["metric", "value"])]
    for title, key, note in sections:
        if key not in paths:
            continue
        h += [
            f"<h2>{html.escape(title)}</h2>",
            f"<p class='note'>{html.escape(note)}</p>",
            f"<img src='report_files/{key}.png' alt='{html.escape(title)}'>",
        ]
        if key == "latency":
            h.append(_table_html(lat_rows, ["stage", "p50 ms", "p95 ms", "mean ms"]))
    h += ["<h2>Frames</h2>", _table_html(status_rows, ["status", "frames"])]
    if issues:
        h += [
            "<p class='note'>Frames not fused and why:</p>",
            _table_html(issues[:200], ["frame", "what", "reason"]),
        ]
    h += ["<h2>Run</h2>", _table_html(meta_rows, ["setting", "value"]), "</body></html>"]
    html_path = atomic_write_text(out / "report.html", "\n".join(h))

    md = [
        "# real3d run report",
        "",
        f"{meta.get('input', '')}",
        "",
        _table_md([(k, v) for k, v in kpis], ["", ""]),
        "",
    ]
    if meta.get("partial run"):
        md += [f"**Partial run:** {meta['partial run']}", ""]
    if meta.get("warning"):
        md += [f"**Note:** {meta['warning']}", ""]
    if gt_rows:
        md += ["## Quality against ground truth", "", _table_md(gt_rows, ["metric", "value"]), ""]
    for title, key, note in sections:
        if key not in paths:
            continue
        md += [f"## {title}", "", note, "", f"![{title}](report_files/{key}.png)", ""]
        if key == "latency":
            md += [_table_md(lat_rows, ["stage", "p50 ms", "p95 ms", "mean ms"]), ""]
    md += ["## Frames", "", _table_md(status_rows, ["status", "frames"]), ""]
    if issues:
        md += [_table_md(issues[:200], ["frame", "what", "reason"]), ""]
    md += ["## Run", "", _table_md(meta_rows, ["setting", "value"]), ""]
    md_path = atomic_write_text(out / "report.md", "\n".join(md))
    return html_path, md_path


def write_run_outputs(
    out_dir,
    pipeline,
    summary,
    recorder: RunRecorder,
    meta: dict | None = None,
    scene=None,
    goal_xy=None,
    *,
    atomic: bool = True,
    stopped_by: str | None = None,
    extra_metrics: dict | None = None,
) -> dict:
    """Write every output file of a run into ``out_dir`` (see the module docstring).

    Args:
        pipeline: the ``Pipeline`` after ``run``.
        summary: its ``RunSummary``; ``summary.stopped`` marks the set partial.
        recorder: the ``RunRecorder`` that watched the run.
        extra_metrics: further top-level entries of metrics.json (e.g. ``sensor_health``).
        meta: settings shown in the report (input, model, backend, ...).
        scene: ``SceneGT`` of a synthetic source (enables the ground-truth metrics); its
            labels are made in the pipeline's label set from the engine's classes
            (``real3d.eval.ground_truth.ground_truth_scene``).
        goal_xy: (2,) world metres; None picks ``auto_goal``.
        atomic: write the set into a temporary sibling folder and swap it in whole
            (``OutputSet``; ``out_dir`` is checked first, see ``check_output_folder``);
            False: write into ``out_dir`` as it is (for a caller that already writes
            into an ``OutputSet``'s staging folder).
        stopped_by: what stopped the run early (e.g. ``"SIGINT"``), for the report.

    Returns:
        {"files": {name: path}, "metrics": the metrics.json content}.

    Raises:
        InputError: ``out_dir`` cannot take the set (checked before anything is written).
        ConfigError: ``scene``'s ground truth cannot be labelled in the pipeline's label
            set (checked before anything is written).
        OutputError: a write failed (disk full, ...): the earlier set in ``out_dir`` is
            kept (atomic) and no temporary is left.
    """
    if scene is not None:
        from real3d.eval.ground_truth import ground_truth_scene

        scene = ground_truth_scene(scene, _label_set(pipeline))
    args = (pipeline, summary, recorder, meta, scene, goal_xy, stopped_by, extra_metrics)
    if not atomic:
        return _write_outputs(Path(out_dir), *args)
    with OutputSet(out_dir) as outs:
        result = _write_outputs(outs.staging, *args)
        result["files"] = {k: outs.final(v) for k, v in result["files"].items()}
        outs.commit()
    return result


def _mean_label_entropy(semantic_map) -> float | None:
    """Mean normalised label entropy over the voxels with class evidence (None: none)."""
    if not len(semantic_map):
        return None
    rows = np.flatnonzero(semantic_map.voxel_arrays()["class_weight"] > 0)
    return float(semantic_map.label_entropy(rows).mean()) if len(rows) else None


def _write_outputs(out: Path, *args) -> dict:
    try:
        return _write_files(out, *args)
    except OSError as e:
        raise OutputError(
            f"could not write the run's outputs ({e.strerror or e}"
            f"{': ' + Path(e.filename).name if e.filename else ''}); "
            "an earlier output set is kept"
        ) from e


def _write_files(out: Path, pipeline, summary, recorder, meta, scene, goal_xy, stopped_by, extra_metrics) -> dict:
    from real3d.mapping.export import export_point_cloud_ply
    from real3d.nav.nav2 import NAV2_UNKNOWN, write_nav2_image, write_nav2_map
    from real3d.scene.graph import frame_header

    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    meta.setdefault("gravity frame", getattr(pipeline, "gravity_note", ""))
    partial = bool(getattr(summary, "stopped", False)) or stopped_by is not None
    if partial:
        meta["partial run"] = (
            f"stopped early{' by ' + stopped_by if stopped_by else ''} after "
            f"{summary.frames_in} frames ({summary.processed} processed): the outputs describe "
            "those frames only"
        )
    files = {}
    header = frame_header(
        getattr(pipeline, "gravity_T_world", None),
        getattr(pipeline, "gravity_note", None),
        getattr(recorder, "last_fused_s", None),
    )
    comments = frame_comments(header)
    # Refresh the derived structures once, so every file below describes the final map.
    graph = pipeline.scene_graph
    path_info = plan_for_report(pipeline, goal_xy, header=header)
    files["path.json"] = write_json(out / "path.json", path_info)
    files["semantic_map.ply"] = export_point_cloud_ply(
        pipeline.map, out / "semantic_map.ply", label_set=_label_set(pipeline), comments=comments
    )
    files["scene_graph.json"] = atomic_write_text(out / "scene_graph.json", graph.to_json(header=header))
    if pipeline.costmap is not None:
        img = _topdown(pipeline, path_info)
    else:
        from PIL import Image, ImageDraw

        img = Image.new("RGB", (400, 120), (160, 160, 160))
        ImageDraw.Draw(img).text((10, 50), "empty map: no frame was fused", fill=(0, 0, 0))
    files["costmap.png"] = atomic_save_png(img, out / "costmap.png")
    if pipeline.costmap is not None:
        files["map.yaml"], files["map.pgm"] = write_nav2_map(pipeline.costmap, out / "map.yaml", comments=comments)
    else:  # nothing fused: one unknown cell at the origin, still a map nav2 loads
        res = getattr(getattr(getattr(pipeline, "config", None), "costmap", None), "resolution_m", 0.05)
        files["map.yaml"], files["map.pgm"] = write_nav2_image(
            np.full((1, 1), NAV2_UNKNOWN, np.uint8), res, (0.0, 0.0), out / "map.yaml", comments=comments
        )

    metrics = {
        "schema": METRICS_SCHEMA,
        "version": METRICS_SCHEMA_VERSION,
        **header,
        "partial": partial,
        "stopped_by": stopped_by if stopped_by else ("stop requested" if partial else None),
        "run": summary.to_dict(),
        "map": {
            "voxels": len(pipeline.map),
            "bytes": pipeline.map.nbytes,
            "frames_fused": pipeline.frames_fused,
            "free_cells": pipeline.map.num_free_cells,
            "mean_label_entropy": _mean_label_entropy(pipeline.map),
        },
        "scene_graph": {
            "objects": len(graph.objects()),
            "structures": len(graph.structures()),
            "rooms": len(graph.rooms()),
            "edges": len(graph.edges),
        },
        "path": {k: path_info.get(k) for k in ("status", "length_m", "goal_source")},
        "peak_rss_mb": peak_rss_mb(),
        "rss_mb_over_run": [[int(k), float(v)] for k, v in recorder.rss],
        "settings": meta,
    }
    gt = (
        ground_truth_metrics(pipeline, recorder, scene)
        if (scene is not None or recorder.confusion is not None)
        else None
    )
    metrics["ground_truth"] = gt
    metrics.update(extra_metrics or {})
    files["metrics.json"] = write_json(out / "metrics.json", metrics)
    html_path, md_path = write_report(out, meta, summary, recorder, pipeline, path_info, metrics)
    files["report.html"], files["report.md"] = html_path, md_path
    return {"files": files, "metrics": metrics}
