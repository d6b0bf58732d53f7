"""Small helpers shared by the training-loop tests (tests/ is on sys.path under pytest)."""

import importlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from configs import Config, config_path, load_config, replace

REPO = pathlib.Path(__file__).resolve().parents[1]


def tiny(
    *, data: dict | None = None, model: dict | None = None, loss: dict | None = None, log: dict | None = None, **train
) -> Config:
    """The tiny test configuration (configs/tiny.yaml): keyword arguments override train_params,
    `data`, `model`, `loss` and `log` override data_params, model_params, loss_params, log_params."""
    config = load_config(config_path("tiny"))
    sections = {
        "data_params": data,
        "model_params": model,
        "loss_params": loss,
        "log_params": log,
        "train_params": train,
    }
    sections = {name: values for name, values in sections.items() if values}
    return replace(config, **sections) if sections else config


def untrained_run(path: pathlib.Path, config: Config | None = None, step: int = 7):
    """A log directory as training writes it (config.yaml + checkpoints/ckpt-<step>), untrained weights;
    returns the TrainingState that was saved. `config` defaults to the tiny configuration."""
    from training.state import CONFIG_FILE, build_training_state, checkpoint_manager

    config = config or tiny()
    path.mkdir(parents=True, exist_ok=True)
    state = build_training_state(config)
    state.step.assign(step)
    (path / CONFIG_FILE).write_text(config.to_yaml())
    checkpoint_manager(state, path).save(checkpoint_number=step)
    return state


def quiet(*_):
    """A log function that prints nothing."""


MAIN = """
# `python main.py ARGV` for a child of the fork server, which has imported main.py (its flags) already: what the
# script's __main__ block runs.
import sys
sys.argv[0] = "main.py"
import main
main.run()
"""

EAGER_MAIN = f"""
# main.py's command line with every tf.function run eagerly (no tracing at start-up).
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, {str(REPO)!r})
import tensorflow as tf
tf.config.run_functions_eagerly(True)
sys.argv[0] = "main.py"
import main
main.run()
"""
"""The code of `python main.py ARGV` with every tf.function run eagerly, for `python -c EAGER_MAIN ARGV` or
ForkServer.popen(EAGER_MAIN, ARGV): for processes whose subject is around the step (kills, the study runner),
not the compiled step, which then costs no tracing."""


def scalar_events(logdir):
    """(step, tag, value) of every scalar summary in logdir's events files, oldest file first."""
    import tensorflow as tf

    for path in sorted(pathlib.Path(logdir).glob("events.out.tfevents.*")):
        try:
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "scalars":
                        yield event.step, value.tag, tf.make_ndarray(value.tensor).item()
        except tf.errors.DataLossError:  # the tail of a killed process's file
            pass


class TimedCalls:
    """Wraps Trainer._build_train_calls (monkeypatch) so a test times every training call on its own: `durations`
    of the calls, `builds` (iterations per call) of the functions built."""

    def __init__(self, monkeypatch):
        from training.loop import Trainer

        self.durations, self.builds = [], []
        build = Trainer._build_train_calls

        def timed_build(trainer, n):
            calls = build(trainer, n)
            self.builds.append(n)

            def timed(iterator):
                start = time.perf_counter()
                out = {k: v.numpy() for k, v in calls(iterator).items()}
                self.durations.append(time.perf_counter() - start)
                return out

            return timed

        monkeypatch.setattr(Trainer, "_build_train_calls", timed_build)


def saved_train_seconds(logdir) -> float:
    """train_seconds in the newest checkpoint of logdir/checkpoints."""
    import tensorflow as tf

    prefix = tf.train.latest_checkpoint(str(pathlib.Path(logdir) / "checkpoints"))
    return float(tf.train.load_checkpoint(prefix).get_tensor("train_seconds/.ATTRIBUTES/VARIABLE_VALUE"))


def load_bench(name):
    """The module of bench/<name>.py (bench/ is scripts, not a package)."""
    import importlib.util

    script = pathlib.Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CLI_FLAGS: dict = {}  # command-line module -> the absl flag names its import defined


def import_cli(name: str):
    """The command-line module `name` (main, generate, eval_fid) with only its own absl flags defined.

    absl flags are process-wide and several CLIs define the same names (--data_dir, --seed...), so the
    flags of any other CLI imported earlier in this test process are removed first."""
    from absl import flags

    for other in [n for n in _CLI_FLAGS if n != name]:
        for flag in _CLI_FLAGS.pop(other):
            if flag in flags.FLAGS:
                delattr(flags.FLAGS, flag)
        sys.modules.pop(other, None)
    if name not in _CLI_FLAGS:
        sys.modules.pop(name, None)
        importlib.import_module(name)
        _CLI_FLAGS[name] = {flag.name for flag in flags.FLAGS.flags_by_module_dict().get(name, [])}
    return sys.modules[name]


