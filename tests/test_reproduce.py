"""bench/reproduce.py: the dry run on the tiny entry, resuming (a step whose output exists is
skipped), the fid50k result and the table beside the paper's numbers, and user errors."""

import csv
import io
import json
import pathlib
import re

import pytest
from helpers import load_bench

from configs import UserError

reproduce = load_bench("reproduce")
REPO = pathlib.Path(__file__).resolve().parents[1]


def args(tmp_path, *extra):
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    return ["--only", "tiny", "--celeba_dir", str(images), "--work_dir", str(tmp_path / "work"), *extra]


def flag(command, name):
    return next(a.split("=", 1)[1] for a in command if a.startswith(f"--{name}="))


class FakeSteps:
    """Stands in for the subprocesses: records each command and makes the output the real one makes."""

    def __init__(self, trained_to=4, best=2, fid=12.3456):
        self.commands, self.trained_to, self.best, self.fid = [], trained_to, best, fid

    def __call__(self, command, log_path):
        self.commands.append(command)
        script, mode = command[1], next((a for a in command if a.startswith("--mode=")), "")
        if script == "eval_fid.py" and mode == "--mode=stats":
            out = pathlib.Path(flag(command, "out"))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"npz")
            return "wrote stats"
        if script == "main.py":
            logdir = pathlib.Path(flag(command, "logdir"))
            for sub, step in (("checkpoints", self.trained_to), ("best_fid", self.best)):
                (logdir / sub).mkdir(parents=True, exist_ok=True)
                (logdir / sub / "checkpoint").write_text(f'model_checkpoint_path: "ckpt-{step}"\n')
            return "Done."
        assert mode == "--mode=checkpoint"
        return f"fid50k: 50000 full [16, 16] images from x vs y\nfid50k: {self.fid:.4f}  (3 s)\n"

    def kinds(self):
        return [(c[1], next((a for a in c if a.startswith("--mode=")), None)) for c in self.commands]


ALL_STEPS = [("eval_fid.py", "--mode=stats"), ("main.py", None), ("eval_fid.py", "--mode=checkpoint")]


def test_dry_run_of_the_tiny_entry_prints_three_commands_and_writes_nothing(tmp_path):
    lines = []
    reproduce.main(args(tmp_path, "--dry_run", "--steps", "4"), log=lines.append)
    work, images = tmp_path / "work", tmp_path / "images"
    assert lines == [
        f"python eval_fid.py --mode=stats --data_dir={images} --dataset=celeba --size=16 --num_images=50000 "
        f"--out={work}/stats/celeba_16.partial.npz",
        f"python main.py --config=configs/tiny.yaml --data_dir={images} --logdir={work}/runs/tiny "
        f"--fid_ref={work}/stats/celeba_16.npz --steps=4",
        f"python eval_fid.py --mode=checkpoint --logdir={work}/runs/tiny "
        f"'--checkpoint={work}/runs/tiny/best_fid/ckpt-<best step>' --ref={work}/stats/celeba_16.npz "
        "--num_samples=50000",
    ]
    assert not work.exists()


def test_every_flag_of_the_commands_exists_in_the_scripts(tmp_path):
    plan = reproduce.main(args(tmp_path, "--dry_run"), log=lambda *_: None)
    for step in plan:
        source = (REPO / step.command[1]).read_text()
        defined = set(re.findall(r'DEFINE_\w+\(\s*"(\w+)"', source))
        used = {a[2:].split("=")[0] for a in step.command[2:]}
        assert used <= defined, (step.kind, used - defined)
    assert (REPO / "configs" / "tiny.yaml").is_file()


