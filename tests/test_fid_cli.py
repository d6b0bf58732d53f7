"""eval_fid.py end to end on .npz files, and its one-line user errors."""

import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import run_cli_cases

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
    np.savez(tmp_path / "a.npz", mu=np.zeros(2048), sigma=np.eye(2048), num_images=100)
    np.savez(tmp_path / "b.npz", mu=mu_b, sigma=np.eye(2048))  # TTUR's files record no count
    ok = _run("--mode=fid", f"--a={tmp_path / 'a.npz'}", f"--b={tmp_path / 'b.npz'}")
    assert ok.returncode == 0, ok.stderr
    assert "FID: 25.0000" in ok.stdout
    assert [w.split(":")[1:3] for w in warnings_of(ok)] == [[" a", f" {tmp_path / 'a.npz'}"]]


USER_ERRORS = [
    (["--mode=fid", "--a=MISSING.npz", "--b=MISSING.npz"], "does not exist"),
    (["--mode=fid", "--a=EMPTY", "--b=MISSING.npz"], "contains no images"),
    (["--mode=stats", "--data_dir=EMPTY"], "needs --data_dir, --size and --out"),
    (["--mode=checkpoint", "--logdir=EMPTY", "--ref=MISSING.npz"], "does not exist"),
]


def test_user_errors_are_one_line_and_exit_1(tmp_path):
    (tmp_path / "EMPTY").mkdir()
    cases = [
        [
            a.replace("MISSING.npz", str(tmp_path / "missing.npz")).replace("EMPTY", str(tmp_path / "EMPTY"))
            for a in args
        ]
        for args, _ in USER_ERRORS
    ]
    for proc, (args, message) in zip(_run_many(cases), USER_ERRORS):
        try:
            assert_one_error(proc, message)
        except AssertionError as e:
            raise AssertionError(f"{args}: {e}") from None


def assert_one_error(proc, message):
    """Exit 1, exactly one `error:` line (through configs.errors.run_cli) containing message, no traceback."""
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def warnings_of(proc) -> list:
    return [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]


def one_image_folder(path):
    from PIL import Image

    path.mkdir()
    Image.new("RGB", (40, 40), (10, 20, 30)).save(path / "only.png")
    return str(path)


def _run_many(cases):
    """[(returncode, stderr)] of eval_fid.py's CLI for each argv, in one subprocess."""
    results = run_cli_cases("eval_fid", "run_cli(eval_fid.main)", cases)
    return [subprocess.CompletedProcess(argv, code, "", err) for argv, (code, err, _) in zip(cases, results)]


def test_fewer_than_two_images_is_one_error_line_in_every_mode(tmp_path):
    """Caught before the Inception network is loaded; all cases in one process."""
    one = one_image_folder(tmp_path / "one")
    np.savez(tmp_path / "one.npz", mu=np.zeros(2048), sigma=np.eye(2048), num_images=1)
    np.savez(tmp_path / "ref.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    cases = [
        (["--mode=fid", f"--a={one}", f"--b={one}"], "a: " + one + ": 1 image; FID needs at least 2"),
        (["--mode=fid", f"--a={tmp_path / 'ref.npz'}", f"--b={tmp_path / 'one.npz'}"], "one.npz: 1 image;"),
        (["--mode=stats", f"--data_dir={one}", "--size=32", f"--out={tmp_path / 's.npz'}"], "1 image; FID needs"),
        (["--mode=checkpoint", f"--logdir={tmp_path}", f"--ref={tmp_path / 'ref.npz'}", "--num_samples=1"], "1 image"),
        (["--mode=checkpoint", f"--logdir={tmp_path}", f"--ref={tmp_path / 'ref.npz'}", "--num_samples=0"], "0 images"),
        (["--mode=checkpoint", f"--logdir={tmp_path}", f"--ref={tmp_path / 'one.npz'}"], "one.npz: 1 image;"),
        (["--mode=fid", "--a=x.npz", "--b=y.npz", "stray"], "unexpected arguments ['stray']"),
    ]
    # Asking a folder for one image by --num_images is the same mistake.
    two = tmp_path / "two"
    shutil.copytree(one, two)
    shutil.copy(two / "only.png", two / "second.png")
    cases.append((["--mode=fid", f"--a={two}", f"--b={two}", "--num_images=1"], "1 image; FID needs"))
    for proc, (args, message) in zip(_run_many([args for args, _ in cases]), cases):
        try:
            assert_one_error(proc, message)
        except AssertionError as e:
            raise AssertionError(f"{args}: {e}") from None
    assert not (tmp_path / "s.npz").exists()
    # The real command line once (the driver above calls the same run_cli(main)).
    assert_one_error(_run("--mode=fid", f"--a={one}", f"--b={one}"), "1 image; FID needs at least 2")