def run_cli_in_process(name: str, argv: list, capsys) -> tuple:
    """The command line `name` (main, generate, eval_fid) in this process with this argv: (exit code, stdout,
    stderr).

    `run()` (main.py, generate.py) or eval_fid.py's run_cli(main) is what `python NAME.py ...` runs."""
    from absl import flags

    from configs.errors import run_cli

    module = import_cli(name)
    entry = module.run if hasattr(module, "run") else lambda: run_cli(module.main)
    old = sys.argv
    sys.argv = [f"{name}.py", *argv]
    flags.FLAGS.unparse_flags()
    try:
        try:
            entry()
        except SystemExit as exit_info:
            code = exit_info.code
        else:
            raise AssertionError(f"{name}: the command line returned without exiting")
    finally:
        sys.argv = old
        flags.FLAGS.unparse_flags()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_main_in_process(argv: list, capsys) -> tuple:
    """main.run() in this process with this argv: (exit code, stderr)."""
    code, _, err = run_cli_in_process("main", argv, capsys)
    return code, err


class TinyFeatures:
    """A stand-in for the Inception network in tests of the code around FID (the study runner, the
    in-training hook): `dim` fixed random projections of the raw pixel values, so a Fréchet distance is a
    dim x dim problem instead of a 2048 x 2048 one. Deterministic: equal images give equal features."""

    def __init__(self, dim: int = 4):
        self.dim = dim

    def __call__(self, images) -> np.ndarray:
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise TypeError(f"expected uint8 images, got {images.dtype}")
        flat = images.reshape(len(images), -1).astype(np.float64)
        projection = np.random.default_rng(flat.shape[1]).normal(size=(flat.shape[1], self.dim))
        return flat @ projection / np.sqrt(flat.shape[1])


def use_tiny_fid_features(monkeypatch, dim: int = 4) -> None:
    """Every fid.statistics.FeatureExtractor built from now on (FidMonitor, eval_fid.py, bench/study.py) is a
    TinyFeatures(dim), and .npz statistics of dim-d features load."""
    from fid import statistics

    monkeypatch.setattr(statistics, "FeatureExtractor", lambda *_a, **_k: TinyFeatures(dim))
    monkeypatch.setattr(statistics, "FEATURE_DIM", dim)


_CASES_DRIVER = """
# One command line (module.entry via `call`) for several argv in one fresh process: one start-up.
# Records each case's exit code, stderr and whether TensorFlow had been imported by its end.
import contextlib, io, json, sys
sys.path.insert(0, {repo!r})
from absl import flags
import {module}
from configs.errors import run_cli
results = []
for argv in json.loads(sys.argv[1]):
    flags.FLAGS.unparse_flags()
    sys.argv = ["{module}.py", *argv]
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            {call}
        except SystemExit as e:
            code = e.code
    results.append([code, err.getvalue(), "tensorflow" in sys.modules])
print("RESULTS " + json.dumps(results))
"""


def run_cli_cases(module: str, call: str, argvs: list, timeout: int = 600) -> list:
    """[(exit code, stderr, tensorflow imported)] of `call` (e.g. "main.run()") for each argv, all in one
    subprocess of `python -c` (one start-up instead of one per case)."""
    import json
    import subprocess

    repo = pathlib.Path(__file__).resolve().parents[1]
    script = _CASES_DRIVER.format(repo=str(repo), module=module, call=call)
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argvs)], cwd=repo, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")][0]
    return [tuple(r) for r in json.loads(line[8:])]


def _read_and_close(pipe, chunks: list) -> None:
    with pipe:
        chunks.append(pipe.read())


