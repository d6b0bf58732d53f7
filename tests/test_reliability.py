"""Crash-safe checkpoints, exact resume, the numerics guard and full disks.

Faults are injected three ways: SIGKILL at fixed points of a save (COCO_GAN_FAULT, in a
subprocess), NaN/Inf written into the live state between calls, and OSError(ENOSPC)
raised from the writes (monkeypatch). docs/reliability.md has the table of outcomes.
"""

import errno
import hashlib
import json
import os
import pathlib
import shutil
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import yaml
from helpers import EAGER_MAIN, TimedCalls, quiet, saved_train_seconds, scalar_events, tiny

from configs import UserError, load_config
from training import checkpointing
from training.checkpointing import FAULT_ENV, AtomicCheckpointManager, verify_readable
from training.loop import Trainer, TrainingDiverged
from training.state import CHECKPOINT_DIR, CONFIG_FILE

REPO = pathlib.Path(__file__).resolve().parents[1]


def hashes(folder) -> dict:
    """relative path -> sha256 of every file under folder."""
    folder = pathlib.Path(folder)
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def step_losses(logdir) -> dict:
    """{step: {tag: float32 value}} of the loss/* scalars in every events file of logdir."""
    out = {}
    for step, tag, value in scalar_events(logdir):
        if tag.startswith("loss/"):
            out.setdefault(step, {})[tag] = value
    return out


# ------------------------------------------------------------------ the checkpoint manager
def small_checkpoint():
    v = tf.Variable(tf.zeros([1000]))
    return v, tf.train.Checkpoint(v=v)


def test_saves_commit_through_the_state_file_and_prune_only_after_commit(tmp_path):
    v, ckpt = small_checkpoint()
    manager = AtomicCheckpointManager(ckpt, tmp_path, max_to_keep=2)
    for n in (1, 2, 3):
        v.assign(tf.fill([1000], float(n)))
        assert manager.save(n) == str(tmp_path / f"ckpt-{n}")
    # The stock reader (generation/restore.py uses it) sees the same state file.
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-3")
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
        "ckpt-3.data-00000-of-00001",
        "ckpt-3.index",
    ]
    # Re-saving a listed number: un-listed first, so the state file never names a half-replaced file.
    seen = []
    real_write = ckpt.write
    ckpt.write = lambda prefix: (seen.append(tf.train.latest_checkpoint(str(tmp_path))), real_write(prefix))[1]
    v.assign(tf.fill([1000], 33.0))
    manager.save(3)
    assert seen == [str(tmp_path / "ckpt-2")]
    v2, ckpt2 = small_checkpoint()
    assert AtomicCheckpointManager(ckpt2, tmp_path).restore_latest(log=quiet) == str(tmp_path / "ckpt-3")
    assert float(v2[0]) == 33.0


