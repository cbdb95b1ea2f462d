import os

import numpy as np
import pytest

from real3d.core.files import atomic_path, atomic_write_bytes, atomic_write_files, atomic_write_text


def test_writes_leave_only_the_target_with_ordinary_permissions(tmp_path):
    atomic_write_bytes(tmp_path / "sub" / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "sub" / "b.txt", "héllo")
    assert sorted(os.listdir(tmp_path / "sub")) == ["a.bin", "b.txt"]
    assert (tmp_path / "sub" / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "héllo"
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "sub" / "a.bin").stat().st_mode & 0o777 == 0o666 & ~mask


def test_atomic_path_keeps_the_suffix_for_writers_that_read_it(tmp_path):
    target = tmp_path / "arrays.npz"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".npz" and tmp.parent == tmp_path and tmp != target
        np.savez(tmp, x=np.arange(3))  # would append .npz to any other name
    with np.load(target) as z:
        assert z["x"].tolist() == [0, 1, 2]
    assert os.listdir(tmp_path) == ["arrays.npz"]


def test_a_failed_writer_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "map.ply"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="writer failed"), atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["map.ply"]


def test_two_writers_of_one_target_get_their_own_temporaries(tmp_path):
    target = tmp_path / "graph.json"
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b
        a.write_text("first")
        b.write_text("second")
    assert target.read_text() == "first"  # the outer block renames last
    assert os.listdir(tmp_path) == ["graph.json"]


def test_a_group_is_written_whole_or_not_at_all(tmp_path):
    w, card = tmp_path / "w.safetensors", tmp_path / "w.json"
    atomic_write_files({w: b"tensors v1", card: "card v1"})
    assert (w.read_bytes(), card.read_text()) == (b"tensors v1", "card v1")
    with pytest.raises(TypeError):
        atomic_write_files({w: b"tensors v2", card: 12345})  # the card cannot be written
    assert (w.read_bytes(), card.read_text()) == (b"tensors v1", "card v1")
    assert sorted(os.listdir(tmp_path)) == ["w.json", "w.safetensors"]
    paths = atomic_write_files({w: b"tensors v2", card: "card v2"})
    assert paths == [w, card] and card.read_text() == "card v2"
