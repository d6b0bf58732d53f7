"""The training-time budget (train_seconds, total_train_minutes, --train_minutes) and the study
runner bench/study.py: study-file validation, the report from a ledger, and one whole study."""

import csv
import importlib.util
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import yaml
from helpers import (
    EAGER_MAIN,
    TimedCalls,
    import_cli,
    quiet,
    run_cli_in_process,
    saved_train_seconds,
    scalar_events,
    tiny,
    use_tiny_fid_features,
)

from configs import replace

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = str(REPO / "configs" / "tiny.yaml")


def load_study_module():
    """bench/study.py as a module (registered in sys.modules: its dataclass needs that)."""
    if "bench_study" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_study", REPO / "bench" / "study.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_study"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_study"]


# ----------------------------------------------------------------------------- training time
# The first call of a process is not training time (a resumed run adds its later calls to the restored count,
# including the first call of a second fit() on the same Trainer): tests/test_reliability.py,
# test_interrupted_and_resumed_run_repeats_every_step_loss (one resumed run for its checks and these).


def test_total_train_minutes_stops_and_saves_and_a_resume_continues_the_count(tmp_path, monkeypatch, eager_functions):
    """Trainer.fit's budget check after every call; the steps run eagerly (tests/conftest.py eager_functions):
    the count around the step is the subject, the traced first call is the one named above's."""
    from training.loop import Trainer

    timed = TimedCalls(monkeypatch)
    budget = 0.01  # minutes: 0.6 s of training calls
    log = []
    config = replace(
        tiny(total_steps=math.inf, total_train_minutes=budget),
        log_params={"log_step": 1000, "img_step": 1000, "ckpt_step": 1000},
    )
    trainer = Trainer(config, tmp_path, log=log.append)
    trainer.fit()
    seconds, steps = trainer.train_seconds, int(trainer.state.step.numpy())
    # Stopped at the first call that reached the budget: without that call it was below.
    assert budget * 60 <= seconds and seconds - timed.durations[-1] < budget * 60 + 0.02
    assert steps == len(timed.durations) < 1000
    assert saved_train_seconds(tmp_path) == seconds
    assert any(
        f"Reached total_train_minutes 0.01 ({seconds / 60:.2f} training minutes) at step {steps}" in line
        for line in log
    )
    assert "train min" in [line for line in log if line.startswith("step ")][-1]
    logged = {(step, tag): value for step, tag, value in scalar_events(tmp_path)}
    assert logged[(steps, "perf/train_minutes")] == pytest.approx(seconds / 60, rel=1e-6)

    log.clear()
    again = Trainer(config, tmp_path, log=log.append)  # same budget: nothing to do
    assert again.train_seconds == seconds
    again.fit()
    assert int(again.state.step.numpy()) == steps and any("Nothing to do" in line for line in log)

    extended = seconds / 60 + budget  # beyond what was trained, however long one (eager) call took
    longer = Trainer(replace(config, train_params={"total_train_minutes": extended}), tmp_path, log=quiet)
    longer.fit()  # a resume may extend it
    assert longer.train_seconds >= extended * 60 and int(longer.state.step.numpy()) > steps


def test_a_checkpoint_without_train_seconds_still_restores_with_zero(tmp_path, eager_functions):
    """The restore is the subject: the one step runs eagerly (tests/conftest.py eager_functions)."""
    import tensorflow as tf

    from training.checkpointing import AtomicCheckpointManager
    from training.loop import Trainer
    from training.state import build_training_state

    config = tiny(total_steps=6)
    state = build_training_state(config)
    state.step.assign(5)
    kernel = state.generator.trainable_variables[0]
    kernel.assign(tf.fill(kernel.shape, 0.25))
    parts = {k: v for k, v in tf.train.TrackableView(state.checkpoint).children(state.checkpoint).items()}
    legacy = tf.train.Checkpoint(**{k: v for k, v in parts.items() if k not in ("train_seconds", "save_counter")})
    AtomicCheckpointManager(legacy, tmp_path / "checkpoints").save(checkpoint_number=5)
    (tmp_path / "config.yaml").write_text(config.to_yaml())
    names = [name for name, _ in tf.train.list_variables(str(tmp_path / "checkpoints" / "ckpt-5"))]
    assert not any(name.startswith("train_seconds") for name in names)

    trainer = Trainer(config, tmp_path, log=quiet)
    assert trainer.start_step == 5 and trainer.train_seconds == 0.0
    restored = trainer.state.generator.trainable_variables[0].numpy()
    np.testing.assert_array_equal(restored, np.full(kernel.shape, 0.25, np.float32))
    trainer.fit()
    assert saved_train_seconds(tmp_path) == 0.0  # the first call of a Trainer is never training time