def test_a_full_disk_is_one_line_and_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    v, ckpt = small_checkpoint()
    manager = AtomicCheckpointManager(ckpt, tmp_path, max_to_keep=1)
    manager.save(1)
    before = hashes(tmp_path)

    def no_space(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    # 1. The tensor write itself fails; 2. renaming into place fails (e.g. EIO / quota).
    for target, name in ((ckpt, "write"), (checkpointing.os, "replace")):
        with monkeypatch.context() as m:
            m.setattr(target, name, no_space)
            with pytest.raises(UserError) as err:
                manager.save(2)
        msg = str(err.value)
        assert "ckpt-2" in msg and "disk is full" in msg and f"{tmp_path / 'ckpt-1'} is intact" in msg
        assert "\n" not in msg
        assert hashes(tmp_path) == before  # nothing changed: no staging folder, no new file
    v2, ckpt2 = small_checkpoint()
    assert AtomicCheckpointManager(ckpt2, tmp_path).restore_latest(log=quiet).endswith("ckpt-1")

    # The state-file write failing is also one line, and the old state file stays.
    with monkeypatch.context() as m:
        m.setattr(checkpointing, "write_atomic", no_space)
        with pytest.raises(UserError, match="could not write the checkpoint state file .*disk is full"):
            manager.save(3)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-1")


def test_a_damaged_latest_checkpoint_is_refused_naming_the_one_that_reads(tmp_path):
    v, ckpt = small_checkpoint()
    manager = AtomicCheckpointManager(ckpt, tmp_path, max_to_keep=3)
    for n in (1, 2):
        manager.save(n)
    data = tmp_path / "ckpt-2.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])  # truncated
    before = hashes(tmp_path)
    with pytest.raises(UserError) as err:
        AtomicCheckpointManager(ckpt, tmp_path).restore_latest(log=quiet)
    assert str(err.value).startswith(f"cannot restore checkpoint {tmp_path / 'ckpt-2'}: ")
    assert f"the newest older checkpoint that reads is {tmp_path / 'ckpt-1'}" in str(err.value)
    assert hashes(tmp_path) == before
    # Following the message (move the bad files away) resumes from ckpt-1, with a warning.
    for f in tmp_path.glob("ckpt-2.*"):
        f.rename(tmp_path.parent / f.name)
    logs = []
    assert AtomicCheckpointManager(ckpt, tmp_path).restore_latest(log=logs.append).endswith("ckpt-1")
    assert "files are gone" in logs[0]
    # A garbled state file is not mistaken for "no checkpoint" (that would restart from step 0).
    (tmp_path / "checkpoint").write_text("model_checkpoint_path: {{{")
    with pytest.raises(UserError, match="state file .* is unreadable"):
        AtomicCheckpointManager(ckpt, tmp_path)


# ------------------------------------------------------------------------ kill and resume
KILL_POINTS = [  # (fault, checkpoint the next run must resume from)
    ("mid_write@2", 1),  # killed while ckpt-2's tensors were half written
    ("before_commit@3", 2),  # ckpt-3 complete on disk but not yet in the state file
    ("mid_prune@4", 4),  # ckpt-4 committed, killed while deleting ckpt-2
]


@pytest.mark.slow
def test_sigkill_at_each_point_of_a_save_then_resume_finishes_with_a_loadable_checkpoint(
    tmp_path, eager_functions, fork_server
):
    """One main.py process per kill point (each is its own code path of AtomicCheckpointManager.save), each
    resuming from what the previous kill left; the processes are forked children of the fork server
    (tests/conftest.py fork_server: fresh TensorFlow processes without the start-up). The steps run eagerly, in
    those processes (helpers.EAGER_MAIN) as in this one (tests/conftest.py eager_functions): the kills are in the
    checkpoint writer, outside the step, and the compiled step's exact resume is
    test_interrupted_and_resumed_run_repeats_every_step_loss's."""
    raw = tiny().to_dict()
    raw["train_params"]["total_steps"] = 5
    raw["log_params"].update(ckpt_step=1, max_to_keep=2, img_step="inf")
    cfg = tmp_path / "kill.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    logdir = tmp_path / "run"
    ckpt_dir = logdir / CHECKPOINT_DIR

    def run(fault=None):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop(FAULT_ENV, None)
        if fault:
            env[FAULT_ENV] = fault
        return fork_server.run(EAGER_MAIN, ["--config", cfg, "--logdir", logdir], env=env, timeout=600)

    resumed_from = None
    for fault, expect in KILL_POINTS:
        proc = run(fault)
        assert proc.returncode == -9, (fault, proc.returncode, proc.stderr[-2000:])
        if resumed_from:
            assert f"Resumed from step {resumed_from} " in proc.stdout, proc.stdout
        latest = tf.train.latest_checkpoint(str(ckpt_dir))
        assert latest == str(ckpt_dir / f"ckpt-{expect}"), (fault, latest)
        verify_readable(latest)  # every tensor reads, CRCs match
        resumed_from = expect
    # The resume that finishes: in this process (a kill needs a process of its own, a resume does not).
    logs = []
    Trainer(load_config(cfg), logdir, log=logs.append).fit()
    assert any(line.startswith("Resumed from step 4 ") for line in logs), logs
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    assert latest == str(ckpt_dir / "ckpt-5")
    verify_readable(latest)
    assert tf.train.load_checkpoint(latest).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 5
    # Pruned to max_to_keep, staging folders of the killed saves gone.
    assert sorted(os.listdir(ckpt_dir)) == [
        "checkpoint",
        "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
        "ckpt-5.data-00000-of-00001",
        "ckpt-5.index",
    ]
    # And the killed-and-resumed run ends in the state of an uninterrupted one.
    straight = Trainer(load_config(cfg), tmp_path / "straight", log=quiet)
    straight_metrics = straight.fit()
    weights = straight.state.generator.weights + straight.state.models["discriminator"].weights
    expected = [w.numpy() for w in weights]
    straight.state.checkpoint.restore(latest).assert_existing_objects_matched()
    for want, var in zip(expected, weights):
        np.testing.assert_allclose(var.numpy(), want, rtol=1e-5, atol=1e-6, err_msg=var.path)
    for tag, value in step_losses(logdir)[5].items():
        np.testing.assert_allclose(value, straight_metrics[tag], rtol=1e-5, atol=1e-6, err_msg=tag)


# --------------------------------------------------------------------------- exact resume
def test_interrupted_and_resumed_run_repeats_every_step_loss(tmp_path, good_run, monkeypatch):
    """One resumed run, the compiled step (graph mode), for three checks. The interrupted run is a copy of good_run
    (tests/conftest.py: Trainer(tiny(total_steps=2)).fit(), ended with ckpt-2, its grid and the events of steps
    1-2), resumed here in a new Trainer, in two fit() calls (to step 3, then 5): the second continues where the
    first stopped with the call the first traced (the step's Python body, counted here, runs only while tracing).

    1. Exact resume: per-step losses (all loss parts) of steps 3-5 equal the straight run's, and so do the
       generator's final weights: data order, z, GP epsilons and macro positions are all restored (keyed on the
       step).
    2. Training time: the resumed run adds its calls 2 and 3 to the restored count, not its call 1, which traced
       (a new process traces again). Call 3 is the first of the second fit(): it reuses the traced call, so it
       counts. That a Trainer whose one call was its first saves 0.0 is tests/test_study.py's
       test_a_checkpoint_without_train_seconds_still_restores_with_zero.
    3. Files of a resumed run: the final checkpoint of each fit() (3, 5) and the periodic one at 4 (ckpt_step 2),
       the grid of each, scalar events with the seam ratio."""
    straight = Trainer(tiny(total_steps=5), tmp_path / "a", log=quiet)
    straight.fit()
    run = tmp_path / "b"
    shutil.copytree(good_run, run)
    assert (run / CONFIG_FILE).is_file()
    assert tf.train.latest_checkpoint(str(run / CHECKPOINT_DIR)).endswith("ckpt-2")
    restored = saved_train_seconds(run)
    timed = TimedCalls(monkeypatch)  # from here: the resumed Trainer's calls only
    logs = []
    resumed = Trainer(tiny(total_steps=5), run, log=logs.append)
    assert resumed.start_step == 2 and resumed.train_seconds == restored
    traces, draw = [], resumed.step_fn.random_inputs
    monkeypatch.setattr(resumed.step_fn, "random_inputs", lambda *a: traces.append(a) or draw(*a))
    resumed.fit(total_steps=3)
    assert len(traces) == 1 and int(resumed.state.step.numpy()) == 3
    metrics = resumed.fit()
    assert len(traces) == 1 and int(resumed.state.step.numpy()) == 5
    assert logs[0].startswith("Resumed from step 2")

    # 1. Exact resume.
    a, b = step_losses(tmp_path / "a"), step_losses(run)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5]
    for step in (1, 2, 3, 4, 5):
        assert set(a[step]) == set(b[step]) and len(a[step]) >= 5
        for tag in a[step]:
            np.testing.assert_allclose(b[step][tag], a[step][tag], rtol=1e-5, atol=1e-6, err_msg=f"{tag}@{step}")
    for want, got in zip(straight.state.generator.weights, resumed.state.generator.weights):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5, err_msg=want.path)

    # 2. Training time.
    assert len(timed.durations) == 3 and len(timed.builds) == 1
    later = timed.durations[1:]  # calls 2 and 3; call 1 traced
    assert restored + sum(later) <= resumed.train_seconds <= restored + sum(later) + 0.05
    assert saved_train_seconds(run) == resumed.train_seconds

    # 3. Files.
    assert metrics and all(np.isfinite(v) for v in metrics.values())
    assert {
        "loss/d",
        "loss/g",
        "loss/gp",
        "loss/spatial_real",
        "loss/wasserstein",
        "gp/slopes_mean",
        "metric/spatial_error_real",
    } <= set(metrics)
    assert tf.train.latest_checkpoint(str(run / CHECKPOINT_DIR)).endswith("ckpt-5")
    assert (run / CHECKPOINT_DIR / "ckpt-3.index").is_file() and (run / CHECKPOINT_DIR / "ckpt-4.index").is_file()
    assert "loss/g" in b[5]
    seams = [value for _, tag, value in scalar_events(run) if tag == "metric/seam_ratio"]
    assert seams and all(np.isfinite(v) and v > 0 for v in seams)
    pngs = sorted(p.name for p in run.glob("samples_*.png"))
    assert pngs == [f"samples_000000{n}.png" for n in (2, 3, 4, 5)]
    grid = tf.io.decode_png(tf.io.read_file(str(run / pngs[-1]))).numpy()
    assert grid.shape[-1] == 3 and grid.shape[0] > 16 and grid.std() > 0  # assembled images, not blank


