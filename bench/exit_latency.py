"""Exit latency of a training run: time from its last checkpoint's commit to process exit.

Runs `python main.py --config C --logdir L [--data_dir D]` as a subprocess for --minutes of
wall time (the run gets a huge --steps), then sends SIGINT, on which the trainer saves a last
checkpoint and returns (as a user's Ctrl-C would). With --steps N instead, the run ends by
itself after N iterations. Printed: the time from the commit of the last checkpoint (mtime of
LOGDIR/checkpoints/checkpoint, the state file that is the commit point) to process exit, from
the trainer's last line to exit, and the load average before and after (figures taken under
load are only an indication). --py_spy S dumps the process's stacks (py-spy dump --native)
every S seconds after the stop, into LOGDIR/exit_stacks.txt.

    python bench/exit_latency.py --config configs/CelebA_32x32_N2M2S16_CPU.yaml \
        --data_dir DIR/celeba_10k --minutes 20
    python bench/exit_latency.py --config configs/MNIST_32x32_N2M2S32.yaml --minutes 3 --py_spy 5
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
STATE_FILE = pathlib.Path("checkpoints") / "checkpoint"


def _reader(stream, lines: list, echo: bool) -> None:
    """Collect (arrival time, line) of the child's output."""
    for line in iter(stream.readline, ""):
        lines.append((time.time(), line.rstrip("\n")))
        if echo:
            print(f"  | {line}", end="", flush=True)


def _dump_stacks(pid: int, every: float, out: pathlib.Path, done: threading.Event) -> None:
    """py-spy dump --native every `every` seconds until the process is gone."""
    with out.open("a") as fh:
        while not done.wait(every):
            proc = subprocess.run(["py-spy", "dump", "--native", "--pid", str(pid)], capture_output=True, text=True)
            fh.write(f"===== {time.strftime('%H:%M:%S')}\n{proc.stdout}{proc.stderr}\n")
            fh.flush()


def measure(args: argparse.Namespace) -> dict:
    logdir = pathlib.Path(args.logdir) if args.logdir else pathlib.Path(tempfile.mkdtemp(prefix="exit_latency_"))
    steps = args.steps if args.steps else 10**9
    cmd = [sys.executable, "main.py", "--config", args.config, "--logdir", str(logdir), "--steps", str(steps)]
    if args.data_dir:
        cmd += ["--data_dir", args.data_dir]
    load_before = os.getloadavg()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.time()
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines: list = []
    reader = threading.Thread(target=_reader, args=(proc.stdout, lines, args.verbose), daemon=True)
    reader.start()
    stopped_at = None
    if not args.steps:
        try:
            proc.wait(timeout=args.minutes * 60)
        except subprocess.TimeoutExpired:
            stopped_at = time.time()
            proc.send_signal(signal.SIGINT)
    done = threading.Event()
    if args.py_spy and shutil.which("py-spy") and proc.poll() is None:
        threading.Thread(
            target=_dump_stacks, args=(proc.pid, args.py_spy, logdir / "exit_stacks.txt", done), daemon=True
        ).start()
    code = proc.wait()
    exited = time.time()
    done.set()
    reader.join(timeout=10)
    state = logdir / STATE_FILE
    result = {
        "returncode": code,
        "wall_s": exited - start,
        "commit_to_exit_s": exited - state.stat().st_mtime if state.exists() else None,
        "last_line_to_exit_s": exited - lines[-1][0] if lines else None,
        "signal_to_exit_s": exited - stopped_at if stopped_at else None,
        "last_lines": [(exited - t, text) for t, text in lines[-3:]],
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "logdir": logdir,
    }
    if not args.logdir and not args.keep:
        shutil.rmtree(logdir, ignore_errors=True)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/CelebA_32x32_N2M2S16_CPU.yaml")
    parser.add_argument("--data_dir", help="training images (not needed for MNIST, synthetic)")
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall time before SIGINT")
    parser.add_argument("--steps", type=int, help="run to this many iterations instead (no signal)")
    parser.add_argument("--logdir", help="log directory (default: a temporary one, deleted afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary log directory")
    parser.add_argument("--py_spy", type=float, default=0.0, help="dump stacks every S seconds after the stop")
    parser.add_argument("--verbose", action="store_true", help="echo the run's output")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or (args.steps is not None and args.steps < 1):
        parser.error("--minutes must be > 0 and --steps >= 1")
    r = measure(args)
    fmt = lambda x: "n/a" if x is None else f"{x:.1f} s"  # noqa: E731
    print(f"exit code {r['returncode']}, wall {r['wall_s'] / 60:.1f} min; last lines (seconds before exit):")
    for before, line in r["last_lines"]:
        print(f"  {before:7.1f}  {line[:150]}")
    print(f"last checkpoint commit -> exit: {fmt(r['commit_to_exit_s'])}")
    print(f"last output line -> exit:      {fmt(r['last_line_to_exit_s'])}")
    if r["signal_to_exit_s"] is not None:
        print(f"SIGINT -> exit:                {fmt(r['signal_to_exit_s'])}")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*r["load_before"]))
    print("load average after:  {:.2f} {:.2f} {:.2f}".format(*r["load_after"]))
    if args.logdir or args.keep:
        print(f"log directory: {r['logdir']}")


if __name__ == "__main__":
    main()
