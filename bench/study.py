"""A study: named variants of one configuration, trained one after another to the same marks of
training time, with FID and the seam ratio at every mark; a CSV, plots, sample grids, a table.

    python bench/study.py bench/studies/celeba32.yaml --out studies/celeba32 \\
        --data_dir DATA --ref stats/celeba_32.npz
    python bench/study.py STUDY.yaml --out DIR --phase train [--variants default,full_image] [--until 40]
    python bench/study.py STUDY.yaml --out DIR --ref REF.npz --phase eval
    python bench/study.py STUDY.yaml --out DIR --phase report [--floor 4.3]

Phases (default `all` = train, eval, report; each skips what the ledger says is done):

* train: for every variant in turn, DIR/<variant>/config.yaml (the base configuration plus the
  variant's overrides), then `main.py --train_minutes M` into DIR/<variant>/run for each mark M,
  one subprocess at a time (--until M: the marks up to M only, so a later call adds the rest); training time is the trainer's own count (docs/study.md), so
  start-up, compilation, checkpoints and sample grids do not eat into a variant's budget.
* eval: for every mark's checkpoint, FID of the first `fid_samples` FID samples
  (generation.sampling.sample_fid_images: the images of eval_fid.py --mode=checkpoint and of the
  in-training FID) against --ref, and the seam ratio of `seam_samples` images (seed 1, as
  bench/seam_ratio.py --samples); the FID also goes to the run's TensorBoard log.
* report: DIR/results.csv, DIR/results.md, DIR/fid_vs_time.png, DIR/fid_vs_iterations.png,
  DIR/<variant>/final_grid.png (the trainer's sample grid of the last mark's checkpoint).

Everything is recorded in DIR/ledger.json (rewritten atomically after every segment and every
evaluation), so an interrupted study resumes where it stopped. docs/study.md has the format.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import os
import pathlib
import platform
import re
import shutil
import signal
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from configs import Config, ConfigError, UserError, resolve_config  # noqa: E402
from configs.errors import exit_on_user_error  # noqa: E402
from fileio.atomic import write_atomic  # noqa: E402

STUDY_KEYS = ("base_config", "marks_minutes", "fid_samples", "seam_samples", "variants", "floor_fid")
REQUIRED_KEYS = ("base_config", "marks_minutes", "variants")
LEDGER = "ledger.json"
# Every periodic and mark checkpoint stays on disk: marks are evaluated after training.
MAX_TO_KEEP = 100_000
FID_BATCH = 50  # images per Inception batch (eval_fid.py's default; the images do not depend on it)
SEAM_SEED = 1  # bench/seam_ratio.py --samples
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ----------------------------------------------------------------------------- the study file
@dataclasses.dataclass
class Study:
    path: pathlib.Path
    base_config: pathlib.Path
    marks: list
    fid_samples: int
    seam_samples: int
    variants: dict  # name -> {dotted key: value}, in file order
    floor_fid: float | None

    def variant_config(self, name: str) -> Config:
        """The base configuration with the variant's overrides; studies train by time, not steps."""
        overrides = {"train_params.total_steps": math.inf}
        overrides.update(self.variants[name])
        overrides["log_params.max_to_keep"] = MAX_TO_KEEP
        try:
            config = resolve_config(config_file=str(self.base_config), overrides=overrides)
        except ConfigError as e:
            raise UserError(f"{self.path}: variant {name}: {e}") from None
        if "log_params.exp_name" not in self.variants[name]:
            config.log_params.exp_name = f"{config.log_params.exp_name}_{name}"
        return config