DETERMINISTIC_SCRIPT = textwrap.dedent("""
    import json, pathlib, shutil, sys
    sys.path.insert(0, {repo!r})
    import tensorflow as tf
    from configs import config_path, load_config, replace
    from training.loop import Trainer
    sys.path.insert(0, {tests!r})
    from test_reliability import step_losses
    cfg = lambda n: replace(load_config(config_path("tiny")), train_params={{"total_steps": n, "deterministic": True}})
    quiet = lambda *a: None
    a, b = pathlib.Path({a!r}), pathlib.Path({b!r})
    Trainer(cfg(4), a, log=quiet).fit()  # saves ckpt-2 and ckpt-4 (tiny: ckpt_step 2)
    # b: what a run stopped at step 2 leaves, from the straight run's own ckpt-2 (the same state): config.yaml,
    # ckpt-2 named by the checkpoint state file, no events.
    (b / "checkpoints").mkdir(parents=True)
    shutil.copy(a / "config.yaml", b)
    for f in (a / "checkpoints").glob("ckpt-2.*"):
        shutil.copy(f, b / "checkpoints")
    tf.compat.v1.train.update_checkpoint_state(str(b / "checkpoints"), "ckpt-2", ["ckpt-2"])
    Trainer(cfg(4), b, log=quiet).fit()
    print("LOSSES", json.dumps([step_losses(a), step_losses(b)]))
""")


