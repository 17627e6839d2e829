"""What the Docker image holds: every runtime package at its pinned version and importable, no test tool.

Run inside the image by bench/compose_check.sh, with the two requirement files' text as arguments
(standard library only, so that it needs nothing the image lacks):

    docker exec -i CONTAINER python - "$(cat requirements.txt)" "$(cat requirements-test.txt)" < bench/image_check.py

Prints what it found; exit status 1 with each problem when a runtime package is missing, at another
version or fails to import, or a package only the tests need is installed.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys

PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)")


def pins(text: str) -> dict[str, str]:
    """name → version of each `name==version` line (extras dropped), names normalised as PEP 503 does."""
    found = {}
    for line in text.splitlines():
        match = PIN.match(line.split("#", 1)[0].strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def top_level_modules(name: str) -> list[str]:
    """The top-level modules a distribution installs (its packages and single-file modules)."""
    modules = set()
    for file in importlib.metadata.distribution(name).files or []:
        first = file.parts[0]
        if file.suffix not in (".py", ".so") or first.startswith(("_", "..")) or first.endswith((".dist-info", ".data", ".libs")):
            continue
        modules.add(first.split(".")[0] if len(file.parts) == 1 else first)
    return sorted(modules)


def problems(runtime_text: str, test_text: str) -> tuple[list[str], list[str]]:
    """(what was checked, what is wrong) for this interpreter's installed packages."""
    runtime = pins(runtime_text)
    checked, wrong = [], []
    for name, version in sorted(runtime.items()):
        have = installed_version(name)
        if have is None:
            wrong.append(f"runtime package {name}=={version} is not installed")
        elif have != version:
            wrong.append(f"runtime package {name} is {have}, requirements.txt pins {version}")
        else:
            checked.append(f"{name}=={have}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dicomsite.settings")
    import django

    django.setup()
    for name in sorted(runtime):
        if installed_version(name) is None:
            continue
        for module in top_level_modules(name):
            try:
                importlib.import_module(module)
            except Exception as error:  # any failure to import is what this check reports
                wrong.append(f"{module} (from {name}) does not import: {type(error).__name__}: {error}")
    for name in sorted(set(pins(test_text)) - set(runtime)):
        if installed_version(name) is not None:
            wrong.append(f"test-only package {name} is installed")
    return checked, wrong


def main(argv: list[str]) -> int:
    runtime_text, test_text = argv
    checked, wrong = problems(runtime_text, test_text)
    import gdcm

    print(f"image: Python {sys.version.split()[0]}, user id {os.getuid()}, {len(checked)} runtime packages at their "
          f"pinned versions, GDCM {gdcm.Version.GetVersion()}")
    for problem in wrong:
        print(f"image: {problem}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
