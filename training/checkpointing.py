"""Crash-safe checkpoints: a SIGKILL, a full disk or a power cut never leaves a run without
a restorable latest checkpoint (docs/reliability.md).

What TensorFlow 2.21 does on disk (read in tensorflow/python/checkpoint/
{checkpoint_management,functional_saver}.py and checked with strace):

1. `Checkpoint.write(prefix)` writes `<prefix>_temp/part-00000-of-00001.{data,index}`
   (each through a `.tempstate<random>` file and a rename), then MergeV2Checkpoints
   *renames* the data file to `<prefix>.data-00000-of-00001` and writes `<prefix>.index`
   *in place* (open with O_TRUNC, no rename), then removes the temp directory.
2. `CheckpointManager.save` then rewrites the `checkpoint` state file (temp file + rename),
   deletes the checkpoints beyond max_to_keep and rewrites the state file again.
3. Nothing is fsync'ed.

So with the stock manager a kill can only break the *latest* checkpoint when a checkpoint
number is written twice (the state file already names it while its data file is replaced
and its index truncated and rewritten; the loop did that when a stop signal arrived right
after a periodic save), and a power cut can leave renamed but unwritten files.

`AtomicCheckpointManager` (same `save` / `latest_checkpoint` / `checkpoints` as
tf.train.CheckpointManager, same `checkpoint` state file, so tf.train.latest_checkpoint
and generation/restore.py read its directories unchanged) makes the state file the single
commit point:

  write into a private staging folder -> fsync -> rename data, then index, into place ->
  fsync the folder -> atomically replace the state file (temp + fsync + rename) -> only
  then delete checkpoints beyond max_to_keep -> rewrite the state file without them.

A checkpoint number that is already listed is first un-listed (the state file falls back
to the previous one) before its files are replaced. The state file therefore only ever
names complete, flushed checkpoints; a kill leaves at worst a staging folder (removed by
the next manager) or a complete but un-listed checkpoint (overwritten when the resumed
run reaches that step again).

Restoring (`restore_latest`) loads the checkpoint the state file names; if that fails (a
file damaged outside the trainer, a checkpoint of another configuration) it is a one-line
UserError naming the newest older checkpoint that does read, and nothing is changed: the
decision to fall back is the user's, not the trainer's. To take it, the user moves the
bad checkpoint's files away; a listed checkpoint with *no* files left is skipped with a
warning (the trainer itself never leaves one: it deletes only checkpoints older than the
committed latest).

Fault injection for tests: COCO_GAN_FAULT=<point>@<checkpoint number> makes the process
SIGKILL itself at <point> of that save; points are listed in FAULT_POINTS.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

import tensorflow as tf

from configs.errors import UserError
from fileio.atomic import fsync_dir, fsync_file, write_atomic

STATE_FILE = "checkpoint"
PREFIX = "ckpt"
STAGING_PREFIX = ".staging-"
FAULT_ENV = "COCO_GAN_FAULT"
FAULT_POINTS = (
    "mid_write",  # staging data file half written (as if killed inside Checkpoint.write)
    "before_commit",  # new files renamed into place, state file not yet updated
    "mid_prune",  # state file names the new checkpoint; first old file deleted, others not
)
_DATA_RE = re.compile(r"\.data-\d{5}-of-(\d{5})$")


# ----------------------------------------------------------------------------- helpers
def _fault(point: str, number: int, tag: str = "") -> None:
    """Test hook: SIGKILL this process at `point` when COCO_GAN_FAULT names it (`tag` + point@number)."""
    if os.environ.get(FAULT_ENV) == f"{tag}{point}@{number}":
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def io_error_message(action: str, path, error: BaseException) -> str:
    """One line for a failed write; names the disk-full case explicitly."""
    reason = getattr(error, "strerror", None) or getattr(error, "message", None) or str(error)
    reason = str(reason).strip().splitlines()[0] if str(reason).strip() else type(error).__name__
    full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "space" in reason.lower()
    hint = "the disk is full" if full else "disk full?"
    return f"could not {action} {path} ({reason[:200]}; {hint})"


def checkpoint_files(prefix) -> list:
    """The files of checkpoint `prefix` that exist (index and data shards)."""
    prefix = str(prefix)
    folder, name = os.path.split(prefix)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(
        os.path.join(folder, n)
        for n in names
        if n == name + ".index" or (n.startswith(name + ".data-") and _DATA_RE.search(n))
    )


def missing_files(prefix) -> list:
    """Why `prefix` is incomplete: names of absent files ([] when index and all shards exist)."""
    prefix = str(prefix)
    files = checkpoint_files(prefix)
    missing = [] if prefix + ".index" in files else [os.path.basename(prefix) + ".index"]
    shards = [f for f in files if f != prefix + ".index"]
    if not shards:
        return missing + [os.path.basename(prefix) + ".data-*"]
    n = int(_DATA_RE.search(shards[0]).group(1))
    for i in range(n):
        name = f"{prefix}.data-{i:05d}-of-{n:05d}"
        if name not in files:
            missing.append(os.path.basename(name))
    return missing


def verify_readable(prefix) -> None:
    """Raise if any tensor of checkpoint `prefix` cannot be read (missing, truncated, bad CRC)."""
    missing = missing_files(prefix)
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    reader = tf.train.load_checkpoint(str(prefix))
    for key in reader.get_variable_to_shape_map():
        reader.get_tensor(key)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


# ----------------------------------------------------------------------------- manager
class AtomicCheckpointManager:
    """Drop-in for tf.train.CheckpointManager(checkpoint, directory, max_to_keep) with atomic,
    flushed saves and pruning only after the new checkpoint is committed."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory, max_to_keep: int = 3, fault_tag: str = ""):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}")
        self.checkpoint = checkpoint
        self.directory = pathlib.Path(directory)
        self.max_to_keep = int(max_to_keep)
        self.fault_tag = fault_tag  # COCO_GAN_FAULT=<tag><point>@<number> targets this manager's saves
        self._listed, self._timestamps, self._latest = self._read_state()

    # --------------------------------------------------------------- state file
    @property
    def state_path(self) -> pathlib.Path:
        return self.directory / STATE_FILE

    def _read_state(self):
        if not self.state_path.exists():
            return [], [], None
        try:
            state = tf.train.get_checkpoint_state(str(self.directory))
        except Exception as e:  # a garbled state file: text_format.ParseError and friends
            raise UserError(
                f"checkpoint state file {self.state_path} is unreadable ({_first_line(e)}); "
                f"move it away to restore by hand, or use a new --logdir"
            ) from None
        if state is None:  # TF logs a warning and returns None for a garbled file
            raise UserError(
                f"checkpoint state file {self.state_path} is unreadable; move it away to "
                f"restore by hand, or use a new --logdir"
            )
        listed = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
        stamps = list(state.all_model_checkpoint_timestamps)
        if len(stamps) != len(listed):
            stamps = [time.time()] * len(listed)
        latest = os.path.basename(state.model_checkpoint_path) if state.model_checkpoint_path else None
        if latest and latest not in listed:
            listed.append(latest)
            stamps.append(time.time())
        return listed, stamps, latest

    def _write_state(self, latest, listed, stamps) -> None:
        lines = []
        if latest:
            lines.append(f'model_checkpoint_path: "{latest}"')
        lines += [f'all_model_checkpoint_paths: "{name}"' for name in listed]
        lines += [f"all_model_checkpoint_timestamps: {t!r}" for t in stamps]
        try:
            write_atomic(self.state_path, "\n".join(lines) + "\n")
        except OSError as e:
            raise UserError(io_error_message("write the checkpoint state file", self.state_path, e)) from None
        self._latest, self._listed, self._timestamps = latest, list(listed), list(stamps)

    # ----------------------------------------------------------------- queries
    @property
    def latest_checkpoint(self):
        return str(self.directory / self._latest) if self._latest else None

    @property
    def checkpoints(self) -> list:
        return [str(self.directory / name) for name in self._listed]

    # -------------------------------------------------------------------- save
    def save(self, checkpoint_number: int, before_commit=None) -> str:
        """Write checkpoint `ckpt-<number>`, commit it, then prune; returns its path.

        On an I/O error (disk full, read-only folder) raises a UserError and leaves the
        previous checkpoints and the state file as they were. `before_commit(name)` runs once
        the new files are in place and fsync'ed, just before the commit (a side file that must
        describe the new checkpoint before the state file names it); if it raises, the new
        files are removed and the state file is left as it was.
        """
        number = int(checkpoint_number)
        name = f"{PREFIX}-{number}"
        final = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(io_error_message("create the checkpoint folder", self.directory, e)) from None
        self._remove_stale_staging()
        if name in self._listed:  # un-list before replacing its files (see the module docstring)
            keep = [(n, t) for n, t in zip(self._listed, self._timestamps) if n != name]
            self._write_state(keep[-1][0] if keep else None, [n for n, _ in keep], [t for _, t in keep])

        staging = None
        try:
            staging = pathlib.Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{name}-", dir=self.directory))
            # Like CheckpointManager.save: count saves, so the file holds save_counter as the stock one does.
            self.checkpoint.save_counter.assign_add(1)
            self.checkpoint.write(str(staging / name))
            files = checkpoint_files(staging / name)
            if os.environ.get(FAULT_ENV) == f"{self.fault_tag}mid_write@{number}":
                data = [f for f in files if ".data-" in f][0]
                os.truncate(data, os.path.getsize(data) // 2)
                _fault("mid_write", number, self.fault_tag)
            for f in files:
                fsync_file(f)
            # Data shards first, the index last: an index is only ever beside its data.
            for f in sorted(files, key=lambda p: p.endswith(".index")):
                os.replace(f, self.directory / os.path.basename(f))
            fsync_dir(self.directory)
        except (OSError, tf.errors.OpError) as e:
            raise UserError(
                io_error_message("write checkpoint", final, e)
                + f"; the previous checkpoint {self.latest_checkpoint or '(none)'} is intact"
            ) from None
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        if before_commit is not None:
            try:
                before_commit(name)
            except BaseException:
                for f in checkpoint_files(final):  # not committed: nothing names them
                    try:
                        os.unlink(f)
                    except OSError:
                        pass
                raise
        _fault("before_commit", number, self.fault_tag)

        listed = self._listed + [name]
        stamps = self._timestamps + [time.time()]
        self._write_state(name, listed, stamps)  # the commit point
        prune = listed[: -self.max_to_keep]
        for old in prune:
            for i, f in enumerate(
                sorted(checkpoint_files(self.directory / old), key=lambda p: not p.endswith(".index"))
            ):
                try:
                    os.unlink(f)  # the index first: a half-deleted checkpoint is visibly incomplete
                except FileNotFoundError:
                    pass
                except OSError as e:
                    print(f"warning: could not delete old checkpoint file {f} ({e.strerror})", file=sys.stderr)
                if i == 0:
                    _fault("mid_prune", number, self.fault_tag)
        if prune:
            self._write_state(name, listed[-self.max_to_keep :], stamps[-self.max_to_keep :])
        return str(final)

    def _remove_stale_staging(self) -> None:
        """Staging folders left by a killed save (one trainer writes a log directory at a time)."""
        for path in self.directory.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(path, ignore_errors=True)

    # ----------------------------------------------------------------- restore
    def restore_latest(self, log=print) -> str | None:
        """Restore the checkpoint the state file names into `checkpoint`; its path, or None.

        Listed checkpoints whose files are *all* gone (moved away by the user) are skipped
        with a warning; any other failure is a UserError naming the newest older checkpoint
        that still reads.
        """
        if not self._latest:
            return None
        names = self._listed[: self._listed.index(self._latest) + 1] if self._latest in self._listed else [self._latest]
        path = None
        for name in reversed(names):
            candidate = str(self.directory / name)
            if checkpoint_files(candidate):
                path = candidate
                break
            log(
                f"warning: checkpoint {candidate} is listed in {self.state_path} but its files are gone; "
                f"trying the previous one"
            )
            if name in self._listed:  # forgotten at the next save's state file
                i = self._listed.index(name)
                del self._listed[i], self._timestamps[i]
        if path is None:
            raise UserError(
                f"{self.state_path} lists checkpoints but none of their files exist; "
                f"use a new --logdir (or move {self.state_path} away to start from scratch)"
            )
        failure = None
        try:
            missing = missing_files(path)
            if missing:
                raise FileNotFoundError(f"missing {', '.join(missing)}")
            status = self.checkpoint.restore(path)
            try:
                status.assert_existing_objects_matched()
            except Exception:
                status.expect_partial()  # no second, multi-line warning when it is collected
                raise
        except Exception as e:  # noqa: BLE001 - the reader raises IndexError, DataLossError, ValueError, ...
            failure = self._restore_failure(path, e)
        if failure:
            # Free the failed restore now: collected at interpreter exit, its __del__ prints a traceback.
            gc.collect()
            raise UserError(failure)
        self._latest = os.path.basename(path)
        return path

    def _restore_failure(self, path: str, error: BaseException) -> str:
        msg = f"cannot restore checkpoint {path}: {_first_line(error)}"
        for name in reversed(self._listed):
            other = str(self.directory / name)
            if other == path:
                continue
            try:
                verify_readable(other)
            except Exception:  # noqa: BLE001 - any failure means "not this one"
                continue
            return (
                f"{msg}; the newest older checkpoint that reads is {other}: to resume from it, move "
                f"{os.path.basename(path)}.* out of {self.directory}, or use a new --logdir"
            )
        return f"{msg}; no other checkpoint in {self.directory} reads; use a new --logdir"


# ----------------------------------------------------------------------------- run lock
LOCK_FILE = ".lock"
_HELD_LOCKS: dict = {}  # realpath of a log directory -> the RunLock this process holds on it
_HELD_GUARD = threading.Lock()


class LogdirInUse(UserError):
    """Another live process (or another run of this one) trains into the log directory."""


class RunLock:
    """One training run per log directory: an exclusive flock on LOGDIR/.lock.

    flock locks belong to the open file description, so the kernel drops the lock when the
    holder dies, even by SIGKILL: a lock file left behind is stale and simply taken over. The
    holder writes its pid and host into the file for the refusal message of a second run.
    Readers (generate.py, eval_fid.py) never take the lock.
    """

    def __init__(self, logdir):
        self.logdir = pathlib.Path(logdir)
        self.path = self.logdir / LOCK_FILE
        self._file = None
        self._created_dirs: list = []
        self.active = False  # a run is using the lock now (False: held, but that run has ended)

    @property
    def held(self) -> bool:
        return self._file is not None

    def _make_dirs(self) -> None:
        missing = []
        folder = self.logdir
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise UserError(f"cannot create --logdir {self.logdir} ({e.strerror})") from None
            self._created_dirs.append(folder)

    def acquire(self) -> RunLock:
        """Take the lock or raise LogdirInUse naming the holder; creates the folder if needed."""
        if self.logdir.exists() and not self.logdir.is_dir():
            raise UserError(f"--logdir {self.logdir} is a file, not a folder; pass a folder")
        self._make_dirs()
        for _ in range(10):  # retried only if the file was replaced while we waited (see below)
            try:
                fh = open(self.path, "a+")  # no truncation: the holder's pid must stay readable
            except OSError as e:
                self._remove_created_dirs()
                raise UserError(io_error_message("open the run lock", self.path, e)) from None
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe_holder(fh)
                fh.close()
                raise LogdirInUse(
                    f"--logdir {self.logdir} is in use by another training run ({holder}); "
                    f"wait for it to end or stop it, or use another --logdir"
                ) from None
            except OSError as e:  # e.g. a filesystem without flock support
                fh.close()
                self._remove_created_dirs()
                raise UserError(io_error_message("lock", self.path, e)) from None
            # A releasing holder unlinks the file before closing it: if our open found that
            # file, our lock is on an inode no other run will see. Open the path again then.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            fh.close()
        else:
            raise UserError(f"could not take the run lock {self.path} (it keeps being replaced)")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(info) + "\n")
            fh.flush()
        except OSError as e:
            self._file = fh
            self.release()
            raise UserError(io_error_message("write the run lock", self.path, e)) from None
        self._file = fh
        self.active = True
        return self

    def release(self, cleanup_dirs: bool = False) -> None:
        """Remove the lock file and drop the lock; with cleanup_dirs also the folders acquire created
        (only if still empty: a run that failed before writing leaves nothing behind)."""
        if self._file is None:
            return
        try:
            os.unlink(self.path)  # before closing: a waiting opener then sees a new inode
        except OSError:
            pass
        self._file.close()
        self._file = None
        self.active = False
        if cleanup_dirs:
            self._remove_created_dirs()

    def _remove_created_dirs(self) -> None:
        for folder in reversed(self._created_dirs):
            try:
                folder.rmdir()
            except OSError:
                break
        self._created_dirs = []

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _describe_holder(fh) -> str:
    try:
        fh.seek(0)
        info = json.loads(fh.read())
        return f"pid {int(info['pid'])} on host {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its pid yet"