def test_a_run_makes_every_output_and_a_second_run_skips_every_step(tmp_path):
    fake = FakeSteps()
    reproduce.main(args(tmp_path, "--steps", "4"), runner=fake, log=lambda *_: None)
    assert fake.kinds() == ALL_STEPS
    work = tmp_path / "work"
    assert (work / "stats" / "celeba_16.npz").is_file()  # the partial file renamed once complete
    assert not (work / "stats" / "celeba_16.partial.npz").exists()
    result = json.loads((work / "results" / "tiny.json").read_text())
    assert result["fid50k"] == 12.3456 and result["step"] == 2
    assert result["checkpoint"] == str(work / "runs" / "tiny" / "best_fid" / "ckpt-2")
    assert flag(fake.commands[2], "checkpoint") == result["checkpoint"]  # fid50k of the best-FID checkpoint
    assert (
        "| tiny | tiny (not in the paper) | tiny |  | 12.35 | 2 | best in-training FID |"
        in (work / "table.md").read_text()
    )

    again = FakeSteps()
    lines = []
    reproduce.main(args(tmp_path, "--steps", "4"), runner=again, log=lines.append)
    assert again.commands == []
    assert sum(line.startswith("[tiny/") and "skipped" in line for line in lines) == 3

    (work / "results" / "tiny.json").unlink()  # only the evaluation is redone
    third = FakeSteps(fid=7.0)
    reproduce.main(args(tmp_path, "--steps", "4"), runner=third, log=lambda *_: None)
    assert third.kinds() == ALL_STEPS[2:]
    assert json.loads((work / "results" / "tiny.json").read_text())["fid50k"] == 7.0


def test_training_resumes_until_the_requested_steps(tmp_path):
    fake = FakeSteps(trained_to=4)
    reproduce.main(args(tmp_path, "--steps", "4"), runner=fake, log=lambda *_: None)
    longer = FakeSteps(trained_to=8, best=6)  # more iterations asked: train again (main.py resumes), evaluate kept
    reproduce.main(args(tmp_path, "--steps", "8"), runner=longer, log=lambda *_: None)
    assert longer.kinds() == [("main.py", None)]
    short = FakeSteps(trained_to=5)  # main.py stopped early (e.g. a signal): an error, no result
    with pytest.raises(UserError, match="ended before step"):
        reproduce.main(args(tmp_path, "--steps", "9"), runner=short, log=lambda *_: None)


def test_newest_checkpoint_is_evaluated_when_no_best_fid_one_was_kept(tmp_path):
    class NoBest(FakeSteps):
        def __call__(self, command, log_path):
            out = super().__call__(command, log_path)
            if command[1] == "main.py":
                (pathlib.Path(flag(command, "logdir")) / "best_fid" / "checkpoint").unlink()
            return out

    fake = NoBest(trained_to=4)
    reproduce.main(args(tmp_path, "--steps", "4"), runner=fake, log=lambda *_: None)
    result = json.loads((tmp_path / "work" / "results" / "tiny.json").read_text())
    assert result["step"] == 4 and result["checkpoint_kind"].startswith("newest checkpoint")


def test_table_lists_the_paper_numbers_beside_ours():
    markdown, table = reproduce.collect(list(reproduce.ENTRIES.values()), pathlib.Path("/nonexistent"))
    rows = list(csv.DictReader(io.StringIO(table)))
    paper = {r["entry"]: r["paper FID (ICCV 2019)"] for r in rows}
    assert paper == {
        "celeba64": "4.00",
        "celeba128": "5.74",
        "lsun256": "5.99",
        "celebahq1024": "9.49",
        "celeba128_n8": "15.99",
        "celeba128_n16": "23.90",
    }
    assert {r["fid50k (this project)"] for r in rows} == {"not evaluated yet"}
    assert markdown.count("\n") == 2 + 6


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--only", "celeba65"], "--only celeba65: entries are"),
        (["--only", "lsun256"], "pass --lsun_dir or --data_root"),
        (["--only", "celeba64", "--celeba_dir", "/nonexistent/celeba"], "/nonexistent/celeba is not a folder"),
        (["--only", "tiny", "--celeba_dir", "/tmp", "--steps", "0"], "--steps=0 must be at least 1"),
    ],
)
def test_user_errors(argv, message, tmp_path):
    with pytest.raises(UserError, match=re.escape(message)):
        reproduce.main([*argv, "--work_dir", str(tmp_path / "w")], runner=FakeSteps(), log=lambda *_: None)
    assert not (tmp_path / "w").exists()
