"""A preloaded Python for the tests' TensorFlow subprocesses: it imports TensorFlow and the project once, then
forks one child per request (tests/helpers.py ForkServer is the other end).

A child is a new process as far as TensorFlow is concerned: this process imports the modules but never starts
TensorFlow's runtime (checked below), so every child sets up its own (logical CPU devices, TF_CONFIG, op
determinism) as a fresh interpreter does, and a SIGKILL ends the child alone. What a child skips is the
interpreter start-up and the imports, about 10 CPU-seconds per process on 2 cores.

    python tests/fork_server.py FD

FD is one end of a SOCK_SEQPACKET socket pair; one JSON message per request:
  {"op": "spawn", "code", "argv", "env", "cwd", "process_group"} with the child's stdout and stderr descriptors
      attached (SCM_RIGHTS); the child runs `code` as `python -c` does. Reply {"pid"}.
  {"op": "wait", "pid"}: reply {"returncode", "cpu_seconds"} once that child has exited.
The server exits when the other end closes.
"""

import json
import os
import pathlib
import socket
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402, F401
import tensorflow  # noqa: E402, F401
from tensorflow.python.eager import context  # noqa: E402

import main  # noqa: E402, F401  (main.py's flags, and through it everything training imports)
import training.loop  # noqa: E402, F401

if context.context()._initialized:  # children would inherit a runtime whose threads did not survive the fork
    raise SystemExit("fork_server: TensorFlow's runtime started during the imports; children would not be fresh")


def become_child(request: dict, fds: list) -> None:
    """In the forked child: the requested stdio, working directory, environment and argv; then run the code."""
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    for fd in fds:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if request["process_group"]:
        os.setpgid(0, 0)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # read TMPDIR again
    sys.argv = request["argv"]
    # Line-buffered output, as PYTHONUNBUFFERED gives a subprocess: a line printed before a SIGKILL is kept.
    sys.stdout.reconfigure(line_buffering=True)
    exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})


def serve(conn: socket.socket) -> None:
    while True:
        message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 2)
        if not message:
            return
        request = json.loads(message)
        if request["op"] == "spawn":
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                conn.close()
                become_child(request, fds)
                # The code returned: exit as the interpreter would (exceptions and SystemExit from the code
                # propagate out of serve() instead, with the interpreter's usual traceback and exit code).
                sys.exit(0)
            for fd in fds:
                os.close(fd)
            conn.send(json.dumps({"pid": pid}).encode())
        elif request["op"] == "wait":
            _, status, usage = os.wait4(request["pid"], 0)
            reply = {"returncode": os.waitstatus_to_exitcode(status), "cpu_seconds": usage.ru_utime + usage.ru_stime}
            conn.send(json.dumps(reply).encode())


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
