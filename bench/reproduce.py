"""Reproduce the paper's Table 1 (and the micro-size ablation): reference statistics, training, fid50k, one table.

    python bench/reproduce.py --data_root /data --dry_run             # print every command
    python bench/reproduce.py --data_root /data --only celeba64       # run (or resume) one entry
    python bench/reproduce.py --celeba_dir /data/img_align_celeba --only celeba128 celeba128_n8 celeba128_n16

For each entry, three steps, each skipped when its output exists (so a second call resumes):
1. stats: `eval_fid.py --mode=stats` on 50,000 real images at the training size
   -> WORK/stats/<dataset>_<size>.npz (shared by the entries of one dataset and size);
2. train: `main.py --config ... --fid_ref <stats>` so that the in-training FID keeps the best-FID
   checkpoint in LOGDIR/best_fid/ -> done when LOGDIR/checkpoints has reached --steps (an
   unfinished run is resumed by main.py itself);
3. fid50k: `eval_fid.py --mode=checkpoint --checkpoint <best-FID checkpoint> --num_samples 50000`
   -> WORK/results/<entry>.json (the newest checkpoint when no best-FID one exists, noted).
Commands run from the repository root (`--dry_run` prints them as `python SCRIPT ...` with absolute
paths). Then WORK/table.md and WORK/table.csv list every entry's fid50k beside the paper's number
(written at every call, entries not evaluated yet marked as such). Steps run as subprocesses
with their output in WORK/logs/; a failing step stops the run with one error line.
The paper gives no iteration count; --steps (default 200,000) is the training length of all entries.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import typing

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from configs.errors import UserError, exit_on_user_error  # noqa: E402
from fileio.atomic import write_atomic  # noqa: E402

FID_SAMPLES = 50000


class Entry(typing.NamedTuple):
    name: str
    config: str  # a file in configs/ (or a path)
    dataset: str  # the data folder it reads: celeba | lsun | celebahq | synthetic
    size: int
    paper_fid: float | None
    row: str  # the paper's row label

    @property
    def fid_dataset(self) -> str:
        """eval_fid.py --dataset: celeba implies the CelebA crop; LSUN and CelebA-HQ are resized whole."""
        return {"celeba": "celeba", "lsun": "lsun"}.get(self.dataset, "other")


# ICCV 2019 COCO-GAN, Table 1 and the micro-patch-size ablation (CelebA 128).
ENTRIES = {
    e.name: e
    for e in (
        Entry("celeba64", "CelebA_64x64_N2M2S32", "celeba", 64, 4.00, "CelebA 64x64"),
        Entry("celeba128", "CelebA_128x128_N2M2S64", "celeba", 128, 5.74, "CelebA 128x128"),
        Entry("lsun256", "LSUN_256x256_N2M2S128", "lsun", 256, 5.99, "LSUN bedroom 256x256"),
        Entry("celebahq1024", "CelebAHQ_1024x1024_N2M2S512", "celebahq", 1024, 9.49, "CelebA-HQ 1024x1024"),
        Entry("celeba128_n8", "CelebA_128x128_N8M8S64", "celeba", 128, 15.99, "CelebA 128, (N8,M8,S8)"),
        Entry("celeba128_n16", "CelebA_128x128_N16M16S64", "celeba", 128, 23.90, "CelebA 128, (N16,M16,S4)"),
    )
}
# Not a paper entry: the tiny configuration on any image folder, to try the recipe in minutes.
EXTRA_ENTRIES = {"tiny": Entry("tiny", "tiny", "celeba", 16, None, "tiny (not in the paper)")}
DEFAULT_SUBDIRS = {"celeba": "img_align_celeba", "lsun": "lsun_bedroom", "celebahq": "celeba_hq"}


# ------------------------------------------------------------------------------ paths
def config_file(entry: Entry) -> pathlib.Path:
    path = pathlib.Path(entry.config)
    return path if path.suffix == ".yaml" else pathlib.Path("configs") / f"{entry.config}.yaml"  # from REPO


def stats_path(work: pathlib.Path, entry: Entry) -> pathlib.Path:
    return work / "stats" / f"{entry.dataset}_{entry.size}.npz"


def logdir(work: pathlib.Path, entry: Entry) -> pathlib.Path:
    return work / "runs" / entry.name


def result_path(work: pathlib.Path, entry: Entry) -> pathlib.Path:
    return work / "results" / f"{entry.name}.json"


def checkpoint_step(directory: pathlib.Path) -> tuple:
    """(prefix, step) of the newest checkpoint named in directory/checkpoint (TF's state file), or (None, None)."""
    state = directory / "checkpoint"
    if not state.is_file():
        return None, None
    match = re.search(r'^model_checkpoint_path:\s*"([^"]+)"', state.read_text(), re.M)
    if not match:
        return None, None
    prefix = pathlib.Path(match.group(1))
    prefix = prefix if prefix.is_absolute() else directory / prefix
    step = re.search(r"(\d+)$", prefix.name)
    return prefix, int(step.group(1)) if step else None


# ------------------------------------------------------------------------------ steps
class Step(typing.NamedTuple):
    entry: Entry
    kind: str  # stats | train | fid50k
    command: list
    is_done: object  # () -> bool, asked when the step is reached (an earlier step may have made the output)
    output: str  # what it makes

    @property
    def done(self) -> bool:
        return bool(self.is_done())


def python(script: str, *args) -> list:
    """A command of this repository's scripts, run from the repository root."""
    return [sys.executable, script, *[str(a) for a in args]]


def shown(command: list) -> str:
    return shlex.join(["python", *command[1:]])


def plan_entry(entry: Entry, work: pathlib.Path, data_dir: pathlib.Path, steps: int) -> list:
    """The three steps of one entry, each marked done when its output exists."""
    stats = stats_path(work, entry)
    run_dir = logdir(work, entry)
    plan = [
        Step(
            entry,
            "stats",
            python(
                "eval_fid.py",
                "--mode=stats",
                f"--data_dir={data_dir}",
                f"--dataset={entry.fid_dataset}",
                f"--size={entry.size}",
                f"--num_images={FID_SAMPLES}",
                f"--out={partial(stats)}",  # renamed to the final name once complete
            ),
            stats.is_file,
            str(stats),
        )
    ]
    train_cmd = python(
        "main.py",
        f"--config={config_file(entry)}",
        f"--data_dir={data_dir}",
        f"--logdir={run_dir}",
        f"--fid_ref={stats}",
        f"--steps={steps}",
    )

    def trained() -> bool:
        step = checkpoint_step(run_dir / "checkpoints")[1]
        return step is not None and step >= steps

    plan.append(Step(entry, "train", train_cmd, trained, f"{run_dir}/checkpoints/ckpt-{steps}"))
    best, _ = checkpoint_step(run_dir / "best_fid")
    checkpoint = str(best) if best else f"{run_dir}/best_fid/ckpt-<best step>"
    result = result_path(work, entry)
    fid_cmd = python(
        "eval_fid.py",
        "--mode=checkpoint",
        f"--logdir={run_dir}",
        f"--checkpoint={checkpoint}",
        f"--ref={stats}",
        f"--num_samples={FID_SAMPLES}",
    )
    plan.append(Step(entry, "fid50k", fid_cmd, result.is_file, str(result)))
    return plan


def partial(path: pathlib.Path) -> pathlib.Path:
    """Where a step writes `path` before it is complete (np.savez keeps a name ending in .npz)."""
    return path.with_name(path.stem + ".partial" + path.suffix)


def eval_checkpoint(step: Step, work: pathlib.Path) -> tuple:
    """The checkpoint fid50k evaluates: the best-FID one, else the newest (with a note)."""
    run_dir = logdir(work, step.entry)
    best, best_step = checkpoint_step(run_dir / "best_fid")
    if best is not None:
        return best, best_step, "best in-training FID"
    newest, newest_step = checkpoint_step(run_dir / "checkpoints")
    if newest is None:
        raise UserError(f"{step.entry.name}: no checkpoint in {run_dir} to evaluate; the train step did not run")
    return newest, newest_step, "newest checkpoint (no best-FID checkpoint was kept)"


# eval_fid.py's result line, "fid50k: 5.7400  (812 s)" (its first line also starts with "fid50k:").
FID_LINE = re.compile(r"^fid50k:\s*(\S+)\s+\(\d+ s\)\s*$", re.M)


def run_command(command: list, log_path: pathlib.Path) -> str:
    """Run a step, its output going to log_path (and returned); a failure is a UserError."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"$ (cd {REPO} && {shown(command)})", flush=True)
    with open(log_path, "w") as log:
        proc = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log.write(proc.stdout)
    if proc.returncode:
        tail = proc.stdout.strip().splitlines()[-1:] or [""]
        raise UserError(f"exit {proc.returncode} of {command[1]} (log {log_path}): {tail[0][:300]}")
    return proc.stdout


def execute(plan: list, work: pathlib.Path, runner=run_command, log=print) -> None:
    for step in plan:
        label = f"{step.entry.name}/{step.kind}"
        if step.done:
            log(f"[{label}] skipped: {step.output} exists")
            continue
        log_path = work / "logs" / f"{step.entry.name}_{step.kind}.log"
        if step.kind == "stats":  # a killed run leaves no complete-looking file behind
            runner(step.command, log_path)
            os.replace(partial(pathlib.Path(step.output)), step.output)
            continue
        if step.kind == "train":
            runner(step.command, log_path)
            if not step.done:
                raise UserError(f"{label}: main.py ended before step {step.output} (log {log_path})")
            continue
        checkpoint, ckpt_step, which = eval_checkpoint(step, work)
        command = [f"--checkpoint={checkpoint}" if a.startswith("--checkpoint=") else a for a in step.command]
        output = runner(command, log_path)
        match = FID_LINE.search(output)
        if not match:
            raise UserError(f"{label}: no 'fid50k:' line in the output of eval_fid.py (log {log_path})")
        result = {
            "entry": step.entry.name,
            "config": step.entry.config,
            "fid50k": float(match.group(1)),
            "paper_fid": step.entry.paper_fid,
            "checkpoint": str(checkpoint),
            "step": ckpt_step,
            "checkpoint_kind": which,
        }
        write_atomic(result_path(work, step.entry), json.dumps(result, indent=1))
        log(f"[{label}] fid50k {result['fid50k']:.2f} (paper {step.entry.paper_fid}) at step {ckpt_step}")


# ------------------------------------------------------------------------------ table
def collect(entries: list, work: pathlib.Path) -> tuple:
    """(markdown, csv) of every entry: the paper's FID, ours, the checkpoint's step and kind."""
    rows = []
    for entry in entries:
        path = result_path(work, entry)
        result = json.loads(path.read_text()) if path.is_file() else {}
        rows.append(
            {
                "entry": entry.name,
                "paper row": entry.row,
                "config": entry.config,
                "paper FID (ICCV 2019)": "" if entry.paper_fid is None else f"{entry.paper_fid:.2f}",
                "fid50k (this project)": f"{result['fid50k']:.2f}" if result else "not evaluated yet",
                "step": "" if not result or result.get("step") is None else str(result["step"]),
                "checkpoint": result.get("checkpoint_kind", ""),
            }
        )
    header = list(rows[0]) if rows else []
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r[h] for h in header) + " |" for r in rows]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return "\n".join(md) + "\n", buf.getvalue()


# ------------------------------------------------------------------------------ CLI
def data_dirs(args) -> dict:
    root = pathlib.Path(args.data_root) if args.data_root else None
    dirs = {}
    for dataset, sub in DEFAULT_SUBDIRS.items():
        given = getattr(args, f"{dataset}_dir")
        path = pathlib.Path(given) if given else (root / sub if root else None)
        dirs[dataset] = path.resolve() if path else None
    return dirs


def main(argv=None, runner=run_command, log=print) -> list:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", default=None, help=f"entries to run: {', '.join(ENTRIES)} (default all)")
    p.add_argument("--data_root", default=None, help="folder holding " + ", ".join(DEFAULT_SUBDIRS.values()))
    p.add_argument("--celeba_dir", default=None, help="aligned CelebA JPEGs (default DATA_ROOT/img_align_celeba)")
    p.add_argument("--lsun_dir", default=None, help="LSUN bedroom exported as images (default DATA_ROOT/lsun_bedroom)")
    p.add_argument("--celebahq_dir", default=None, help="CelebA-HQ 1024x1024 images (default DATA_ROOT/celeba_hq)")
    p.add_argument("--work_dir", default="reproduce", help="stats/, runs/, results/, logs/, table.md, table.csv")
    p.add_argument("--steps", type=int, default=200000, help="training iterations of every entry")
    p.add_argument("--dry_run", action="store_true", help="print the commands of the steps still to do")
    args = p.parse_args(argv)
    known = {**ENTRIES, **EXTRA_ENTRIES}
    names = args.only or list(ENTRIES)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"--only {', '.join(unknown)}: entries are {', '.join(known)}")
    if args.steps < 1:
        raise UserError(f"--steps={args.steps} must be at least 1")
    entries = [known[n] for n in names]
    dirs = data_dirs(args)
    work = pathlib.Path(args.work_dir).resolve()  # the steps run from the repository root
    missing = [e for e in entries if dirs[e.dataset] is None or not (args.dry_run or dirs[e.dataset].is_dir())]
    if missing:
        e = missing[0]
        given = dirs[e.dataset]
        raise UserError(
            f"{e.name} reads {e.dataset} images: "
            + (f"{given} is not a folder" if given else f"pass --{e.dataset}_dir or --data_root")
        )
    plan = [s for e in entries for s in plan_entry(e, work, dirs[e.dataset], args.steps)]
    if args.dry_run:
        made = {}
        for step in plan:
            label = f"{step.entry.name}/{step.kind}"
            if step.done:
                log(f"# skip {label} ({step.output} exists): {shown(step.command)}")
            elif step.output in made:
                log(f"# skip {label} ({step.output} is made by {made[step.output]} above)")
            else:
                made[step.output] = label
                log(shown(step.command))
        return plan
    execute(plan, work, runner=runner, log=log)
    markdown, table = collect(entries, work)
    write_atomic(work / "table.md", markdown)
    write_atomic(work / "table.csv", table)
    log(markdown + f"(also {work / 'table.csv'})")
    return plan


if __name__ == "__main__":
    exit_on_user_error(main)
