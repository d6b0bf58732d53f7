"""fileio.atomic: a write either replaces the whole file or leaves the old one, and leaves no temporary file."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from fid.statistics import save_statistics
from fileio.atomic import atomic_path, write_atomic


def test_write_atomic_replaces_the_file_with_the_usual_permissions_and_no_leftovers(tmp_path):
    path = tmp_path / "sub" / "state.txt"  # the folder is made
    write_atomic(path, "first")
    write_atomic(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    assert os.listdir(path.parent) == ["state.txt"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk"):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half a fi")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["grid.png"]


def test_statistics_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "ref.npz"
    mu, sigma = np.arange(3.0), np.eye(3)
    save_statistics(path, mu, sigma)
    with np.load(path) as saved:
        np.testing.assert_array_equal(saved["mu"], mu)
        np.testing.assert_array_equal(saved["sigma"], sigma)

    def savez_then_fail(file, **arrays):  # writes part of an archive, then the disk fills up
        with open(file, "wb") as fh:
            fh.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError):
        save_statistics(path, mu + 1, sigma)
    with np.load(path) as saved:  # the old statistics are intact
        np.testing.assert_array_equal(saved["mu"], mu)
    assert os.listdir(tmp_path) == ["ref.npz"]


def test_statistics_without_the_npz_suffix_get_it_as_numpy_names_them(tmp_path):
    save_statistics(tmp_path / "ref", np.zeros(2), np.eye(2))
    assert os.listdir(tmp_path) == ["ref.npz"]
