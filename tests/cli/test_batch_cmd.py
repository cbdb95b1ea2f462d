"""``real3d batch``: many sequences, one output set each, resumable, failures reported."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from real3d.cli.batch_cmd import expand_inputs, finished_earlier, sequence_names
from real3d.cli.main import app
from real3d.core.errors import InputError

TINY = ["--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Two tiny synthetic sequences and a corrupt bag."""
    from real3d.synth import generate_sequence, write_sequence

    root = tmp_path_factory.mktemp("seqs")
    seq = generate_sequence(10, 2, size=(48, 64))
    for k in range(2):
        write_sequence(root / f"room{k}", seq.frames, seq.scene, image_format="png")
    (root / "broken.bag").write_bytes(b"#ROSBAG V2.0\n" + b"\0" * 40)
    return root


@pytest.mark.slow  # five real3d run processes
def test_three_sequences_one_corrupt_two_done_one_failed_then_resumed(three, tmp_path):
    out = tmp_path / "out"
    args = ["batch", str(three / "room*"), str(three / "broken.bag"), "--out", str(out), "-j", "2", *TINY]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output
    s = json.loads((out / "batch_summary.json").read_text())
    assert s["schema"] == "real3d.batch"
    assert s["counts"] == {"sequences": 3, "done": 2, "done_earlier": 0, "failed": 1, "not_run": 0}
    assert s["interrupted"] is False
    by = {e["name"]: e for e in s["sequences"]}
    assert by["room0"]["status"] == by["room1"]["status"] == "done"
    assert by["room0"]["fused"] == 2 and (out / "room0" / "metrics.json").is_file()
    assert by["broken"]["status"] == "failed" and by["broken"]["exit_code"] != 0
    assert "rosbag" in by["broken"]["reason"] and (out / "logs" / "broken.log").is_file()
    assert "2 done, 0 done earlier, 1 failed" in r.output
    md = (out / "batch_summary.md").read_text()
    assert "| room0 | done | 2 |" in md and "- **broken**" in md
    # again: the finished sequences are skipped, the failed one is tried again
    r = CliRunner().invoke(app, args)
    s = json.loads((out / "batch_summary.json").read_text())
    assert s["counts"] == {"sequences": 3, "done": 0, "done_earlier": 2, "failed": 1, "not_run": 0}
    assert {e["name"]: e["status"] for e in s["sequences"]}["room1"] == "done earlier"
    assert s["frames_fused"] == 4


def test_inputs_from_a_list_and_names(tmp_path):
    for d in ("a/scene", "b/scene", "c"):
        (tmp_path / d).mkdir(parents=True)
    lst = tmp_path / "list.txt"
    lst.write_text("# sequences\na/scene\nb/scene  # the second\n\nc\na/scene\n")
    paths = expand_inputs([str(lst)])
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["a/scene", "b/scene", "c"]
    assert sequence_names(paths) == ["scene", "scene-2", "c"]
    assert sequence_names([tmp_path / "logs"]) == ["logs_seq"]


@pytest.mark.parametrize(
    "items,match",
    [
        (["nowhere"], "not found"),
        (["*.nomatch"], "matches nothing"),
    ],
)
def test_inputs_that_name_nothing(tmp_path, monkeypatch, items, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=match):
        expand_inputs(items)


def test_a_list_naming_a_missing_path(tmp_path):
    (tmp_path / "l.txt").write_text("gone\n")
    with pytest.raises(InputError, match="missing paths"):
        expand_inputs([str(tmp_path / "l.txt")])
    (tmp_path / "e.txt").write_text("# nothing\n")
    with pytest.raises(InputError, match="names no sequence"):
        expand_inputs([str(tmp_path / "e.txt")])


def test_finished_earlier_needs_a_complete_run_of_the_same_input(tmp_path):
    folder = tmp_path / "o"
    folder.mkdir()
    assert finished_earlier(folder, tmp_path / "x") is None
    m = {"partial": False, "settings": {"input": str(tmp_path / "x")}}
    (folder / "metrics.json").write_text(json.dumps(m))
    assert finished_earlier(folder, tmp_path / "x") == m
    assert finished_earlier(folder, tmp_path / "y") is None
    (folder / "metrics.json").write_text(json.dumps(m | {"partial": True}))
    assert finished_earlier(folder, tmp_path / "x") is None
    (folder / "metrics.json").write_text("{cut")
    assert finished_earlier(folder, tmp_path / "x") is None


def test_run_args_may_not_set_out(tmp_path):
    (tmp_path / "s").mkdir()
    r = CliRunner().invoke(app, ["batch", str(tmp_path / "s"), "--out", str(tmp_path / "o"), "--run-args", "--out x"])
    assert isinstance(r.exception, InputError) and "--out is set by batch" in str(r.exception)


def test_a_stopped_batch_starts_nothing_more(tmp_path):
    import threading

    from real3d.cli.batch_cmd import run_batch

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    stop = threading.Event()
    stop.set()
    s = run_batch([tmp_path / "a", tmp_path / "b"], tmp_path / "out", [], stop=stop)
    assert s["counts"]["not_run"] == 2 and s["counts"]["failed"] == 0
    assert [e["status"] for e in s["sequences"]] == ["not run", "not run"]
    assert not (tmp_path / "out" / "logs").exists()  # no process was started
    assert json.loads((tmp_path / "out" / "batch_summary.json").read_text())["counts"]["not_run"] == 2