def _number(value, where: str, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise UserError(f"{where} must be positive, got {value!r}")
    return float(value)


def _count(raw: dict, key: str, default: int, minimum: int, source: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{source}: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def _resolve_base(value, source: pathlib.Path) -> pathlib.Path:
    """base_config relative to the project (configs/...), else to the study file's folder."""
    if not isinstance(value, str) or not value:
        raise UserError(f"{source}: base_config must be a path such as configs/tiny.yaml, got {value!r}")
    path = pathlib.Path(value)
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [REPO / path, source.parent / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise UserError(f"{source}: base_config {value} not found (looked in {', '.join(map(str, candidates))})")


def load_study(path) -> Study:
    """Read and validate a study YAML; every variant's configuration is built once to check it."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"study file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a study is a mapping with keys {list(STUDY_KEYS)}")
    unknown = sorted(set(raw) - set(STUDY_KEYS))
    if unknown:
        raise UserError(f"{path}: unknown key(s) {unknown}; valid keys are {list(STUDY_KEYS)}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise UserError(f"{path}: missing key(s) {missing}")
    marks = raw["marks_minutes"]
    if not isinstance(marks, list) or not marks:
        raise UserError(f"{path}: marks_minutes must be a non-empty list of minutes, got {marks!r}")
    marks = [_number(m, f"{path}: marks_minutes") for m in marks]
    if any(b <= a for a, b in zip(marks, marks[1:])):
        raise UserError(f"{path}: marks_minutes must increase, got {marks}")
    variants = raw["variants"]
    if not isinstance(variants, dict) or not variants:
        raise UserError(f"{path}: variants must map names to overrides (name: {{}} for the base), got {variants!r}")
    clean = {}
    for name, overrides in variants.items():
        name = str(name)
        if not _NAME_RE.match(name):
            raise UserError(f"{path}: variant name {name!r} must be letters, digits, '_', '.' or '-' (a folder name)")
        overrides = overrides or {}
        if not isinstance(overrides, dict) or not all(isinstance(k, str) and "." in k for k in overrides):
            raise UserError(f"{path}: variant {name} must map dotted keys (section.key) to values, got {overrides!r}")
        clean[name] = dict(overrides)
    floor = raw.get("floor_fid")
    study = Study(
        path=path,
        base_config=_resolve_base(raw["base_config"], path),
        marks=marks,
        fid_samples=_count(raw, "fid_samples", 5000, 2, str(path)),
        seam_samples=_count(raw, "seam_samples", 1024, 1, str(path)),
        variants=clean,
        floor_fid=None if floor is None else _number(floor, f"{path}: floor_fid", positive=False),
    )
    for name in study.variants:
        study.variant_config(name)  # unknown or invalid override keys: one line now, not hours later
    return study


# ----------------------------------------------------------------------------- the ledger
class Ledger:
    """DIR/ledger.json: one record per (variant, mark) segment, with its evaluation once done."""

    def __init__(self, out: pathlib.Path):
        self.path = out / LEDGER
        self.segments = []
        if self.path.exists():
            try:
                self.segments = json.loads(self.path.read_text())["segments"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise UserError(f"{self.path} is unreadable ({e}); move it away to start the study afresh") from None

    def find(self, variant: str, mark: float) -> dict | None:
        for segment in self.segments:
            if segment["variant"] == variant and math.isclose(segment["mark_minutes"], mark):
                return segment
        return None

    def add(self, segment: dict) -> None:
        self.segments.append(segment)
        self.save()

    def save(self) -> None:
        try:
            write_atomic(self.path, json.dumps({"segments": self.segments}, indent=1) + "\n")
        except OSError as e:
            raise UserError(f"could not write {self.path} ({e.strerror})") from None


# ----------------------------------------------------------------------------- train
def read_checkpoint(prefix: str) -> tuple:
    """(step, train_seconds or None) stored in a training checkpoint."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    keys = reader.get_variable_to_shape_map()
    step = int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
    seconds_key = "train_seconds/.ATTRIBUTES/VARIABLE_VALUE"
    seconds = float(reader.get_tensor(seconds_key)) if seconds_key in keys else None
    return step, seconds


def latest_checkpoint(run_dir: pathlib.Path) -> tuple:
    """(checkpoint prefix, state file mtime) of a run, from its checkpoint state file."""
    state = run_dir / "checkpoints" / "checkpoint"
    if not state.is_file():
        return None, None
    match = re.search(r'^model_checkpoint_path: "([^"]+)"', state.read_text(), re.MULTILINE)
    if not match:
        return None, None
    return str(state.parent / match.group(1)), state.stat().st_mtime


class _Interrupted(Exception):
    pass


def _raise_interrupt(signum, frame):
    raise _Interrupted(signum)


def _set_signals(handler) -> dict:
    """Install `handler` for SIGINT and SIGTERM; the previous handlers (none outside the main thread)."""
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    return previous


def machine() -> str:
    """The CPU model and core count, recorded with every segment: training time buys a different number of
    iterations on another machine, so rows are compared within one machine (or per iteration)."""
    model = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def run_segment(study: Study, out: pathlib.Path, variant: str, mark: float, data_dir, log=print) -> dict:
    """Train `variant` to `mark` training minutes in a main.py subprocess; the ledger record."""
    vdir = out / variant
    run_dir = vdir / "run"
    cmd = [sys.executable, str(REPO / "main.py"), "--config", str(vdir / "config.yaml"), "--logdir", str(run_dir)]
    cmd += ["--train_minutes", repr(mark)] + (["--data_dir", str(data_dir)] if data_dir else [])
    prefix = f"[{variant} {mark:g} min]"
    log(f"{prefix} {' '.join(cmd)}")
    load_start = list(os.getloadavg())
    start = time.time()
    # The child gets its own process group: a Ctrl-C in the terminal reaches this process only, which
    # forwards exactly one SIGINT (a second one would make the trainer stop without saving).
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        process_group=0,
    )
    previous = _set_signals(_raise_interrupt)
    try:
        try:
            for line in proc.stdout:
                log(f"{prefix} {line.rstrip()}")
            returncode = proc.wait()
        except _Interrupted:
            log(f"{prefix} interrupted: asking the trainer to save and stop")
            _set_signals(signal.SIG_IGN)  # the child saves undisturbed
            proc.send_signal(signal.SIGINT)
            for line in proc.stdout:
                log(f"{prefix} {line.rstrip()}")
            proc.wait()
            raise UserError(
                f"study interrupted while training {variant} to {mark:g} min; its checkpoint is saved, "
                f"the same command resumes"
            ) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    exited = time.time()
    if returncode != 0:
        raise UserError(
            f"training {variant} to {mark:g} min failed (exit code {returncode}; its output is above); "
            f"the same command resumes once fixed"
        )
    checkpoint, committed = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise UserError(f"training {variant} to {mark:g} min left no checkpoint in {run_dir}")
    step, seconds = read_checkpoint(checkpoint)
    return {
        "variant": variant,
        "mark_minutes": mark,
        "step": step,
        "train_seconds": seconds,
        "checkpoint": os.path.relpath(checkpoint, out),
        "segment_wall_seconds": exited - start,
        # From the final checkpoint's commit (the state file's rename) to the child's exit;
        # None when this segment saved nothing (the run was already past the mark).
        "exit_latency_seconds": exited - committed if committed >= start else None,
        "load_start": load_start,
        "load_end": list(os.getloadavg()),
        "machine": machine(),
    }


def train_phase(
    study: Study, out: pathlib.Path, variants: list, data_dir=None, until: float | None = None, log=print
) -> None:
    """Train each variant to each mark in turn (to `until` minutes at most), skipping finished segments."""
    ledger = Ledger(out)
    marks = [m for m in study.marks if until is None or m <= until]
    for variant in variants:
        vdir = out / variant
        write_atomic(vdir / "config.yaml", study.variant_config(variant).to_yaml())
        for mark in marks:
            done = ledger.find(variant, mark)
            if done is not None:
                log(f"[{variant} {mark:g} min] done: step {done['step']} ({done['checkpoint']})")
                continue
            ledger.add(run_segment(study, out, variant, mark, data_dir, log))


# ----------------------------------------------------------------------------- eval
def _needs_eval(segment: dict, study: Study) -> bool:
    return segment.get("fid") is None or segment.get("fid_samples") != study.fid_samples or "seam_ratio" not in segment


def checkpoint_fid(loaded, extractor, num: int, reference) -> float:
    """FID of the first `num` FID samples of a loaded generator (eval_fid.py --mode=checkpoint's images)."""
    from fid import frechet, statistics
    from generation.sampling import sample_fid_images

    def batches():
        for first in range(0, num, FID_BATCH):
            size = min(FID_BATCH, num - first)
            yield sample_fid_images(loaded.patches, loaded.geometry, loaded.z_dim, first, size)

    mu, sigma, _ = statistics.compute_statistics(extractor, batches(), num, show_progress=False)
    return float(frechet.frechet_distance(mu, sigma, *reference))


def eval_phase(
    study: Study, out: pathlib.Path, variants: list, ref, extractor=None, log=print, marks: list | None = None
) -> None:
    """FID and seam ratio of every recorded mark checkpoint that has none (or another fid_samples);
    `marks` limits it to those marks (minutes), in that order."""
    ledger = Ledger(out)
    pending = [s for s in ledger.segments if s["variant"] in variants and _needs_eval(s, study)]
    if marks is not None:
        pending = sorted(
            (s for s in pending if s["mark_minutes"] in marks), key=lambda s: marks.index(s["mark_minutes"])
        )
    if not pending:
        log("eval: nothing to evaluate")
        return
    import tensorflow as tf

    from fid import statistics, training_monitor
    from generation.restore import load_generator, make_full_image_sampler
    from generation.seams import format_seam_ratio, seam_ratio_or_none

    reference = statistics.load_statistics(ref)
    extractor = extractor or statistics.FeatureExtractor()
    name = training_monitor.metric_name(study.fid_samples)
    for segment in pending:
        run_dir = out / segment["variant"] / "run"
        start = time.time()
        loaded = load_generator(run_dir, str(out / segment["checkpoint"]))
        fid = checkpoint_fid(loaded, extractor, study.fid_samples, reference)
        images = make_full_image_sampler(loaded, batch_size=FID_BATCH)(study.seam_samples, SEAM_SEED)
        seams = seam_ratio_or_none(images, loaded.geometry.micro_size)
        writer = tf.summary.create_file_writer(str(run_dir))
        with writer.as_default(step=segment["step"]):
            tf.summary.scalar(f"metric/{name}", fid)
        writer.close()
        segment.update(
            fid=fid,
            fid_samples=study.fid_samples,
            seam_ratio=seams,
            seam_samples=study.seam_samples,
            eval_wall_seconds=time.time() - start,
        )
        ledger.save()
        log(
            f"[{segment['variant']} {segment['mark_minutes']:g} min] step {segment['step']}: {name} {fid:.2f}, "
            f"seam ratio {format_seam_ratio(seams)}"
        )


# ----------------------------------------------------------------------------- report
CSV_COLUMNS = (
    "variant",
    "mark_minutes",
    "step",
    "train_seconds",
    "fid",
    "fid_samples",
    "seam_ratio",
    "segment_wall_seconds",
    "exit_latency_seconds",
    "eval_wall_seconds",
    "load_start",
    "load_end",
    "machine",
)


def _rows(study: Study, ledger: Ledger, variants: list) -> list:
    rows = []
    for variant in variants:
        for mark in study.marks:
            segment = ledger.find(variant, mark)
            if segment is not None:
                rows.append(segment)
    return rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # load averages: the 1-minute one
        return f"{value[0]:.2f}"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    return str(value)


def _plot(rows: list, variants: list, x_key: str, x_label: str, path: pathlib.Path, floor, scale=1.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for variant in variants:
        points = [(r[x_key] * scale, r["fid"]) for r in rows if r["variant"] == variant and r.get("fid") is not None]
        if points and points[0][0] is not None:
            ax.plot(*zip(*points), marker="o", label=variant)
    if floor is not None:
        ax.axhline(floor, color="gray", linestyle="--", label=f"real vs real ({floor:g})")
    ax.set_xlabel(x_label)
    ax.set_ylabel("FID")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report_phase(study: Study, out: pathlib.Path, variants: list, floor=None, log=print) -> list:
    """Write results.csv, results.md, the two FID plots and each variant's final grid; the rows."""
    ledger = Ledger(out)
    rows = _rows(study, ledger, variants)
    if not rows:
        raise UserError(f"{out / LEDGER} records no trained mark of {', '.join(variants)}; run --phase train first")
    floor = study.floor_fid if floor is None else floor
    table = io.StringIO()
    csv.writer(table, lineterminator="\n").writerows(
        [CSV_COLUMNS, *[[_cell(r.get(c)) for c in CSV_COLUMNS] for r in rows]]
    )
    write_atomic(out / "results.csv", table.getvalue())
    name = f"FID ({study.fid_samples} samples)"
    md = [
        f"| variant | mark (min) | step | training min | {name} | seam ratio | segment wall (min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fid = "" if r.get("fid") is None else f"{r['fid']:.2f}"
        seam = "n/a" if "seam_ratio" in r and r["seam_ratio"] is None else _fmt(r.get("seam_ratio"), ".3f")
        md.append(
            f"| {r['variant']} | {r['mark_minutes']:g} | {r['step']} | {_fmt(r.get('train_seconds'), '.1f', 60)} | "
            f"{fid} | {seam} | {_fmt(r.get('segment_wall_seconds'), '.1f', 60)} |"
        )
    machines = sorted({r["machine"] for r in rows if r.get("machine")})
    if machines:
        md.append(f"\nTrained on: {'; '.join(machines)}.")
    if floor is not None:
        md.append(f"\nReal-vs-real FID floor: {floor:g}.")
    write_atomic(out / "results.md", "\n".join(md) + "\n")
    if any(r.get("fid") is not None for r in rows):
        timed = [r for r in rows if r.get("train_seconds") is not None]
        _plot(timed, variants, "train_seconds", "training time (min)", out / "fid_vs_time.png", floor, 1 / 60)
        _plot(rows, variants, "step", "iterations", out / "fid_vs_iterations.png", floor)
    else:
        log("report: no FID yet (run --phase eval); plots skipped")
    for variant in variants:
        last = [r for r in rows if r["variant"] == variant]
        if not last:
            continue
        grid = out / variant / "run" / f"samples_{last[-1]['step']:07d}.png"
        if grid.is_file():
            shutil.copyfile(grid, out / variant / "final_grid.png")
        else:
            log(f"report: {grid} not found; no final_grid.png for {variant}")
    log(f"report: {out / 'results.csv'}, {out / 'results.md'}")
    return rows


def _fmt(value, spec: str, divide: float = 1.0) -> str:
    return "" if value is None else format(value / divide, spec)


# ----------------------------------------------------------------------------- command line
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=pathlib.Path, help="the study YAML (bench/studies/*.yaml)")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="the study's folder")
    parser.add_argument("--data_dir", help="training images (passed to main.py --data_dir)")
    parser.add_argument("--ref", help="reference statistics .npz for FID (eval_fid.py --mode=stats)")
    parser.add_argument("--phase", choices=("all", "train", "eval", "report"), default="all")
    parser.add_argument("--variants", help="comma-separated subset of the study's variants (default: all)")
    parser.add_argument("--marks", help="eval: comma-separated marks (minutes) to evaluate, in this order")
    parser.add_argument("--until", type=float, help="train: stop each variant at this mark (minutes)")
    parser.add_argument("--floor", type=float, help="real-vs-real FID line in the plots (overrides floor_fid)")
    args = parser.parse_args(argv)
    study = load_study(args.study)
    variants = list(study.variants)
    if args.variants:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = [v for v in variants if v not in study.variants]
        if unknown or not variants:
            raise UserError(f"--variants: unknown variant(s) {unknown}; {args.study} has {list(study.variants)}")
    if args.phase in ("all", "eval"):
        if not args.ref:
            raise UserError(f"--phase {args.phase} needs --ref REF.npz (eval_fid.py --mode=stats makes one)")
        if not pathlib.Path(args.ref).is_file():
            raise UserError(f"--ref {args.ref}: file not found")
    marks = None
    if args.marks:
        try:
            marks = [float(m) for m in args.marks.split(",") if m.strip()]
        except ValueError:
            raise UserError(f"--marks {args.marks!r}: give comma-separated minutes such as 20,40") from None
        unknown = [m for m in marks if m not in study.marks]
        if unknown or not marks:
            raise UserError(f"--marks: {unknown or args.marks} not among the study's marks {study.marks}")
    if args.until is not None and args.until not in study.marks:
        raise UserError(f"--until {args.until:g}: not among the study's marks {study.marks}")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file, not a folder")
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "study.yaml", args.study.read_text())
    if args.phase in ("all", "train"):
        train_phase(study, args.out, variants, args.data_dir, until=args.until)
    if args.phase in ("all", "eval"):
        eval_phase(study, args.out, variants, args.ref, marks=marks)
    if args.phase in ("all", "report"):
        report_phase(study, args.out, variants, args.floor)


if __name__ == "__main__":
    exit_on_user_error(main)
