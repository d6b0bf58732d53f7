"""Every bad flag, configuration value, dataset path and checkpoint is one clear line,
a non-zero exit, no traceback, and nothing in the log directory changed.

Three tiers, by cost: mistakes main.py catches before importing TensorFlow run in one real
subprocess that has not imported it (one start-up for all of them); mistakes that need TensorFlow (data folders,
checkpoints) run main.run() in-process with the same argv, so the exit code and stderr
are those of the CLI; one of those also runs main.py's command line in a process of its own (a child of
the fork server, tests/conftest.py: what the script's __main__ runs, its exit code and TensorFlow's exit-time
clean-up, which must print no traceback, without the interpreter start-up).
"""

import hashlib
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from helpers import MAIN, run_cli_cases, run_main_in_process

from configs import config_path, load_config

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = str(config_path("tiny"))


def hashes(folder) -> dict:
    folder = pathlib.Path(folder)
    if not folder.exists():
        return {}
    if folder.is_file():
        return {"": hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_config(path, **sections) -> str:
    raw = load_config(TINY).to_dict()
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def assert_one_line_error(code, stderr, pattern, prefix="error: "):
    assert code == 1, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith(prefix)]
    assert len(errors) == 1, stderr
    assert re.search(pattern, errors[0]), (pattern, errors[0])


# ------------------------------------------------------------------- before TensorFlow
def fast_cases(tmp):
    """(name, argv, stderr line prefix, pattern). `tmp` holds the files the cases need."""
    (tmp / "bad.yaml").write_text("data_params: [unclosed\n")
    write_config(tmp / "typo.yaml", train_params={"bach_size": 4})
    write_config(tmp / "geometry.yaml", data_params={"full_image_size": [18, 18]})
    (tmp / "a_file").write_text("not a folder")
    logdir = str(tmp / "logdir")
    flag_error = "FATAL Flags parsing error: "
    return [
        ("unknown flag", ["--bogus=1"], flag_error, r"Unknown command line flag 'bogus'"),
        ("bad --dataset", ["--dataset", "imagenet"], flag_error, r"--dataset=imagenet: value should be one of"),
        ("--size not a number", ["--size", "big"], flag_error, r"--size=big"),
        (
            "no config for --size",
            ["--dataset", "celeba", "--size", "96"],
            "error: ",
            r"^error: --size=96 has no configuration for --dataset=celeba; choose one of \[64, 128\]",
        ),
        ("missing --config", ["--config", str(tmp / "nope.yaml")], "error: ", r"config file not found: .*nope\.yaml$"),
        ("invalid YAML", ["--config", str(tmp / "bad.yaml")], "error: ", r"bad\.yaml: not valid YAML"),
        (
            "unknown config key",
            ["--config", str(tmp / "typo.yaml")],
            "error: ",
            r"unknown key\(s\) \['bach_size'\] in train_params",
        ),
        (
            "impossible geometry",
            ["--config", str(tmp / "geometry.yaml")],
            "error: ",
            r"full_image_size height 18 is not a multiple of micro_patch_size=4",
        ),
        (
            "batch_size 0",
            ["--config", TINY, "--batch_size", "0"],
            "error: ",
            r"train_params.batch_size=0 must be at least 1",
        ),
        ("negative --steps", ["--config", TINY, "--steps", "-5"], "error: ", r"total_steps=-5.0 must be at least 1"),
        (
            "steps_per_call 0",
            ["--config", TINY, "--steps_per_call", "0"],
            "error: ",
            r"steps_per_call=0 must be at least 1",
        ),
        (
            "logdir is a file",
            ["--config", TINY, "--logdir", str(tmp / "a_file")],
            "error: ",
            r"--logdir .*a_file is a file, not a folder",
        ),
        ("stray argument", ["--config", TINY, "celeba"], "error: ", r"unexpected arguments \['celeba'\]"),
    ], logdir


def test_mistakes_caught_before_tensorflow_are_one_line_in_a_subprocess(tmp_path):
    """All cases in one fresh process (one start-up instead of one per case), none importing TensorFlow;
    the exit code of `python main.py` itself is tests/test_training.py's CLI test."""
    cases, logdir = fast_cases(tmp_path)
    before = hashes(tmp_path)
    argvs = [argv if "--logdir" in argv else [*argv, "--logdir", logdir] for _, argv, _, _ in cases]
    results = run_cli_cases("main", "main.run()", argvs, timeout=300)
    assert len(results) == len(cases)
    for (name, _, prefix, pattern), (code, stderr, tensorflow_imported) in zip(cases, results):
        try:
            assert_one_line_error(code, stderr, pattern, prefix)
        except AssertionError as e:
            raise AssertionError(f"case {name!r}: {e}") from None
        assert not tensorflow_imported, name
    assert hashes(tmp_path) == before  # no log directory created, nothing touched


