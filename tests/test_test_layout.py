"""The test suite's own layout: test modules stand alone, sharing code only through tests/support/.

A test module that imports another (or conftest.py) runs that module's import-time code,
collects nothing new but couples the two, and breaks when either moves; what is shared
lives in tests/support/ instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SUPPORT = "tests.support"


def module_name(path: Path) -> str:
    """`tests/browser/test_ui.py` -> `tests.browser.test_ui` (a package's `__init__.py` is the package)."""
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    """The package relative imports in `path` start from."""
    return module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]


def local_names() -> set[str]:
    """Names that would reach a test file without the `tests.` prefix: `conftest`, `test_web`, `browser` …"""
    return {path.stem for path in TESTS.glob("*.py")} | {path.name for path in TESTS.iterdir() if path.is_dir()}


def imported_modules(source: str, package: str) -> list[tuple[int, list[str]]]:
    """For each import statement in `source`: its line and the absolute names it may load, the
    module first. Relative imports are resolved from `package`; `from package import name`
    names `package.name` too, since `name` may be a module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # from . import x, from ..support import y
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            members = [f"{module}.{alias.name}" for alias in node.names if alias.name != "*"]
            found.append((node.lineno, [module, *members]))
    return found


def is_allowed(name: str, local: set[str]) -> bool:
    top = name.split(".")[0]
    if name == SUPPORT or name.startswith(f"{SUPPORT}.") or name == "tests":  # `tests` itself holds no code
        return True
    return top != "tests" and top not in local


def forbidden_imports(source: str, package: str, local: set[str]) -> list[str]:
    """The imports in `source` that reach a test module or conftest rather than tests/support/."""
    bad = []
    for line, names in imported_modules(source, package):
        refused = [name for name in names if not is_allowed(name, local)]
        if refused:
            bad.append(f"line {line}: {refused[0]}")  # the module, or the first member that is one
    return bad


def test_test_modules_import_only_tests_support():
    local = local_names()
    found = {}
    for path in sorted(TESTS.rglob("*.py")):
        bad = forbidden_imports(path.read_text(), package_of(path), local)
        if bad:
            found[str(path.relative_to(TESTS.parent))] = bad
    assert found == {}, "import shared code from tests.support, not from test modules or conftest"


def test_the_walk_sees_the_whole_suite():
    names = {module_name(path) for path in TESTS.rglob("*.py")}
    assert {"tests.conftest", "tests.browser.conftest", "tests.browser.test_ui", "tests.support.servers"} <= names


LOCAL = {"conftest", "test_web", "test_frames", "helpers", "browser", "support"}


@pytest.mark.parametrize(
    "source",
    [
        "from tests.conftest import gunicorn_server",
        "from tests.test_frames import sample_csv",
        "import tests.test_load",
        "from tests import test_web",
        "from tests.helpers import assert_problem",
        "from tests.browser.conftest import PageWatch",
        "import conftest",
        "from test_web import textarea_value",
        "from . import conftest",
        "from .test_frames import SAMPLE_ROWS",
        "def helper():\n    from tests.test_crash import children_of\n",
    ],
)
def test_an_import_of_a_test_module_or_conftest_is_caught(source):
    assert forbidden_imports(source, "tests", LOCAL) != []


def test_a_relative_import_is_resolved_from_the_importing_package():
    assert forbidden_imports("from .. import test_web", "tests.browser", LOCAL) == ["line 1: tests.test_web"]
    assert forbidden_imports("from ..support.frames import sample_csv", "tests.browser", LOCAL) == []


@pytest.mark.parametrize(
    "source",
    [
        "from tests.support import ROOT",
        "from tests.support.servers import gunicorn_server",
        "import tests.support.html",
        "from tests import support",
        "from .support.problems import assert_problem",
        "import pytest\nfrom webapp.artifacts import ArtifactIn",
    ],
)
def test_imports_of_support_modules_and_libraries_pass(source):
    assert forbidden_imports(source, "tests", LOCAL) == []
