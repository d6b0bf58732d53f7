"""tests/helpers.py ForkServer, which starts the TensorFlow processes of the kill, resume, distribution and study
tests: its children are fresh processes (their own TensorFlow runtime, argv, environment, working folder and
exit code) and answer the subprocess.Popen calls those tests make as a subprocess does."""

import json
import os
import signal
import subprocess

import pytest

CHILD = """
import json, os, sys
import tensorflow as tf
# Logical devices can only be set up before a process's runtime starts: this fails in a forked runtime.
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 3)
devices = len(tf.config.list_logical_devices("CPU"))
print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": os.environ.get("FORK_TEST"), "devices": devices}))
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


def test_a_child_is_a_fresh_process_with_its_own_argv_environment_folder_and_exit_code(fork_server, tmp_path):
    proc = fork_server.run(CHILD, ["7", "x"], env={**os.environ, "FORK_TEST": "yes"}, cwd=tmp_path, timeout=120)
    assert proc.returncode == 7, proc.stderr
    assert json.loads(proc.stdout) == {"argv": ["-c", "7", "x"], "cwd": str(tmp_path), "env": "yes", "devices": 3}
    assert proc.stderr.splitlines()[-1] == "to stderr"
    # An exception leaving the code: the interpreter's traceback and exit code 1, as with `python -c`.
    failed = fork_server.run("raise ValueError('bad input')", timeout=60)
    assert failed.returncode == 1 and failed.stderr.splitlines()[-1] == "ValueError: bad input"


def test_a_killed_child_reports_the_signal_and_keeps_the_lines_it_printed(fork_server):
    proc = fork_server.run("import os, signal\nprint('before')\nos.kill(os.getpid(), signal.SIGKILL)", timeout=60)
    assert proc.returncode == -signal.SIGKILL and proc.stdout == "before\n"  # line-buffered, as unbuffered runs
    slow = fork_server.popen("import time\nprint('up')\ntime.sleep(120)", [], stderr_to_stdout=True)
    assert slow.stdout.readline() == "up\n"
    with pytest.raises(subprocess.TimeoutExpired):
        slow.communicate(timeout=0.5)
    slow.kill()
    out, err = slow.communicate()
    assert slow.returncode == -signal.SIGKILL and out == "" and err is None