@pytest.mark.slow
def test_with_deterministic_ops_the_resumed_losses_are_bit_identical(tmp_path, fork_server):
    """train_params.deterministic (--deterministic) turns on op determinism; it is process-wide, so
    this runs in a process of its own (a child of tests/conftest.py fork_server; the rest of the suite keeps
    TensorFlow's defaults). The compiled step: a straight 4-step run, and a resume at step 2 from that run's own
    ckpt-2 (two traces, not three)."""
    script = DETERMINISTIC_SCRIPT.format(
        repo=str(REPO), tests=str(REPO / "tests"), a=str(tmp_path / "a"), b=str(tmp_path / "b")
    )
    proc = fork_server.run(script, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("LOSSES ")][0]
    a, b = json.loads(line[len("LOSSES ") :])
    assert sorted(a) == ["1", "2", "3", "4"] and sorted(b) == ["3", "4"]
    assert all(len(b[step]) >= 5 for step in b)
    assert {step: a[step] for step in b} == b  # exact float equality, every loss part of both resumed steps


# ------------------------------------------------------------------------- numerics guard
def test_a_nan_loss_or_weight_stops_with_step_and_part_and_keeps_the_last_checkpoint(
    tmp_path, good_run, eager_functions
):
    """Trainer.fit's guard after every call: a non-finite loss (named by part), else a non-finite weight (named by
    network); nothing saved. The step runs eagerly (tests/conftest.py eager_functions): the guard is the
    subject, not the compiled step."""
    base = tmp_path / "base"
    shutil.copytree(good_run, base)  # a finished tiny(total_steps=2) run: ckpt-2 (tiny: ckpt_step 2)

    # 1. A NaN in a discriminator weight: the losses of the next step are NaN.
    trainer = Trainer(tiny(total_steps=4), base, log=quiet)
    before = hashes(base / CHECKPOINT_DIR)
    kernel = trainer.state.models["discriminator"].trainable_variables[0]
    kernel.assign(tf.fill(kernel.shape, float("nan")))
    with pytest.raises(TrainingDiverged) as err:
        trainer.fit()
    msg = str(err.value)
    assert msg.startswith("non-finite ") and " in step 3; not saved; " in msg, msg
    assert "loss/d" in msg[len("non-finite ") : msg.index(" in step")].split(", ")  # the part is named
    assert f"the last good checkpoint is {base / CHECKPOINT_DIR / 'ckpt-2'}" in msg
    assert hashes(base / CHECKPOINT_DIR) == before  # nothing saved, nothing pruned
    assert not (base / "samples_0000003.png").exists()

    # 2. The kept checkpoint loads; now an infinite learning rate: step 3's losses are finite
    #    (computed before the update) but the generator's weights are not; caught before any save.
    trainer = Trainer(tiny(total_steps=4), base, log=quiet)
    assert trainer.start_step == 2
    trainer.state.optimizers["g"].learning_rate.assign(float("inf"))
    with pytest.raises(
        TrainingDiverged,
        match=r"^non-finite weights in generator after step 3; not saved; "
        r"the last good checkpoint is .*ckpt-2",
    ):
        trainer.fit()
    assert hashes(base / CHECKPOINT_DIR) == before