class ForkedProcess:
    """A child of a ForkServer, with the parts of subprocess.Popen the tests use: the stdout / stderr pipes
    (text), wait, communicate, send_signal, kill, returncode; and the child's CPU seconds once it has exited."""

    def __init__(self, server: "ForkServer", pid: int, args: list, stdout, stderr):
        self._server, self.pid, self.args, self.stdout, self.stderr = server, pid, args, stdout, stderr
        self.returncode: int | None = None
        self.cpu_seconds: float | None = None
        self._readers: list = []

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative: killed by that signal). On a timeout the child is killed first, then
        subprocess.TimeoutExpired is raised (the server answers one request at a time)."""
        if self.returncode is None:
            reply, timed_out = self._server.wait_for(self.pid, timeout)
            self.returncode, self.cpu_seconds = reply["returncode"], reply["cpu_seconds"]
            if timed_out:
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple:
        """(stdout, stderr) read to their end, as Popen.communicate reads them (one thread per pipe), then
        wait(); subprocess.TimeoutExpired if the pipes are still open after `timeout` (call again after kill())."""
        if not self._readers:
            for pipe in (self.stdout, self.stderr):
                if pipe is not None:
                    chunks: list = []
                    thread = threading.Thread(target=_read_and_close, args=(pipe, chunks), daemon=True)
                    thread.start()
                    self._readers.append((thread, chunks))
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread, _ in self._readers:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait()
        texts = ["".join(chunks) for _, chunks in self._readers]
        return texts[0], texts[1] if self.stderr is not None else None


class ForkServer:
    """tests/fork_server.py: one Python that imported TensorFlow and the project, forking a child per
    process a test starts. For subprocesses that exist because of what must happen in a process of their own
    (a SIGKILL, logical devices, TF_CONFIG, op determinism): each is then a fresh TensorFlow process without
    the ~10 CPU-seconds of interpreter start-up and imports. Tests of a command line's real start-up
    (`python main.py ...`, what it imports before failing) run the real script instead."""

    def __init__(self):
        import socket
        import tempfile

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log = tempfile.TemporaryFile()
        script = pathlib.Path(__file__).with_name("fork_server.py")
        self._proc = subprocess.Popen(
            [sys.executable, str(script), str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        theirs.close()
        self._sock = ours
        self._lock = threading.Lock()

    def _ask(self, request: dict, fds: list | None = None, timeout: float | None = None) -> dict:
        import socket

        self._sock.settimeout(timeout)
        try:
            socket.send_fds(self._sock, [json.dumps(request).encode()], fds or [])
            reply = self._sock.recv(1 << 16)
        except (BrokenPipeError, ConnectionResetError):
            reply = b""
        finally:
            self._sock.settimeout(None)
        if not reply:
            self._log.seek(0)
            raise RuntimeError(f"the fork server exited:\n{self._log.read().decode(errors='replace')[-3000:]}")
        return json.loads(reply)

    def popen(
        self, code: str, argv: list, *, env: dict | None = None, cwd=REPO, stderr_to_stdout=False, process_group=False
    ) -> ForkedProcess:
        """Start `code` as `python -c CODE ARGV...` would (sys.argv = ["-c", *argv]) with `env` (default: this
        process's environment) in `cwd`; stdout and stderr are pipes (stderr into stdout if asked); with
        `process_group` the child leads a process group of its own (Popen's process_group=0)."""
        out_r, out_w = os.pipe()
        err_r, err_w = (out_r, out_w) if stderr_to_stdout else os.pipe()
        request = {
            "op": "spawn",
            "code": code,
            "argv": ["-c", *map(str, argv)],
            "env": dict(os.environ if env is None else env),
            "cwd": str(cwd),
            "process_group": bool(process_group),
        }
        try:
            with self._lock:
                pid = self._ask(request, [out_w, err_w])["pid"]
        finally:
            os.close(out_w)
            if err_w != out_w:
                os.close(err_w)
        stdout = open(out_r, errors="replace")
        stderr = None if stderr_to_stdout else open(err_r, errors="replace")
        return ForkedProcess(self, pid, ["-c", code, *argv], stdout, stderr)

    def wait_for(self, pid: int, timeout: float | None = None) -> tuple:
        """(the server's reply for child `pid` once it exited, whether it was killed after `timeout`)."""
        import socket

        with self._lock:
            try:
                return self._ask({"op": "wait", "pid": pid}, timeout=timeout), False
            except socket.timeout:
                os.kill(pid, signal.SIGKILL)
                reply = self._sock.recv(1 << 16)  # the answer to the same request, now that it exited
                return json.loads(reply), True

    def run(self, code: str, argv: list = (), *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
        """subprocess.run(..., capture_output=True, text=True, timeout=...) for popen's arguments."""
        proc = self.popen(code, list(argv), **kwargs)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def close(self) -> None:
        self._sock.close()  # the server's recv returns nothing: it exits
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()


def run_file_code(path) -> str:
    """The code for ForkServer.popen / run that runs the script `path` as `python PATH ARGV...` does."""
    return f"import runpy, sys\nsys.argv[0] = {str(path)!r}\nrunpy.run_path({str(path)!r}, run_name='__main__')\n"