def test_below_2048_images_warns_once_and_is_not_an_error():
    from fid import statistics

    seen = []
    statistics.check_image_count(2, "a: DIR", warn=seen.append)
    statistics.check_image_count(2047, "b: x.npz", warn=seen.append)
    statistics.check_image_count(2048, "c", warn=seen.append)  # one image per feature: no warning
    assert seen == [
        "warning: a: DIR: 2 images, fewer than 2048: the covariance is singular, so this FID is not "
        "comparable to published FIDs (50,000 images)",
        "warning: b: x.npz: 2047 images, fewer than 2048: the covariance is singular, so this FID is not "
        "comparable to published FIDs (50,000 images)",
    ]
    with pytest.raises(statistics.UserError, match="1 image; FID needs at least 2"):
        statistics.check_image_count(1, "a", warn=seen.append)
    # And the singularity it warns about: 2,047 samples of 2,048-d features give a rank-2,046 covariance
    # (rank <= N - 1), checked by SVD on a smaller analogue (N = 30 samples in 40 dimensions).
    rng = np.random.default_rng(0)
    sigma = np.cov(rng.normal(size=(30, 40)), rowvar=False)
    assert np.sum(np.linalg.svd(sigma, compute_uv=False) > 1e-10) == 29


def _run_in_process(capsys, *args) -> subprocess.CompletedProcess:
    """eval_fid.py's command line (run_cli(main)) in this process; the real script's exit code and error
    line are checked above (test_fewer_than_two_images_is_one_error_line_in_every_mode)."""
    from helpers import run_cli_in_process

    code, out, err = run_cli_in_process("eval_fid", list(args), capsys)
    return subprocess.CompletedProcess(args, 0 if code is None else code, out, err)


@pytest.mark.slow  # Inception on 2 images and a 2048 x 2048 sqrtm
def test_two_images_give_a_warning_and_a_value_not_a_traceback(tmp_path, shared_inception, capsys):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i, colour in enumerate(((200, 30, 30), (30, 200, 30))):
            Image.new("RGB", (48, 48), colour if name == "a" else colour[::-1]).save(tmp_path / name / f"{i}.png")
    proc = _run_in_process(capsys, "--mode=fid", f"--a={tmp_path / 'a'}", f"--b={tmp_path / 'b'}")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(warnings_of(proc)) == 2, proc.stderr  # one per input folder
    if proc.returncode == 0:
        assert "FID: " in proc.stdout
    else:  # TTUR's numerics can refuse such degenerate statistics: then one error line
        assert_one_error(proc, "too degenerate for an FID")


@pytest.mark.slow  # builds a tiny run and runs Inception on 3 generated images
def test_checkpoint_mode_on_a_tiny_run(tmp_path, shared_inception, capsys):
    from helpers import untrained_run

    untrained_run(tmp_path / "run", step=1)  # an untrained run directory laid out as training writes it
    np.savez(tmp_path / "ref.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    # 3 samples in batches of 2: the metric is named fid3 and the partial batch counts.
    result = _run_in_process(
        capsys,
        "--mode=checkpoint",
        f"--logdir={tmp_path / 'run'}",
        f"--ref={tmp_path / 'ref.npz'}",
        "--num_samples=3",
        "--batch_size=2",
        f"--out={tmp_path / 'gen.npz'}",
    )
    assert result.returncode == 0, result.stderr
    assert "fid3: " in result.stdout
    assert [w for w in warnings_of(result) if "--num_samples: 3 images, fewer than 2048" in w] == warnings_of(result)
    assert len(warnings_of(result)) == 1
    with np.load(tmp_path / "gen.npz") as data:
        assert int(data["num_images"]) == 3 and data["sigma"].shape == (2048, 2048)
