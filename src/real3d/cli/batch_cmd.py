"""``real3d batch INPUTS... --out DIR``: ``real3d run`` over many sequences.

Each input is a recording path, a glob pattern (quoted, so the shell leaves it alone) or a
``.txt`` list of paths (one per line, ``#`` starts a comment, relative paths are relative to
the list's folder). Every sequence runs as its own ``real3d run`` process (a crash, a
memory error or a hang in one cannot take the others down; ``--jobs`` run side by side)
into ``DIR/NAME/``, NAME being the sequence's file or folder name (``-2``, ``-3`` ... after
repeated names). Its console output goes to ``DIR/logs/NAME.log``.

Schedulers (``--scheduler``): ``local`` (the default) runs ``--jobs`` sequences side by
side on this machine; ``ray`` runs one Ray task per sequence, each declaring
``--cpus-per-task`` CPUs, on a local Ray started for the batch (``--jobs`` x
``--cpus-per-task`` CPUs) or on the cluster at ``--address``. A task runs the same
``real3d run`` process as the local scheduler, on whichever node has room, so the inputs
and DIR must be paths every node sees (a shared file system) and real3d must be installed
on every node. Ray is the optional extra ``real3d[ray]``; without it ``--scheduler ray``
stops at once with a ConfigError naming the extra.

Resuming: a sequence whose ``DIR/NAME/metrics.json`` says it ran complete (not partial)
on the same input is skipped (``--force`` runs it again). A failing sequence is reported
and the others go on. ``DIR/batch_summary.json`` (and a table on the console) lists each
sequence's status (``done``, ``done earlier``, ``failed``, ``not run``), its figures and,
for failures, the reason; the command exits 1 when any sequence failed. Ctrl-C starts no
further sequence, lets the running ones write their partial outputs (they get the same
SIGINT and are then "failed": a partial run is not finished), writes the summary and
exits 130.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import typer

#: batch_summary.json's schema name and version
SUMMARY_SCHEMA = "real3d.batch"
SUMMARY_VERSION = 1
#: lines of a failed run's output kept as its reason
_REASON_LINES = 3


def expand_inputs(items: list[str]) -> list[Path]:
    """The sequences named by ``items`` (paths, glob patterns, ``.txt`` lists), each once,
    in the order given (a pattern's matches sorted).

    Raises:
        InputError: an item that names nothing (a missing path, a pattern without matches,
            an empty list), or a list line that names a missing path.
    """
    from real3d.core.errors import InputError

    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_file() and p.suffix.lower() == ".txt":
            lines = [ln.split("#", 1)[0].strip() for ln in p.read_text().splitlines()]
            found = [(p.parent / ln) if not Path(ln).is_absolute() else Path(ln) for ln in lines if ln]
            if not found:
                raise InputError(f"batch: the list {p} names no sequence")
            missing = [str(f) for f in found if not f.exists()]
            if missing:
                raise InputError(f"batch: the list {p} names missing paths: {', '.join(missing[:5])}")
        elif any(c in item for c in "*?["):
            found = [Path(m) for m in sorted(glob.glob(item))]
            if not found:
                raise InputError(f"batch: the pattern {item!r} matches nothing")
        elif p.exists():
            found = [p]
        else:
            raise InputError(f"batch: {item}: not found (expected a recording, a glob pattern or a .txt list)")
        out.extend(found)
    seen, unique = set(), []
    for p in out:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def sequence_names(paths: list[Path]) -> list[str]:
    """One output folder name per sequence: its name without a recording suffix, ``-2``,
    ``-3`` ... appended to repeats (in input order, so a list run again gets the same)."""
    names, used = [], set()
    for p in paths:
        base = p.stem if p.is_file() else p.name
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in base) or "sequence"
        if base in ("logs", "batch_summary.json", "batch_summary.md"):
            base = f"{base}_seq"
        name, k = base, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        names.append(name)
    return names


def finished_earlier(folder: Path, input: Path) -> dict | None:
    """``metrics.json`` of ``folder`` when it holds a complete run of ``input``, else None."""
    try:
        m = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("partial") is not False:
        return None
    given = (m.get("settings") or {}).get("input")
    if given is None or os.path.realpath(given) != os.path.realpath(input):
        return None
    return m


def _figures(m: dict) -> dict:
    run, mp, sg, path = m.get("run", {}), m.get("map", {}), m.get("scene_graph", {}), m.get("path", {})
    return {
        "frames_in": run.get("frames_in"),
        "fused": (run.get("counts") or {}).get("fused"),
        "fps": run.get("fps"),
        "voxels": mp.get("voxels"),
        "objects": sg.get("objects"),
        "path": path.get("status"),
    }


def run_one(input: Path, out: Path, log: Path, run_args: list[str], timeout_s: float | None) -> tuple[int, str]:
    """``real3d run INPUT --out OUT RUN_ARGS`` in its own process with the same real3d and
    Python as this one; its output goes to ``log``. Returns (exit code, the last lines of
    its error output); a run past ``timeout_s`` is killed (exit code -9)."""
    import real3d

    src = str(Path(real3d.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "real3d.cli.main", "run", str(input), "--out", str(out), *run_args]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        try:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            fh.write(f"\nreal3d batch: killed after {timeout_s:g} s\n")
            return -9, f"timed out after {timeout_s:g} s"
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() or "Traceback" in ln]
    return rc, " | ".join((errors or lines)[-_REASON_LINES:]).strip()


def process_sequence(
    name: str, input: Path, out: Path, run_args: list[str], force: bool = False, timeout_s: float | None = None
) -> dict:
    """One sequence of a batch: skipped when ``out/NAME`` holds a complete run of
    ``input`` (unless ``force``), else ``real3d run`` into it (:func:`run_one`). Returns its
    summary entry (name, input, output, log, status ``done`` / ``done earlier`` /
    ``failed``, exit code, wall seconds, reason, figures). Runs wherever the scheduler
    puts it (a thread of this process, a Ray worker): it needs only the paths."""
    folder = out / name
    log = out / "logs" / f"{name}.log"
    entry = {"name": name, "input": str(input), "output": str(folder), "log": str(log)}
    earlier = None if force else finished_earlier(folder, input)
    if earlier is not None:
        entry.update(status="done earlier", exit_code=0, wall_s=0.0, reason=None, **_figures(earlier))
        return entry
    t0 = time.perf_counter()
    rc, reason = run_one(input, folder, log, run_args, timeout_s)
    entry.update(exit_code=rc, wall_s=round(time.perf_counter() - t0, 2))
    m = finished_earlier(folder, input) if rc == 0 else None
    if m is not None:
        entry.update(status="done", reason=None, **_figures(m))
    else:
        entry.update(status="failed", reason=reason or f"exit code {rc}")
    return entry


def _not_run(name: str, input: Path, out: Path, reason: str) -> dict:
    return {
        "name": name,
        "input": str(input),
        "output": str(out / name),
        "log": str(out / "logs" / f"{name}.log"),
        "status": "not run",
        "exit_code": None,
        "wall_s": 0.0,
        "reason": reason,
    }


def _failed(name: str, input: Path, out: Path, reason: str) -> dict:
    return _not_run(name, input, out, reason) | {"status": "failed"}


@dataclass(frozen=True)
class RayOptions:
    """How ``run_batch(scheduler="ray")`` uses Ray.

    Attributes:
        address: a running Ray cluster (``ray://head:10001``, ``head:6379`` or ``auto``);
            None: the cluster this process is connected to already, else a local Ray
            started for the batch (and stopped after it) with ``num_cpus`` CPUs.
        cpus_per_task: CPUs each sequence's task declares (Ray starts a task only where
            that many are free). Match it to ``real3d run --threads``.
        num_cpus: CPUs of a local Ray started for the batch (None: ``jobs`` x
            ``cpus_per_task``).
        object_store_memory_mb: object store of a local Ray started for the batch, MiB
            (tasks return small summaries; the outputs go to the shared file system).
    """

    address: str | None = None
    cpus_per_task: float = 1.0
    num_cpus: int | None = None
    object_store_memory_mb: int = 128


#: the extra that installs Ray
RAY_EXTRA = "real3d[ray]"


def import_ray():
    """The ``ray`` module; ConfigError naming the extra when Ray is not installed."""
    from real3d.core.errors import ConfigError

    try:
        import ray
    except ImportError as e:
        raise ConfigError(
            f"--scheduler ray needs Ray, which is not installed ({e}); install the extra: "
            f"pip install '{RAY_EXTRA}' (or use --scheduler local)"
        ) from None
    return ray


def _run_local(names, inputs, out, run_args, *, jobs, force, timeout_s, on_result, stop):
    """Each sequence in a thread of this process (its ``real3d run`` in a process of its
    own), ``jobs`` at a time. Returns (entries, interrupted)."""
    entries: list[dict | None] = [None] * len(inputs)

    def one(k: int) -> dict:
        if stop.is_set():
            return _not_run(names[k], inputs[k], out, "the batch was stopped first")
        return process_sequence(names[k], inputs[k], out, run_args, force, timeout_s)

    interrupted = False
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(one, k): k for k in range(len(inputs))}
        pending = set(futures)
        while pending:
            try:
                for fut in as_completed(pending):
                    pending.discard(fut)
                    k = futures[fut]
                    entries[k] = fut.result()
                    if on_result is not None:
                        on_result(entries[k])
            except KeyboardInterrupt:
                if interrupted:
                    raise  # a second Ctrl-C: give up waiting
                interrupted = True
                stop.set()
    return entries, interrupted


def _run_ray(names, inputs, out, run_args, *, jobs, force, timeout_s, on_result, stop, options: RayOptions):
    """Each sequence as one Ray task (``options.cpus_per_task`` CPUs declared) running
    :func:`process_sequence` on whichever node has room. A task that dies (its worker or
    node lost, after one retry) is a failed sequence; the others go on. Returns (entries,
    interrupted)."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        if options.address is not None:
            ray.init(address=options.address, log_to_driver=False)
        else:
            import real3d

            src = str(Path(real3d.__file__).resolve().parents[1])
            pythonpath = src + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
            ray.init(
                num_cpus=options.num_cpus or max(1, math.ceil(jobs * options.cpus_per_task)),
                include_dashboard=False,
                object_store_memory=options.object_store_memory_mb * 1024**2,
                log_to_driver=False,
                # the workers import this real3d, as run_one's processes do
                runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
            )
        started = True
    try:
        task = ray.remote(num_cpus=options.cpus_per_task, max_retries=1)(process_sequence)
        entries: list[dict | None] = [None] * len(inputs)
        refs = {}
        for k in range(len(inputs)):
            ref = task.remote(names[k], inputs[k], out, run_args, force, timeout_s)
            refs[ref] = k
        pending = list(refs)
        interrupted = cancelled = False
        while pending:
            try:
                ready, pending = ray.wait(pending, num_returns=1, timeout=1.0 if stop.is_set() else None)
            except KeyboardInterrupt:
                ready = []
                if interrupted:
                    raise  # a second Ctrl-C: give up waiting
                interrupted = True
                stop.set()
            if stop.is_set() and not cancelled:
                # queued tasks never start; running ones are interrupted (their run is killed)
                cancelled = True
                for ref in pending:
                    ray.cancel(ref, force=False)
            for ref in ready:
                k = refs[ref]
                try:
                    entries[k] = ray.get(ref)
                except ray.exceptions.TaskCancelledError:
                    # started (its log exists) and stopped: failed, as a local run Ctrl-C'd
                    log = out / "logs" / f"{names[k]}.log"
                    if log.exists():
                        entries[k] = _failed(names[k], inputs[k], out, "stopped with the batch")
                    else:
                        entries[k] = _not_run(names[k], inputs[k], out, "the batch was stopped first")
                except ray.exceptions.RayError as e:
                    first = str(e).strip().splitlines()
                    entries[k] = _failed(
                        names[k], inputs[k], out, f"Ray task: {first[0] if first else type(e).__name__}"
                    )
                if on_result is not None:
                    on_result(entries[k])
        return entries, interrupted
    finally:
        if started:
            ray.shutdown()


#: the schedulers of ``run_batch``
SCHEDULERS = ("local", "ray")


def run_batch(
    inputs: list[Path],
    out: Path,
    run_args: list[str],
    *,
    jobs: int = 1,
    force: bool = False,
    timeout_s: float | None = None,
    on_result=None,
    stop: threading.Event | None = None,
    scheduler: str = "local",
    ray_options: RayOptions | None = None,
) -> dict:
    """Run every sequence of ``inputs`` into ``out/NAME`` (see the module docstring) and
    write ``out/batch_summary.json``; returns its content. ``on_result(entry)`` is called
    as each sequence ends. Once ``stop`` is set no further sequence starts (they are listed
    as "not run"); a Ctrl-C sets it, lets the running sequences write their partial outputs
    (they receive the same SIGINT) and writes the summary (``"interrupted": true``) before
    KeyboardInterrupt is raised again.

    ``scheduler``: ``"local"`` runs ``jobs`` sequences side by side on this machine;
    ``"ray"`` runs one Ray task per sequence (``ray_options``: the cluster and the CPUs each
    task declares; ``jobs`` sizes a local Ray started for the batch). With Ray, ``inputs``
    and ``out`` must be paths every node sees (a shared file system). Raises ConfigError
    for an unknown scheduler, or ``"ray"`` without Ray installed (before any work)."""
    from real3d.core.errors import ConfigError
    from real3d.core.files import atomic_write_text

    if scheduler not in SCHEDULERS:
        raise ConfigError(f"batch: scheduler expected one of {SCHEDULERS}, got {scheduler!r}")
    if scheduler == "ray":
        import_ray()
    stop = stop if stop is not None else threading.Event()
    out.mkdir(parents=True, exist_ok=True)
    names = sequence_names(inputs)
    common = dict(jobs=jobs, force=force, timeout_s=timeout_s, on_result=on_result, stop=stop)
    if scheduler == "ray" and not stop.is_set():
        entries, interrupted = _run_ray(names, inputs, out, run_args, **common, options=ray_options or RayOptions())
    else:
        entries, interrupted = _run_local(names, inputs, out, run_args, **common)
    counts = {
        "sequences": len(entries),
        "done": sum(e["status"] == "done" for e in entries),
        "done_earlier": sum(e["status"] == "done earlier" for e in entries),
        "failed": sum(e["status"] == "failed" for e in entries),
        "not_run": sum(e["status"] == "not run" for e in entries),
    }
    summary = {
        "schema": SUMMARY_SCHEMA,
        "version": SUMMARY_VERSION,
        "interrupted": interrupted,
        "scheduler": scheduler,
        "run_args": run_args,
        "counts": counts,
        "frames_fused": sum(e.get("fused") or 0 for e in entries),
        "sequences": entries,
    }
    atomic_write_text(out / "batch_summary.json", json.dumps(summary, indent=1) + "\n")
    atomic_write_text(out / "batch_summary.md", summary_markdown(summary))
    if interrupted:
        raise KeyboardInterrupt
    return summary


def _cell(v, fmt: str = "{}") -> str:
    return "" if v is None else fmt.format(v).replace("|", "\\|")


def summary_markdown(summary: dict) -> str:
    """``batch_summary.md``: the counts, a table of every sequence (status and figures)
    and the reason of each failure, for people."""
    c = summary["counts"]
    lines = [
        "# real3d batch",
        "",
        f"{c['sequences']} sequences: {c['done']} done, {c['done_earlier']} done earlier, "
        f"{c['failed']} failed, {c['not_run']} not run" + (" (interrupted)" if summary["interrupted"] else ""),
        "",
        "| sequence | status | frames fused | fps | voxels | objects | path | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in summary["sequences"]:
        row = (
            _cell(e["name"]),
            _cell(e["status"]),
            _cell(e.get("fused")),
            _cell(e.get("fps"), "{:.1f}"),
            _cell(e.get("voxels"), "{:,}"),
            _cell(e.get("objects")),
            _cell(e.get("path")),
            _cell(e.get("wall_s"), "{:.1f}"),
        )
        lines.append("| " + " | ".join(row) + " |")
    failed = [e for e in summary["sequences"] if e["status"] == "failed"]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- **{e['name']}** ({e['input']}): {e['reason']} (log: {e['log']})" for e in failed]
    return "\n".join(lines) + "\n"


def batch(
    inputs: list[str] = typer.Argument(
        ..., help="Recordings, quoted glob patterns ('data/*.bag') or .txt lists of paths."
    ),
    out: Path = typer.Option(Path("real3d_batch"), "--out", help="Output folder: one subfolder per sequence."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Sequences run side by side (processes)."),
    force: bool = typer.Option(False, "--force", help="Run sequences again that finished in an earlier batch."),
    timeout_s: float | None = typer.Option(None, "--timeout-s", help="Stop a sequence's run after this many seconds."),
    model: str | None = typer.Option(None, "--model", help="Passed to real3d run."),
    rgb_model: str | None = typer.Option(None, "--rgb-model", help="Passed to real3d run."),
    backend: str | None = typer.Option(None, "--backend", help="Passed to real3d run."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Passed to real3d run."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="Passed to real3d run."),
    intrinsics: str | None = typer.Option(None, "--intrinsics", help="Passed to real3d run."),
    depth_scale: float | None = typer.Option(None, "--depth-scale", help="Passed to real3d run."),
    run_args: str = typer.Option("", "--run-args", help="Further real3d run options, as one quoted string."),
    scheduler: str = typer.Option(
        "local", "--scheduler", help="local: --jobs processes here; ray: one Ray task per sequence (real3d\\[ray])."
    ),
    address: str | None = typer.Option(
        None, "--address", help="Ray: the cluster to use (ray://HEAD:10001, HEAD:6379, auto); default a local Ray."
    ),
    cpus_per_task: float = typer.Option(
        1.0, "--cpus-per-task", min=0.01, help="Ray: CPUs each sequence's task declares."
    ),
) -> None:
    """Run the whole pipeline over every sequence of INPUTS into OUT/NAME, skipping those
    finished earlier, going on after failures, and write OUT/batch_summary.json."""
    from rich.console import Console
    from rich.table import Table

    from real3d.cli.values import check_rate
    from real3d.core.errors import ConfigError, InputError

    if scheduler not in SCHEDULERS:
        raise ConfigError(f"--scheduler: expected one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
    if scheduler == "ray":
        import_ray()  # before any work: ConfigError naming the extra
    elif address is not None:
        raise InputError("--address names a Ray cluster; it needs --scheduler ray")
    if timeout_s is not None:
        check_rate(timeout_s, "--timeout-s")
    paths = expand_inputs(inputs)
    given = {
        "--model": model,
        "--rgb-model": rgb_model,
        "--backend": backend,
        "--max-frames": max_frames,
        "--threads": threads,
        "--intrinsics": intrinsics,
        "--depth-scale": depth_scale,
    }
    try:
        extra = shlex.split(run_args)
    except ValueError as e:
        raise InputError(f"--run-args: cannot split {run_args!r}: {e}") from None
    if "--out" in extra:
        raise InputError("--run-args: --out is set by batch (OUT/NAME); leave it out")
    args = [v for k, val in given.items() if val is not None for v in (k, str(val))] + extra
    out_path = Path(out)
    if out_path.exists() and not out_path.is_dir():
        raise InputError(f"--out {out}: expected a folder (or a new name), got a file")
    console = Console(stderr=True)

    def report(e: dict) -> None:
        style = {"failed": "red", "done earlier": "dim"}.get(e["status"], "green")
        console.print(f"{e['name']}: {e['status']}" + (f": {e['reason']}" if e["reason"] else ""), style=style)

    try:
        summary = run_batch(
            paths,
            out_path,
            args,
            jobs=jobs,
            force=force,
            timeout_s=timeout_s,
            on_result=report,
            scheduler=scheduler,
            ray_options=RayOptions(address=address, cpus_per_task=cpus_per_task),
        )
    except KeyboardInterrupt:
        typer.echo(f"real3d batch: interrupted; what ran is listed in {out_path / 'batch_summary.json'}", err=True)
        raise typer.Exit(130) from None
    t = Table(title=f"real3d batch: {len(paths)} sequences")
    for col in ("sequence", "status", "frames fused", "fps", "voxels", "objects", "path", "wall s"):
        t.add_column(col)
    for e in summary["sequences"]:
        t.add_row(
            e["name"],
            e["status"],
            "" if e.get("fused") is None else str(e["fused"]),
            "" if e.get("fps") is None else f"{e['fps']:.1f}",
            "" if e.get("voxels") is None else f"{e['voxels']:,}",
            "" if e.get("objects") is None else str(e["objects"]),
            e.get("path") or "",
            f"{e['wall_s']:.1f}",
        )
    Console().print(t)
    c = summary["counts"]
    typer.echo(
        f"{c['done']} done, {c['done_earlier']} done earlier, {c['failed']} failed: {out_path / 'batch_summary.json'}"
    )
    if c["failed"]:
        raise typer.Exit(1)