# ------------------------------------------------------------------ the best-FID checkpoint
class Killed(BaseException):
    """Stands in for SIGKILL at a fault point of a save (in-process: nothing after it runs)."""


def best_fid_dir(tmp_path):
    """best_fid/ holding ckpt-1 (v = 1, FID 9.0); returns (folder, variable, BestCheckpoint)."""
    from training.fid_hook import BestCheckpoint

    v, ckpt = small_checkpoint()
    v.assign(tf.fill([1000], 1.0))
    best = BestCheckpoint(ckpt, tmp_path / "best_fid")
    best.save(1, {"best_fid": 9.0, "best_step": 1})
    return tmp_path / "best_fid", v, best


def reopened_best(folder):
    """What a resumed run sees: (state.json's entry for the named checkpoint, restored v[0])."""
    from training.fid_hook import BestCheckpoint

    v, ckpt = small_checkpoint()
    best = BestCheckpoint(ckpt, folder)
    state = best.state(log=quiet)
    path = best.manager.restore_latest(log=quiet)
    verify_readable(path)
    assert pathlib.Path(path).name == state["checkpoint"]
    return state, float(v[0])


@pytest.mark.parametrize(
    "point, expect_step",
    [("mid_write", 1), ("before_commit", 1), ("mid_prune", 2)],  # the previous best until the commit
)
def test_a_kill_inside_a_best_fid_save_leaves_a_best_checkpoint_that_state_json_describes(
    tmp_path, monkeypatch, point, expect_step
):
    folder, v, best = best_fid_dir(tmp_path)

    def fault(name, number, tag=""):
        if name == point and tag == "best_fid:":
            raise Killed

    monkeypatch.setattr(checkpointing, "_fault", fault)
    monkeypatch.setenv(FAULT_ENV, f"best_fid:{point}@2")  # mid_write also truncates the staged data file
    v.assign(tf.fill([1000], 2.0))
    with pytest.raises(Killed):
        best.save(2, {"best_fid": 5.0, "best_step": 2})
    state, value = reopened_best(folder)
    assert state["best_step"] == expect_step and value == float(expect_step)
    assert state["best_fid"] == {1: 9.0, 2: 5.0}[expect_step]


