"""eval_fid.py end to end: FID of .npz files and of image folders, a checkpoint's FID with the real Inception
network, and its one-line user errors.

The command line runs in this process (run_cli(main), what the script runs) and, where the feature network is
not the subject, on helpers.TinyFeatures (4-d features: a 4 x 4 sqrtm instead of a 2048 x 2048 one); the real
script runs once, for its exit code and error line. Inception itself is tests/test_fid_inception.py's, the
Fréchet arithmetic tests/test_fid_frechet.py's."""

import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import TinyFeatures, use_tiny_fid_features

REPO = pathlib.Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run(
        [sys.executable, str(REPO / "eval_fid.py"), *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_fid_between_npz_files(tmp_path, monkeypatch, capsys):
    """--mode=fid on two .npz files (statistics.load_statistics, frechet_distance, the count warning)."""
    use_tiny_fid_features(monkeypatch, dim=4)
    # Identity covariances and means differing by (3, 4, 0, 0): FID = 3^2 + 4^2 = 25.
    np.savez(tmp_path / "a.npz", mu=np.zeros(4), sigma=np.eye(4), num_images=100)
    np.savez(tmp_path / "b.npz", mu=np.array([3.0, 4.0, 0.0, 0.0]), sigma=np.eye(4))  # TTUR's: no count
    ok = _run_in_process(capsys, "--mode=fid", f"--a={tmp_path / 'a.npz'}", f"--b={tmp_path / 'b.npz'}")
    assert ok.returncode == 0, ok.stderr
    assert "FID: 25.0000" in ok.stdout
    assert [w.split(":")[1:3] for w in warnings_of(ok)] == [[" a", f" {tmp_path / 'a.npz'}"]]


def test_the_fid_of_two_npz_files_does_not_import_tensorflow():
    """eval_fid.py and the modules its --mode=fid path imports for .npz files (statistics, Fréchet distance, the
    folder reader it checks paths with) load in a fresh interpreter without TensorFlow: a number in seconds."""
    code = "import sys, eval_fid; from fid import frechet, images, statistics; print('tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stdout + proc.stderr[-2000:]


USER_ERRORS = [
    (["--mode=fid", "--a=MISSING.npz", "--b=MISSING.npz"], "does not exist"),
    (["--mode=fid", "--a=EMPTY", "--b=MISSING.npz"], "contains no images"),
    (["--mode=stats", "--data_dir=EMPTY"], "needs --data_dir, --size and --out"),
    (["--mode=checkpoint", "--logdir=EMPTY", "--ref=MISSING.npz"], "does not exist"),
]


def test_user_errors_are_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    """Missing inputs and flags, through run_cli(main) in this process, before any network is built."""
    no_network(monkeypatch)
    (tmp_path / "EMPTY").mkdir()
    for args, message in USER_ERRORS:
        argv = [
            a.replace("MISSING.npz", str(tmp_path / "missing.npz")).replace("EMPTY", str(tmp_path / "EMPTY"))
            for a in args
        ]
        try:
            assert_one_error(_run_in_process(capsys, *argv), message)
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


def no_network(monkeypatch) -> None:
    """From now on, building the feature network fails the test: the mistakes must be reported before it loads."""
    from fid import statistics

    def refuse(*_args, **_kwargs):
        raise AssertionError("the feature network was built before the mistake was reported")

    monkeypatch.setattr(statistics, "FeatureExtractor", refuse)


def test_fewer_than_two_images_is_one_error_line_in_every_mode(tmp_path, monkeypatch, capsys):
    """Every mode's image count (eval_fid._check_inputs), caught before the feature network is built; the cases
    run through run_cli(main) in this process, the real script once at the end."""
    no_network(monkeypatch)
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
    for args, message in cases:
        try:
            assert_one_error(_run_in_process(capsys, *args), message)
        except AssertionError as e:
            raise AssertionError(f"{args}: {e}") from None
    assert not (tmp_path / "s.npz").exists()
    # The real command line once (the cases above call the same run_cli(main)).
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


def test_two_images_give_a_warning_and_a_value_not_a_traceback(tmp_path, monkeypatch, capsys):
    """--mode=fid on two folders of two images each (images.iterate_batches, compute_statistics, the count
    warnings): rank-1 covariances, so the product of the covariances is singular. Oracle: for two samples
    the covariance is v v^T with v = (f1 - f2) / sqrt(2), the product v (v.w) w^T has the one eigenvalue
    (v.w)^2, so Tr sqrt(sigma_a sigma_b) = |v.w| and FID = |mu_a - mu_b|^2 + |v|^2 + |w|^2 - 2 |v.w|."""
    from PIL import Image

    use_tiny_fid_features(monkeypatch, dim=4)
    colours = {"a": ((200, 30, 30), (30, 200, 30)), "b": ((30, 30, 200), (30, 200, 30))}
    features = {}
    for name, pair in colours.items():
        (tmp_path / name).mkdir()
        for i, colour in enumerate(pair):
            Image.new("RGB", (48, 48), colour).save(tmp_path / name / f"{i}.png")
        features[name] = TinyFeatures(4)(np.stack([np.full((48, 48, 3), c, np.uint8) for c in pair]))
    proc = _run_in_process(capsys, "--mode=fid", f"--a={tmp_path / 'a'}", f"--b={tmp_path / 'b'}")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert [w.split(":")[1:3] for w in warnings_of(proc)] == [
        [" a", f" {tmp_path / 'a'}"],
        [" b", f" {tmp_path / 'b'}"],
    ]
    (fa1, fa2), (fb1, fb2) = features["a"], features["b"]
    v, w = (fa1 - fa2) / np.sqrt(2), (fb1 - fb2) / np.sqrt(2)
    mean_diff = (fa1 + fa2) / 2 - (fb1 + fb2) / 2
    expected = mean_diff @ mean_diff + v @ v + w @ w - 2 * abs(v @ w)
    value = float(proc.stdout.split("FID: ")[1].split()[0])
    assert value == pytest.approx(expected, rel=1e-6, abs=1e-3)


@pytest.mark.slow  # builds a tiny run and runs Inception on 3 generated images
def test_checkpoint_mode_on_a_tiny_run(tmp_path, shared_inception, capsys):
    """--mode=checkpoint with the real Inception network (2048-d features of generated images). The reference
    is a point mass at 0 (mu = 0, sigma = 0): then sqrt(sigma_gen sigma_ref) = 0, so FID = |mu_gen|^2 +
    Tr(sigma_gen) of the statistics written to --out, and the 2048 x 2048 sqrtm is of a zero matrix."""
    from helpers import untrained_run

    untrained_run(tmp_path / "run", step=1)  # an untrained run directory laid out as training writes it
    np.savez(tmp_path / "ref.npz", mu=np.zeros(2048), sigma=np.zeros((2048, 2048)))
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
        mu, sigma = data["mu"], data["sigma"]
    value = float(result.stdout.split("fid3: ")[-1].split()[0])  # the last line: the value
    assert value == pytest.approx(mu @ mu + np.trace(sigma), rel=1e-6, abs=1e-3)