def test_eval_fid_cli_mistakes_are_one_line(tmp_path):
    """eval_fid.py reports its mistakes through configs.errors.run_cli, as main.py does: 'error: ...'."""
    for argv, prefix, pattern in [
        ([], "FATAL Flags parsing error: ", r"--mode"),
        (["--mode", "fid"], "error: ", r"needs --a and --b"),
    ]:
        proc = subprocess.run(
            [sys.executable, "eval_fid.py", *argv], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert_one_line_error(proc.returncode, proc.stderr, pattern, prefix)


# ---------------------------------------------------------------------- with TensorFlow
# good_run (tests/conftest.py): a finished 2-step tiny run; each case damages a copy.


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damage_cases(tmp):
    z16 = write_config(tmp / "z16.yaml", model_params={"z_dim": 16})
    folder = write_config(tmp / "folder.yaml", data_params={"dataset": "folder"})
    (tmp / "empty").mkdir()
    ckpt = "checkpoints/ckpt-2"
    return [
        # name, argv, how to damage a copy of the good run (None: fresh logdir), pattern
        (
            "missing data_dir",
            ["--config", folder, "--data_dir", str(tmp / "nope")],
            None,
            r"data folder not found: .*nope \(check --data_dir\)",
        ),
        (
            "empty data_dir",
            ["--config", folder, "--data_dir", str(tmp / "empty")],
            None,
            r"no \.jpg/\.jpeg/\.png images in .*empty",
        ),
        (
            "run of another configuration",
            ["--config", z16],
            lambda d: None,
            r"holds a run with another configuration \(model_params.z_dim: 8 -> 16\)",
        ),
        (
            "checkpoint of another configuration (config.yaml deleted)",
            ["--config", z16],
            lambda d: (d / "config.yaml").unlink(),
            r"cannot restore checkpoint .*ckpt-2: .*shape.*; no other checkpoint in .* reads; use a new --logdir",
        ),
        (
            "truncated .data file",
            ["--config", TINY],
            lambda d: truncate(d / f"{ckpt}.data-00000-of-00001"),
            r"cannot restore checkpoint .*ckpt-2: Read less bytes than requested",
        ),
        (
            "garbled .index file",
            ["--config", TINY],
            lambda d: (d / f"{ckpt}.index").write_bytes(b"garbage"),
            r"cannot restore checkpoint .*ckpt-2: .*sstable",
        ),
        (
            "missing .data file",
            ["--config", TINY],
            lambda d: (d / f"{ckpt}.data-00000-of-00001").unlink(),
            r"cannot restore checkpoint .*ckpt-2: missing ckpt-2\.data-",
        ),
        (
            "garbled checkpoint state file",
            ["--config", TINY],
            lambda d: (d / "checkpoints/checkpoint").write_text("model_checkpoint_path: {{{"),
            r"checkpoint state file .*checkpoint is unreadable",
        ),
    ]


def test_mistakes_needing_tensorflow_are_one_line_and_leave_the_logdir_untouched(tmp_path, good_run, capsys):
    for i, (name, argv, damage, pattern) in enumerate(damage_cases(tmp_path)):
        logdir = tmp_path / f"run{i}"
        if damage is not None:
            shutil.copytree(good_run, logdir)
            damage(logdir)
        before = hashes(logdir)
        code, stderr = run_main_in_process([*argv, "--logdir", str(logdir), "--steps", "4"], capsys)
        try:
            assert_one_line_error(code, stderr, pattern)
        except AssertionError as e:
            raise AssertionError(f"case {name!r}: {e}") from None
        if damage is not None:
            assert hashes(logdir) == before, name  # nothing overwritten, created or deleted


@pytest.mark.slow
def test_a_corrupt_checkpoint_through_the_real_cli(tmp_path, good_run, fork_server):
    logdir = tmp_path / "run"
    shutil.copytree(good_run, logdir)
    truncate(logdir / "checkpoints" / "ckpt-2.data-00000-of-00001")
    before = hashes(logdir)
    argv = ["--config", TINY, "--logdir", logdir, "--steps", "4"]
    proc = fork_server.run(MAIN, argv, timeout=600)
    assert_one_line_error(proc.returncode, proc.stderr, r"cannot restore checkpoint .*ckpt-2: ")
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert hashes(logdir) == before
