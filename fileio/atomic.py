"""Atomic whole-file writes: a reader, or a process killed mid-write, sees the old file or the new one.

The data goes to a temporary file in the destination's folder, is flushed to disk and renamed over the
destination (POSIX rename is atomic within one filesystem); the folder is then fsync'ed so the rename
itself survives a power cut. Streamed writers (generation/highres.py) and whole folders
(generation/export.py) use the same rename with their own temporary names.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Iterator


def fsync_file(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, suffix: str = "") -> Iterator[pathlib.Path]:
    """A temporary path beside `path` for a writer that wants a file name (np.savez, PIL, tf.io).

    On a normal exit the file is fsync'ed and renamed onto `path`; on an exception it is removed and
    `path` is untouched. `suffix` ends the temporary name (np.savez appends ".npz" to names without it).
    The folder is created if missing.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; keep the usual permissions
        yield pathlib.Path(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_atomic(path, data: bytes | str) -> None:
    """Write `data` (str as UTF-8) to `path` atomically."""
    data = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
