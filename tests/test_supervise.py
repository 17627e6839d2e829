"""`manage.py supervise`, which `make run` serves through: a program that dies comes back; Ctrl-C stops all."""
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLEEPER = "sleeper=" + sys.executable + " -c 'import os, time; print(\"pid\", os.getpid(), flush=True); time.sleep(300)'"


def line_reader(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def next_line_with(lines: queue.Queue, text: str, timeout_s: float = 30) -> str:
    """The next line starting with `text`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line.startswith(text):
            return line
    raise AssertionError(f"no line with {text!r} within {timeout_s} s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_program_is_started_again_and_an_interrupt_stops_everything():
    supervisor = subprocess.Popen([sys.executable, "manage.py", "supervise", SLEEPER], cwd=ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines = line_reader(supervisor.stdout)
    try:
        first = int(next_line_with(lines, "pid ").split()[1])
        os.kill(first, signal.SIGKILL)
        assert "sleeper stopped (killed by SIGKILL)" in next_line_with(lines, "supervise: sleeper stopped")
        second = int(next_line_with(lines, "pid ").split()[1])
        assert second != first and alive(second)
        supervisor.send_signal(signal.SIGINT)  # only the supervisor: it must stop the program itself
        assert supervisor.wait(timeout=60) == 0
        assert not alive(second)
        next_line_with(lines, "supervise: stopped")
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)


def test_a_program_given_without_a_name_is_refused():
    run = subprocess.run([sys.executable, "manage.py", "supervise", "gunicorn dicomsite.wsgi"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "give each program as NAME=COMMAND" in run.stderr
