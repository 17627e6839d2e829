#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys

COMMANDS_WITHOUT_APPS = {"measure": "volumes.management.commands.measure"}
"""Commands that use no model, run with the settings alone: loading every app (`django.setup`)
would take most of a one-file measurement's time (README, Benchmark: start-up)."""


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dicomsite.settings")
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS_WITHOUT_APPS:
        import importlib

        importlib.import_module(COMMANDS_WITHOUT_APPS[sys.argv[1]]).run_without_apps(sys.argv)
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