@pytest.mark.slow  # a TensorFlow process (a child of tests/conftest.py fork_server)
def test_a_real_sigkill_between_commit_and_prune_of_the_best_fid_checkpoint(tmp_path, fork_server):
    """The same with a real SIGKILL (COCO_GAN_FAULT in a process of its own); the untagged main-checkpoint
    fault of the same number does not fire in a best-FID save."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        import tensorflow as tf
        from training.fid_hook import BestCheckpoint
        v = tf.Variable(tf.fill([1000], 1.0))
        best = BestCheckpoint(tf.train.Checkpoint(v=v), {str(tmp_path / "best_fid")!r})
        os.environ["COCO_GAN_FAULT"] = "mid_prune@1"  # a main-checkpoint fault: ignored here
        best.save(1, {{"best_fid": 9.0, "best_step": 1}})
        os.environ["COCO_GAN_FAULT"] = "best_fid:mid_prune@2"
        v.assign(tf.fill([1000], 2.0))
        best.save(2, {{"best_fid": 5.0, "best_step": 2}})
        print("NOT KILLED")
    """)
    proc = fork_server.run(script, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    state, value = reopened_best(tmp_path / "best_fid")
    assert state == {"best_fid": 5.0, "best_step": 2, "checkpoint": "ckpt-2"} and value == 2.0


def test_a_full_disk_in_a_best_fid_save_keeps_the_previous_best_and_its_state(tmp_path, monkeypatch):
    from training import fid_hook

    folder, v, best = best_fid_dir(tmp_path)
    before = hashes(folder)

    def no_space(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:  # the tensor write fails
        m.setattr(best.manager.checkpoint, "write", no_space)
        with pytest.raises(UserError, match=r"could not write checkpoint .*ckpt-2 .*disk is full.*ckpt-1 is intact"):
            best.save(2, {"best_fid": 5.0, "best_step": 2})
    assert hashes(folder) == before

    real_write = fid_hook.write_text_atomic

    def state_json_fails(path, text):
        real_write(path.parent / "ignored", text)  # the call happens; its target is refused
        raise UserError(f"could not write {path} (No space left on device; the disk is full)")

    with monkeypatch.context() as m:  # state.json cannot describe the new best: nothing is committed
        m.setattr(fid_hook, "write_text_atomic", state_json_fails)
        with pytest.raises(UserError, match="state.json"):
            best.save(2, {"best_fid": 5.0, "best_step": 2})
    (folder / "ignored").unlink()
    assert hashes(folder) == before
    state, value = reopened_best(folder)
    assert state == {"best_fid": 9.0, "best_step": 1, "checkpoint": "ckpt-1"} and value == 1.0


# ------------------------------------------------------------------------- exit latency
def test_the_training_iterator_runs_without_the_autotune_model_thread(tmp_path, monkeypatch):
    """Releasing an iterator joins tf.data's autotuning thread, which waited up to a minute at the exit of
    long runs (bench/exit_latency.py); the loop's iterator is built with autotuning off. Trainer.fit runs up to
    the distribute_dataset call that builds its iterator (no step is traced: the options are set before)."""
    from training import loop

    class Seen(Exception):
        """Stops fit() once its iterator's dataset is known, before the step is traced."""

    seen = []

    def record(strategy, ds):
        seen.append(ds)
        raise Seen

    monkeypatch.setattr(loop, "distribute_dataset", record)
    with pytest.raises(Seen):
        Trainer(tiny(total_steps=1), tmp_path, log=quiet).fit()
    assert len(seen) == 1 and seen[0].options().autotune.enabled is False
    assert seen[0].options().deterministic is True  # the pipeline's own options are kept
