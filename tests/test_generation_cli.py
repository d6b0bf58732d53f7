"""generate.py end to end: outputs appear and a user mistake is one error line with exit code 1 (its command
line in-process), and the real script's exit code and error line (in a subprocess)."""

import pathlib
import subprocess
import sys

import pytest
from helpers import run_cli_in_process, untrained_run

REPO = pathlib.Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run(
        [sys.executable, str(REPO / "generate.py"), *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_generate_cli(tmp_path, capsys):
    logdir = tmp_path / "run"
    untrained_run(logdir, step=3)

    # The outputs through the command line in this process (generate.run(), what the script runs) ...
    code, _, err = run_cli_in_process(
        "generate",
        ["--logdir", str(logdir), "--mode", "beyond", "--num", "2", "--tb_logdir", str(tmp_path / "tb")],
        capsys,
    )
    assert code in (0, None), err
    assert (logdir / "generated" / "beyond_e1_seed0.png").is_file()
    assert (logdir / "generated" / "beyond_e1_marked_seed0.png").is_file()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))

    # ... a user error raised once TensorFlow runs (the viewport is checked by the mode) is one line ...
    code, _, err = run_cli_in_process(
        "generate", ["--logdir", str(logdir), "--mode", "viewport", "--viewport", "2,0,4,4"], capsys
    )
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert code == 1 and len(lines) == 1 and "is not a multiple of the micro" in lines[0], err
    assert "Traceback" not in err

    # ... and the real script once, on a mistake caught before it imports TensorFlow (one start-up, no
    # restore): generate.py prints a UserError as one line and exits 1. Other user errors are UserErrors
    # tested in-process (test_generation_modes/restore.py).
    bad = _run("--logdir", str(logdir), "--mode", "samples", "--num", "0")
    assert bad.returncode == 1
    lines = [l for l in bad.stderr.splitlines() if l.startswith("error:")]
    assert lines == ["error: --num=0 must be at least 1"], bad.stderr
    assert "Traceback" not in bad.stderr
