"""The install is reproducible: the locks pin what pyproject.toml asks for, and CI runs the README's command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pins(lock: str) -> dict[str, str]:
    """Package name → pinned version of a lock written by `bash .ci/lock`."""
    found = {}
    for line in (ROOT / lock).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            found[canonicalize_name(match[1])] = match[3]
    return found


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [*project["dependencies"], *(r for extra in extras for r in project["optional-dependencies"][extra])]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize(("lock", "extras"), [("requirements.txt", ("postgres",)), ("requirements-test.txt", ("postgres", "test"))])
def test_each_lock_pins_every_declared_dependency_within_its_range(lock, extras):
    pinned = pins(lock)
    lines = (ROOT / lock).read_text().splitlines()
    assert "-e ." in lines  # the project itself, from the checkout
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is declared but not in {lock}: run `bash .ci/lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {requirement.name}=={pinned[name]}, outside {requirement.specifier}: run `bash .ci/lock`"
        )


def test_every_lock_line_is_an_exact_pin():
    for lock in ("requirements.txt", "requirements-test.txt"):
        for line in (ROOT / lock).read_text().splitlines():
            if line and not line.startswith(("#", " ", "-e .")):
                assert "==" in line, f"{lock}: {line!r} is not pinned"


def test_ci_builds_a_new_virtualenv_and_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "pip install -r requirements-test.txt && pytest"
    assert f"\n{command}\n" in readme
    assert ci.rstrip().endswith(command)
    assert "python3 -m venv" in ci
    assert "\npip install -r requirements.txt && flask --app webapp run\n" in readme
