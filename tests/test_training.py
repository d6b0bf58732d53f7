"""Training end to end on the tiny configuration: files written, resume, config conflicts, the CLI."""

import math
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers import quiet, run_cli_in_process, tiny, use_tiny_fid_features

from configs import UserError, replace
from training.loop import Trainer
from training.state import CHECKPOINT_DIR

REPO = pathlib.Path(__file__).resolve().parents[1]


# A few steps resumed from a finished run writing the periodic and final checkpoints, events and PNG grids,
# and repeating an uninterrupted run (every step's losses, the final weights): tests/test_reliability.py,
# test_interrupted_and_resumed_run_repeats_every_step_loss (one resumed run for those checks).


def test_steps_per_call_runs_several_iterations_in_one_call(tmp_path, monkeypatch):
    """Each call of the compiled function (Trainer._build_train_calls, recorded here) runs several iterations,
    steps_per_call of them, the last call shortened to reach total_steps: steps_per_call 3 and total_steps 2
    are one call of 2 iterations (one traced function, its loop taken once)."""
    calls = []
    build = Trainer._build_train_calls

    def recording_build(trainer, n):
        train_calls = build(trainer, n)

        def recorded(iterator):
            out = train_calls(iterator)
            calls.append((n, int(trainer.state.step.numpy())))
            return out

        return recorded

    monkeypatch.setattr(Trainer, "_build_train_calls", recording_build)
    quiet_log = {"img_step": 1000, "dump_img_step": 1000, "ckpt_step": 1000}  # the final checkpoint only
    trainer = Trainer(tiny(total_steps=2, steps_per_call=3, log=quiet_log), tmp_path, log=quiet)
    trainer.fit()
    assert calls == [(2, 2)]  # (iterations in the call, step after it)
    assert tf.train.latest_checkpoint(str(tmp_path / CHECKPOINT_DIR)).endswith("ckpt-2")


def test_a_conflicting_configuration_in_an_existing_logdir_is_refused(tmp_path, good_run):
    shutil.copytree(good_run, tmp_path, dirs_exist_ok=True)  # a finished tiny(total_steps=2) run
    other = replace(tiny(total_steps=2), model_params={"z_dim": 16})
    with pytest.raises(UserError, match=r"another configuration \(model_params.z_dim: 8 -> 16\)"):
        Trainer(other, tmp_path, log=quiet)
    # total_steps may change on resume.
    assert Trainer(tiny(total_steps=3), tmp_path, log=quiet).start_step == 2


def test_main_cli_trains_and_reports_user_errors_in_one_line(tmp_path, capsys, eager_functions):
    """main.py's command line: training through main.run() (what the script runs) in this process, its steps
    run eagerly (tests/conftest.py eager_functions: the command line is the subject, the compiled step is
    tests/test_reliability.py's), and the real script once for a user error's exit code and line. main.py
    training to exit code 0 in a subprocess is the study runner's (tests/test_study.py, the whole study's
    first segment)."""
    code, out, err = run_cli_in_process(
        "main",
        ["--config", str(REPO / "configs" / "tiny.yaml"), "--steps", "2", "--logdir", str(tmp_path / "run")],
        capsys,
    )  # the run lock stays held by this process, as by `python main.py` until it exits
    assert code in (0, None), err[-2000:]
    assert (tmp_path / "run" / "samples_0000002.png").is_file() and "Done." in out
    bad = subprocess.run(
        [sys.executable, "main.py", "--dataset", "celeba", "--size", "96"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("error: --size=96 has no configuration")
    assert "Traceback" not in bad.stderr


def test_in_training_fid_is_logged_by_sample_count_and_the_best_checkpoint_kept(tmp_path, monkeypatch, eager_functions):
    """The FID network is helpers.TinyFeatures (4-d) and the steps run eagerly (tests/conftest.py
    eager_functions): this is about the hook (the metric's name, the best checkpoint); Inception and the FID of
    eval_fid.py are tests/test_fid_cli.py's and test_fid_inception.py's, the compiled step
    tests/test_reliability.py's."""
    from fid.statistics import save_statistics

    use_tiny_fid_features(monkeypatch, dim=4)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(64, 4))
    ref = tmp_path / "ref.npz"
    save_statistics(str(ref), feats.mean(0), np.cov(feats, rowvar=False))
    config = replace(tiny(total_steps=2), log_params={"fid_step": 2, "fid_num_samples": 8, "fid_ref_stats": str(ref)})
    logs = []
    Trainer(config, tmp_path / "run", log=logs.append).fit()
    fid_lines = [line for line in logs if "fid8 " in line]
    assert len(fid_lines) == 1 and "best" in fid_lines[0]
    value = float(fid_lines[0].split("fid8 ")[1].split()[0])
    assert math.isfinite(value) and value > 0
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "best_fid")).endswith("ckpt-2")
    assert (tmp_path / "run" / "best_fid" / "state.json").is_file()