def hold_run_lock(logdir) -> RunLock:
    """The run lock of `logdir`, held by this process until it exits.

    A lock this process already holds for a finished run is reused (a program may train
    into one log directory several times); one held by a run still in progress is refused.
    """
    key = os.path.realpath(logdir)
    with _HELD_GUARD:
        lock = _HELD_LOCKS.get(key)
        if lock is not None and lock.held:
            if lock.active:
                raise LogdirInUse(
                    f"--logdir {logdir} is in use by another training run of this process (pid {os.getpid()}); "
                    f"use another --logdir"
                )
            lock.active = True
            return lock
        lock = RunLock(logdir).acquire()
        _HELD_LOCKS[key] = lock
        return lock


def drop_run_lock(lock: RunLock) -> None:
    """Release a lock taken by hold_run_lock and forget it (a failed start: nothing was written)."""
    with _HELD_GUARD:
        _HELD_LOCKS.pop(os.path.realpath(lock.logdir), None)
    lock.release(cleanup_dirs=True)


__all__ = [
    "AtomicCheckpointManager",
    "RunLock",
    "LogdirInUse",
    "hold_run_lock",
    "drop_run_lock",
    "FAULT_ENV",
    "FAULT_POINTS",
    "io_error_message",
    "verify_readable",
    "missing_files",
    "checkpoint_files",
]