def run_main(argv, monkeypatch):
    """main.run() in this process with training replaced: (exit code, the configs train() got)."""
    from absl import flags

    main = import_cli("main")
    import training.loop

    seen = []
    monkeypatch.setattr(training.loop, "train", lambda config, logdir, **kw: seen.append(config))
    monkeypatch.setattr(sys, "argv", ["main.py", *argv])
    flags.FLAGS.unparse_flags()
    try:
        with pytest.raises(SystemExit) as exit_info:
            main.run()
    finally:
        flags.FLAGS.unparse_flags()
    return exit_info.value.code, seen


def test_train_minutes_flag_sets_the_budget_and_rejects_a_non_positive_one(tmp_path, monkeypatch, capsys):
    code, seen = run_main(["--config", TINY, "--logdir", str(tmp_path / "a"), "--train_minutes", "1.5"], monkeypatch)
    assert code in (0, None) and seen[0].train_params.total_train_minutes == 1.5
    code, seen = run_main(["--config", TINY, "--logdir", str(tmp_path / "b")], monkeypatch)
    assert math.isinf(seen[0].train_params.total_train_minutes)  # default: no time limit
    capsys.readouterr()
    code, seen = run_main(["--config", TINY, "--logdir", str(tmp_path / "c"), "--train_minutes", "0"], monkeypatch)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and not seen and len(err) == 1 and "total_train_minutes=0.0 must be positive" in err[0]


