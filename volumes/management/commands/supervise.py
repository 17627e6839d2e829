"""`manage.py supervise NAME=COMMAND...`: run the commands, start again each one that stops, until Ctrl-C.

`make run` serves through it: the web server and the worker come back by themselves when one dies (a
crash, the OOM killer, a kill), after a pause that grows while it keeps dying at once (1 s, doubled
up to 30 s; back to 1 s once it has run for a minute), so a broken configuration repeats its message
in the log instead of spinning. Ctrl-C or SIGTERM stops them all, then the supervisor.
"""
from __future__ import annotations

import shlex
import signal
import subprocess
import time
from dataclasses import dataclass

from django.core.management.base import BaseCommand, CommandError

FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 30.0
STEADY_AFTER_S = 60.0
"""A program that ran this long before it stopped is restarted after the first pause again."""
OWN_EXIT_S = 2.0
"""After Ctrl-C, how long the programs (which the terminal signalled too) get to stop by themselves."""
STOP_GRACE_S = 20.0
POLL_S = 0.2


@dataclass
class Program:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    pause_s: float = FIRST_PAUSE_S
    restart_at: float | None = None


def parse_program(text: str) -> Program:
    name, separator, command = text.partition("=")
    if not separator or not name.strip() or not command.strip():
        raise CommandError(f"{text!r}: give each program as NAME=COMMAND, e.g. 'web=gunicorn dicomsite.wsgi'")
    return Program(name=name.strip(), argv=shlex.split(command))


def exit_description(status: int) -> str:
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"


class Command(BaseCommand):
    help = "Run programs (NAME=COMMAND), restarting each when it stops, until interrupted."
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("programs", nargs="+", metavar="NAME=COMMAND")

    def handle(self, *args, programs, **options):
        supervised = [parse_program(text) for text in programs]
        stop_signals: list[int] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda signum, frame: stop_signals.append(signum))
        for program in supervised:
            self.start(program)
        while not stop_signals:
            now = time.monotonic()
            for program in supervised:
                if program.process is not None and program.process.poll() is not None:
                    self.schedule_restart(program, now)
                if program.process is None and program.restart_at is not None and now >= program.restart_at:
                    self.start(program)
            time.sleep(POLL_S)
        self.stop_all(supervised)

    def start(self, program: Program) -> None:
        program.process = subprocess.Popen(program.argv)
        program.started_at = time.monotonic()
        program.restart_at = None
        self.log(f"started {program.name} (pid {program.process.pid}): {shlex.join(program.argv)}")

    def schedule_restart(self, program: Program, now: float) -> None:
        ran_s = now - program.started_at
        pause_s = FIRST_PAUSE_S if ran_s >= STEADY_AFTER_S else program.pause_s
        program.pause_s = min(pause_s * 2, LONGEST_PAUSE_S)
        program.restart_at = now + pause_s
        self.log(f"{program.name} stopped ({exit_description(program.process.returncode)}) after {ran_s:.1f} s; "
                 f"starting it again in {pause_s:.0f} s")
        program.process = None

    def stop_all(self, supervised: list[Program]) -> None:
        running = [p.process for p in supervised if p.process is not None]
        deadline = time.monotonic() + OWN_EXIT_S
        while time.monotonic() < deadline and any(process.poll() is None for process in running):
            time.sleep(POLL_S)
        for process in running:
            if process.poll() is None:
                process.terminate()
        for process in running:
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.log("stopped")

    def log(self, text: str) -> None:
        self.stdout.write(f"supervise: {text}")
        self.stdout.flush()
