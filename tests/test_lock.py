"""One training run per log directory: the flock on LOGDIR/.lock (training/checkpointing.py RunLock).

The other process is a plain Python subprocess holding an flock on the same file, as any
process would; its pid and host are in the file in the format RunLock writes (checked
against RunLock itself in-process).
"""

import hashlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
from helpers import quiet, run_main_in_process, tiny

from configs import config_path
from training import loop
from training.checkpointing import LOCK_FILE, LogdirInUse, RunLock, drop_run_lock, hold_run_lock

TINY = str(config_path("tiny"))

HOLDER = textwrap.dedent("""
    import fcntl, json, os, socket, sys, time
    fh = open(sys.argv[1], "a+")
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    fh.seek(0); fh.truncate()
    fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01 00:00:00"}))
    fh.flush()
    print("LOCKED", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def holder():
    """start(lock_path) -> a subprocess holding an exclusive flock on lock_path (killed at teardown)."""
    procs = []

    def start(path):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "LOCKED"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def hashes(folder) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(pathlib.Path(folder).rglob("*"))
        if p.is_file()
    }


def test_a_second_run_is_refused_with_one_line_naming_the_holder_and_touches_nothing(
    tmp_path, good_run, holder, capsys, eager_functions
):
    """main.py in this process (run_main_in_process) against a lock held by another process, then after that
    process is killed; the resumed steps run eagerly (tests/conftest.py eager_functions: the lock is the
    subject, not the compiled step)."""
    import shutil

    logdir = tmp_path / "run"
    shutil.copytree(good_run, logdir)
    proc = holder(logdir / LOCK_FILE)
    before = hashes(logdir)
    code, stderr = run_main_in_process(["--config", TINY, "--logdir", str(logdir), "--steps", "4"], capsys)
    assert code == 1, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    assert (
        f"--logdir {logdir} is in use by another training run (pid {proc.pid} on host {socket.gethostname()}"
        in (errors[0])
    )
    assert hashes(logdir) == before  # no config, checkpoint, events file or sample written

    # kill -9 of the holder: the kernel drops its lock; the stale file is taken over and the run resumes.
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (logdir / LOCK_FILE).exists()
    code, stderr = run_main_in_process(["--config", TINY, "--logdir", str(logdir), "--steps", "4"], capsys)
    assert code in (0, None), stderr  # absl: sys.exit(main(argv)) with main returning None
    assert (logdir / "checkpoints" / "ckpt-4.index").exists()
    info = json.loads((logdir / LOCK_FILE).read_text())  # held by this process until it exits
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()


def test_flock_is_per_open_file_so_a_second_lock_in_one_process_is_refused(tmp_path):
    first = RunLock(tmp_path / "new" / "run").acquire()
    assert first.held and (tmp_path / "new" / "run" / LOCK_FILE).is_file()
    info = json.loads(first.path.read_text())
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
    with pytest.raises(LogdirInUse, match=rf"in use by another training run \(pid {os.getpid()} on host "):
        RunLock(tmp_path / "new" / "run").acquire()
    first.release()
    assert not first.path.exists()  # released: file removed
    with RunLock(tmp_path / "new" / "run") as again:  # and free again
        assert again.held
    # A stale file with garbage in it (a holder killed while writing) is taken over.
    first.path.write_text("{not json")
    lock = RunLock(tmp_path / "new" / "run").acquire()
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()


def test_a_failed_start_leaves_no_lock_file_or_created_folder(tmp_path, capsys):
    logdir = tmp_path / "a" / "b"
    lock = hold_run_lock(logdir)
    assert (logdir / LOCK_FILE).exists()
    drop_run_lock(lock)
    assert not (tmp_path / "a").exists()  # both folders it created are gone again
    # Through the CLI: a dataset folder that does not exist fails after the lock was taken.
    folder_cfg = tmp_path / "folder.yaml"
    folder_cfg.write_text(pathlib.Path(TINY).read_text().replace("dataset: synthetic", "dataset: folder"))
    code, stderr = run_main_in_process(
        ["--config", str(folder_cfg), "--data_dir", str(tmp_path / "nope"), "--logdir", str(logdir)], capsys
    )
    assert code == 1 and "data folder not found" in stderr, stderr
    assert not (logdir / LOCK_FILE).exists()


def test_the_run_lock_is_held_until_exit_and_reused_only_by_a_finished_run(tmp_path, good_run):
    """loop.train's lock handling: hold_run_lock before the Trainer, the lock kept when fit returns. The runs
    resume a copy of good_run (tests/conftest.py) at its last step, so fit returns at once ("Nothing to do",
    no step traced) through the same lock code as a run that trains (the first test above trains under it)."""
    import shutil

    logdir = tmp_path / "run"
    shutil.copytree(good_run, logdir)
    logs = []
    loop.train(tiny(total_steps=2), logdir, log=logs.append)
    assert logs[-1] == "Nothing to do: step 2 >= total_steps 2", logs
    assert (logdir / LOCK_FILE).exists()  # still held by this process
    with pytest.raises(BlockingIOError):  # an outside process could not lock it
        with open(logdir / LOCK_FILE) as fh:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    loop.train(tiny(total_steps=2), logdir, log=quiet)  # the same process runs again: reused
    lock = hold_run_lock(logdir)  # as a run in progress would
    try:
        with pytest.raises(LogdirInUse, match="another training run of this process"):
            loop.train(tiny(total_steps=6), logdir, log=quiet)
    finally:
        lock.active = False


def test_only_the_chief_takes_the_lock(tmp_path, monkeypatch):
    taken = []
    monkeypatch.setattr(loop, "_is_chief", lambda strategy: False)
    monkeypatch.setattr(loop, "hold_run_lock", lambda logdir: taken.append(logdir))

    class NoTraining:
        def __init__(self, *a, **k):
            pass

        def fit(self, total_steps):
            return {}

    monkeypatch.setattr(loop, "Trainer", NoTraining)
    assert loop.train(tiny(), tmp_path / "worker", log=quiet) == {}
    assert taken == [] and not (tmp_path / "worker").exists()


def test_readers_are_not_blocked_by_a_training_run(good_run, holder, tmp_path):
    import shutil

    from generation import restore

    logdir = tmp_path / "run"
    shutil.copytree(good_run, logdir)
    holder(logdir / LOCK_FILE)
    before = hashes(logdir)
    loaded = restore.load_generator(str(logdir))  # generate.py's and eval_fid.py's way in
    assert loaded.step == 2 and loaded.source.endswith("ckpt-2")
    assert hashes(logdir) == before