# ----------------------------------------------------------------------------- study file
def write_study(path: pathlib.Path, **fields) -> pathlib.Path:
    study = {"base_config": "configs/tiny.yaml", "marks_minutes": [1, 2], "variants": {"a": {}}}
    study.update(fields)
    path.write_text(json.dumps(study))  # JSON is YAML
    return path


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"epochs": 3}, "unknown key(s) ['epochs']"),
        ({"marks_minutes": [2, 1]}, "marks_minutes must increase"),
        ({"marks_minutes": []}, "marks_minutes must be a non-empty list"),
        ({"variants": {"a": {"train_params.no_such": 1}}}, "variant a: unknown override 'train_params.no_such'"),
        ({"variants": {"a": {"loss_params.coord_loss_w": -1}}}, "variant a: config with overrides: loss_params"),
        ({"variants": {"a/b": {}}}, "variant name 'a/b'"),
        ({"base_config": "configs/none.yaml"}, "base_config configs/none.yaml not found"),
        ({"fid_samples": 1}, "fid_samples must be an integer >= 2"),
    ],
)
def test_a_bad_study_file_is_one_line_naming_the_problem(tmp_path, fields, message):
    study = load_study_module()
    with pytest.raises(study.UserError) as info:
        study.load_study(write_study(tmp_path / "s.yaml", **fields))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_study_command_line_errors_exit_1_with_one_line(tmp_path):
    """Every mistake is one UserError line from main(); bench/study.py's command line (exit_on_user_error)
    prints it as one `error:` line with exit code 1, checked once in a real process."""
    study = load_study_module()
    good = write_study(tmp_path / "s.yaml")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("variants: [unclosed\n")
    cases = [
        ([str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")], "study file not found"),
        ([str(bad_yaml), "--out", str(tmp_path / "o")], "not valid YAML"),
        (
            [str(good), "--out", str(tmp_path / "o"), "--variants", "a,zz", "--phase", "train"],
            "unknown variant(s) ['zz']",
        ),
        ([str(good), "--out", str(tmp_path / "o")], "--phase all needs --ref"),
        ([str(good), "--out", str(tmp_path / "o"), "--phase", "eval", "--ref", str(tmp_path / "no.npz")], "not found"),
        ([str(good), "--out", str(tmp_path / "o"), "--phase", "report", "--marks", "7"], "not among the study's marks"),
        ([str(good), "--out", str(tmp_path / "o"), "--phase", "report", "--marks", "x"], "comma-separated minutes"),
        ([str(good), "--out", str(tmp_path / "o"), "--phase", "train", "--until", "1.5"], "--until 1.5: not among"),
    ]
    for argv, message in cases:
        with pytest.raises(study.UserError) as info:
            study.main(argv)
        assert message in str(info.value) and "\n" not in str(info.value), (argv, str(info.value))
    argv, message = cases[2]
    proc = subprocess.run(
        [sys.executable, "bench/study.py", *argv], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "o").exists()  # nothing written on bad input


def test_until_trains_the_marks_up_to_it_and_a_later_call_adds_the_rest(tmp_path, monkeypatch):
    study = load_study_module()
    s = study.load_study(write_study(tmp_path / "s.yaml", marks_minutes=[1, 2, 3], variants={"a": {}, "b": {}}))
    trained = []

    def fake_segment(study_, out, variant, mark, data_dir, log=print):
        trained.append((variant, mark))
        return {"variant": variant, "mark_minutes": mark, "step": int(mark), "checkpoint": f"{variant}/ckpt"}

    monkeypatch.setattr(study, "run_segment", fake_segment)
    study.train_phase(s, tmp_path / "out", ["a", "b"], until=2, log=quiet)
    assert trained == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    study.train_phase(s, tmp_path / "out", ["a", "b"], log=quiet)
    assert trained[4:] == [("a", 3), ("b", 3)]


def test_a_variant_config_is_the_base_plus_overrides_that_keep_every_checkpoint(tmp_path):
    study = load_study_module()
    s = study.load_study(
        write_study(
            tmp_path / "s.yaml",
            variants={
                "a": {},
                "full": {"data_params.micro_patch_size": [16, 16], "data_params.macro_patch_size": [16, 16]},
            },
        )
    )
    a, full = s.variant_config("a"), s.variant_config("full")
    assert a.data_params.micro_patch_size == (4, 4) and full.data_params.micro_patch_size == (16, 16)
    assert math.isinf(a.train_params.total_steps)  # a study trains by time
    assert a.log_params.max_to_keep >= 10_000 and full.log_params.exp_name == "tiny_full"
    for name in ("celeba32", "celeba64", "mnist"):  # the committed studies load and resolve
        assert study.load_study(REPO / "bench" / "studies" / f"{name}.yaml").variants


def test_report_writes_csv_markdown_plots_and_the_last_grid_from_the_ledger(tmp_path):
    study = load_study_module()
    s = study.load_study(write_study(tmp_path / "s.yaml", variants={"a": {}, "full": {}}, floor_fid=4.3))
    out = tmp_path / "out"
    png = b"\x89PNG fake grid"
    (out / "a" / "run").mkdir(parents=True)
    (out / "a" / "run" / "samples_0000020.png").write_bytes(png)
    ledger = study.Ledger(out)
    for variant, mark, step, fid, seam in (
        ("a", 1, 10, 50.0, 1.5),
        ("a", 2, 20, 40.0, 1.25),
        ("full", 1, 30, 45.0, None),
    ):
        ledger.add(
            dict(variant=variant, mark_minutes=mark, step=step, train_seconds=mark * 60.0 + 0.5, checkpoint="x",
                 segment_wall_seconds=70.0, exit_latency_seconds=0.5, load_start=[1.0, 1, 1], load_end=[2.0, 1, 1],
                 machine="CPU X, 2 cores",
                 fid=fid, fid_samples=5000, seam_ratio=seam, seam_samples=1024, eval_wall_seconds=9.0)
        )  # fmt: skip
    rows = study.report_phase(s, out, ["a", "full"], log=quiet)
    assert len(rows) == 3
    with open(out / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["variant"], r["mark_minutes"], r["step"], r["fid"], r["seam_ratio"]) for r in table] == [
        ("a", "1", "10", "50", "1.5"),
        ("a", "2", "20", "40", "1.25"),
        ("full", "1", "30", "45", ""),  # a one-patch image has no seams: empty cell
    ]
    assert table[0]["train_seconds"] == "60.5" and table[0]["load_start"] == "1.00" and table[0]["load_end"] == "2.00"
    assert table[0]["machine"] == "CPU X, 2 cores"
    md = (out / "results.md").read_text().splitlines()
    assert md[2] == "| a | 1 | 10 | 1.0 | 50.00 | 1.500 | 1.2 |" and md[4].startswith(
        "| full | 1 | 30 | 1.0 | 45.00 | n/a |"
    )
    assert "floor: 4.3" in md[-1] and "Trained on: CPU X, 2 cores." in md[-3]
    for name in ("fid_vs_time.png", "fid_vs_iterations.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert (out / "a" / "final_grid.png").read_bytes() == png  # the grid of the last mark's step (20)
    assert not (out / "full" / "final_grid.png").exists()


# ----------------------------------------------------------------------------- a whole study
def eager_study_segments(monkeypatch, fork_server) -> None:
    """bench/study.py's main.py subprocesses run main.run() with every tf.function eager (helpers.EAGER_MAIN):
    the same command line, output and exit code, without tracing the step. The first is the runner's own
    subprocess.Popen (`python -c EAGER_MAIN ARGV` with the runner's arguments); the later ones are children of
    the fork server (tests/conftest.py fork_server), with the runner's output pipe (stderr into stdout) and
    process group, in a process of their own, without the interpreter start-up."""
    popen = subprocess.Popen
    main_py = str(REPO / "main.py")
    started = []

    def eager_popen(cmd, *args, **kwargs):
        if not (isinstance(cmd, list) and cmd[1:2] == [main_py]):
            return popen(cmd, *args, **kwargs)
        started.append(cmd)
        if len(started) == 1:
            return popen([cmd[0], "-c", EAGER_MAIN, *cmd[2:]], *args, **kwargs)
        assert kwargs["stdout"] == subprocess.PIPE and kwargs["stderr"] == subprocess.STDOUT and kwargs["text"]
        return fork_server.popen(
            EAGER_MAIN,
            cmd[2:],
            env=kwargs.get("env"),
            cwd=kwargs.get("cwd", REPO),
            stderr_to_stdout=True,
            process_group=kwargs.get("process_group") == 0,
        )

    monkeypatch.setattr(subprocess, "Popen", eager_popen)


@pytest.mark.slow  # three training processes (main.run()); eval_fid.py, eval and report in this process
def test_a_study_trains_variants_to_time_marks_evaluates_reports_and_resumes_without_retraining(
    tmp_path, monkeypatch, capsys, fork_server
):
    """Two variants trained to a first mark; the study then extended by a second mark, trained for one
    variant (the other's second segment is the same code path): the done marks are not trained again and
    the new one continues the run. Then eval, report, and a rerun that changes nothing. The FID network is
    helpers.TinyFeatures: this is about the runner (Inception is tests/test_fid_cli.py's and
    tests/test_fid_inception.py's), and each FID is then a 4 x 4 sqrtm, not a 2048 x 2048 one. The training
    subprocesses run their steps eagerly, the first started by the runner itself, the later two forked by the
    fork server (eager_study_segments): the runner is the subject, not the compiled step or the start-up."""
    study = load_study_module()
    use_tiny_fid_features(monkeypatch, dim=4)
    eager_study_segments(monkeypatch, fork_server)
    quiet_log = {"log_params.ckpt_step": 100000, "log_params.img_step": 100000, "log_params.log_step": 1000}
    full = {"data_params.macro_patch_size": [16, 16], "data_params.micro_patch_size": [16, 16]}
    fields = dict(
        fid_samples=10,
        seam_samples=8,
        variants={"patches": quiet_log, "full_image": {**quiet_log, **full, "loss_params.coord_loss_w": 0}},
    )
    path = write_study(tmp_path / "s.yaml", marks_minutes=[0.005], **fields)
    out = tmp_path / "out"
    study.main([str(path), "--out", str(out), "--phase", "train"])
    first = json.loads((out / "ledger.json").read_text())["segments"]
    assert [(s["variant"], s["mark_minutes"]) for s in first] == [("patches", 0.005), ("full_image", 0.005)]
    # A longer study in the same folder; its second mark lies beyond the training the first mark's segment
    # did (which ended at the first call that reached the mark, however long that eager call took).
    second = math.ceil(first[0]["train_seconds"] / 60 * 1000 + 5) / 1000
    write_study(path, marks_minutes=[0.005, second], **fields)
    study.main([str(path), "--out", str(out), "--phase", "train", "--variants", "patches"])
    segments = json.loads((out / "ledger.json").read_text())["segments"]
    assert segments[:2] == first  # not trained again
    assert [(s["variant"], s["mark_minutes"]) for s in segments[2:]] == [("patches", second)]
    for s in segments:
        assert s["train_seconds"] >= s["mark_minutes"] * 60 and s["checkpoint"].endswith(f"ckpt-{s['step']}")
        assert s["exit_latency_seconds"] is not None and 0 <= s["exit_latency_seconds"] < s["segment_wall_seconds"]
        assert len(s["load_start"]) == 3 and (out / s["checkpoint"]).with_suffix(".index").is_file()
        assert s["machine"].endswith(" cores") and len(s["machine"]) > len(" cores")
    assert segments[0]["step"] < segments[2]["step"]  # the second mark continued the first mark's run
    written = yaml.safe_load((out / "full_image" / "config.yaml").read_text())["data_params"]
    assert written["macro_patch_size"] == written["micro_patch_size"] == written["full_image_size"] == [16, 16]

    # Reference statistics of exactly the images eval_fid.py --mode=checkpoint draws from one mark's
    # checkpoint: the study's FID of that checkpoint must then be ~0 (same protocol, same seeds).
    np.savez(tmp_path / "dummy.npz", mu=np.zeros(4), sigma=np.eye(4))
    mark_ckpt = str(out / segments[2]["checkpoint"])
    code, _, err = run_cli_in_process(
        "eval_fid",
        ["--mode=checkpoint", f"--logdir={out / 'patches' / 'run'}", f"--checkpoint={mark_ckpt}",
         "--num_samples=10", f"--ref={tmp_path / 'dummy.npz'}", f"--out={tmp_path / 'ref.npz'}"],
        capsys,
    )  # fmt: skip
    assert code in (0, None), err

    # Evaluate one variant (the FID path does not depend on the patch geometry; a one-patch seam ratio
    # is tests/test_seams.py's), report both.
    ref = str(tmp_path / "ref.npz")
    study.main([str(path), "--out", str(out), "--ref", ref, "--variants", "patches"])  # phase all
    after = json.loads((out / "ledger.json").read_text())["segments"]
    assert [(s["variant"], s["step"], s["train_seconds"]) for s in after] == [
        (s["variant"], s["step"], s["train_seconds"]) for s in segments
    ]  # no segment trained again
    fids = [s.get("fid") for s in after]
    assert abs(fids[2]) < 0.01 and fids[0] > 0.01 and fids[1] is None
    assert after[0]["seam_ratio"] > 0 and after[2]["seam_ratio"] > 0
    logged = {(step, tag) for step, tag, _ in scalar_events(out / "patches" / "run")}
    assert (after[2]["step"], "metric/fid10") in logged
    study.main([str(path), "--out", str(out), "--phase", "report"])
    with open(out / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    by_variant = [segments[0], segments[2], segments[1]]  # the report lists each variant's marks in turn
    assert [(r["variant"], r["step"]) for r in table] == [(s["variant"], str(s["step"])) for s in by_variant]
    assert float(table[1]["fid"]) == pytest.approx(fids[2], abs=1e-4) and table[2]["fid"] == ""
    for name in ("fid_vs_time.png", "fid_vs_iterations.png", "patches/final_grid.png", "full_image/final_grid.png"):
        assert (out / name).stat().st_size > 100  # full_image's grid: full images from the one-patch model

    stamp = (out / "ledger.json").stat().st_mtime_ns
    study.main([str(path), "--out", str(out), "--ref", ref, "--variants", "patches"])  # everything done
    assert (out / "ledger.json").stat().st_mtime_ns == stamp
