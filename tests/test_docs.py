"""The README and docs/ stay true: every setting and route is documented, every link leads
somewhere, and the examples run as written (datasette's tests/test_docs.py does the same)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import requests

from tests.support import ROOT
from tests.support.servers import gunicorn_server
from tests.support.docs import doc_block
from webapp import config, create_app

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# Being written on other branches; once they exist, their links and headings are checked too.
PENDING = {DOCS / "architecture.md", DOCS / "observability.md"}


def prose(markdown: str) -> str:
    """The text outside fenced code blocks (links and headings in examples are not links)."""
    return re.sub(r"^```.*?^```[ \t]*$", "", markdown, flags=re.S | re.M)


def anchors(markdown: str) -> set[str]:
    """GitHub's ids for the headings: lower case, punctuation dropped, spaces to hyphens,
    and -1, -2 … after repeats."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", prose(markdown), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def documented_routes(*pages: str) -> set[tuple[str, str]]:
    """(method, path) of each table row "| `GET`, `POST` | `/path/{id}` | …", with every
    path parameter written as {}."""
    routes = set()
    for page in pages:
        for methods, path in re.findall(r"^\|\s*((?:`[A-Z]+`,?\s*)+)\|\s*`([^`]+)`", (DOCS / page).read_text(), flags=re.M):
            for method in re.findall(r"[A-Z]+", methods):
                routes.add((method, re.sub(r"\{[^}]*\}", "{}", path)))
    return routes


def test_readme_fits_on_a_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_every_setting_the_app_reads_is_in_configuration(monkeypatch):
    class RecordingEnviron(dict):
        """An empty environment that remembers every name asked for."""

        def __init__(self) -> None:
            super().__init__()
            self.read: set[str] = set()

        def get(self, key, default=None):
            self.read.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            self.read.add(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            self.read.add(key)
            return super().__contains__(key)

    environ = RecordingEnviron()
    monkeypatch.setattr(os, "environ", environ)
    config.from_environment()
    gunicorn_conf = (ROOT / "gunicorn.conf.py").read_text()
    read = environ.read | set(re.findall(r"os\.environ(?:\.get\(|\[)\s*[\"']([A-Z0-9_]+)[\"']", gunicorn_conf))
    assert {"DATABASE_URL", "SECRET_KEY", "PROXY_FIX_X_PREFIX", "GUNICORN_BIND", "PORT"} <= read  # the probe works
    text = (DOCS / "configuration.md").read_text()
    missing = sorted(name for name in read if not re.search(rf"(?<![A-Z0-9_]){name}(?![A-Z0-9_])", text))
    assert not missing, f"settings read but not in docs/configuration.md: {missing}"


def test_every_route_is_documented_and_every_documented_route_exists():
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://", "AUTO_MIGRATE": False})
    served = {
        (method, re.sub(r"<[^>]*>", "{}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = documented_routes("api.md", "ui.md")
    assert not served - documented, f"routes missing from docs/api.md and docs/ui.md: {sorted(served - documented)}"
    assert not documented - served, f"documented routes the app does not have: {sorted(documented - served)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(page):
    text = prose(page.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links either
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            if linked not in PENDING:
                broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(f"{target}: no such heading")
    assert not broken, broken


def test_anchors_follow_githubs_rules():
    assert anchors("# The app's settings\n## `PROXY_FIX_*` and more\n```\n# not a heading\n```\n## The app's settings") == {
        "the-apps-settings", "proxy_fix_-and-more", "the-apps-settings-1",
    }


def test_python_api_example_runs_as_written(database_url):
    """docs/api.md's Python API and index examples, one after the other, as a script on a fresh
    database. A separate process: the index example adds its index to the shared table metadata."""
    example = doc_block("docs/api.md", "open_session(", "python")
    assert '"sqlite:///instance/artifacts.db"' in example
    script = "\n".join([
        example.replace('"sqlite:///instance/artifacts.db"', repr(database_url)),
        doc_block("docs/api.md", "Index(", "python"),
        "print(manager.find_by_id(child.id).level, df.to_dict('list'))",
    ])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1 {'feature1': [1.0, 2.0, 3.0], 'feature2': [4.0, 5.0, 6.0]}\n"


@pytest.fixture
def server(database_url):
    with gunicorn_server(database_url, workers=2) as base:
        yield base


def run(script: str, **env: str) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="apt-get install curl jq")
def test_readme_api_tour_prints_what_it_says(server):
    """The README's tour, as written, against gunicorn: each `# → …` is what its command prints."""
    tour = doc_block("README.md", "API=http://127.0.0.1:5000/api/v1/artifacts")
    assert len(tour.splitlines()) == 10
    expected = [json.loads(output) for output in re.findall(r"# → (.+)$", tour, flags=re.M)]
    printed = [json.loads(line) for line in run(tour.replace("http://127.0.0.1:5000", server)).splitlines()]
    assert printed == expected
    (root,) = requests.get(f"{server}/api/v1/artifacts", params={"roots": "true"}, timeout=10).json()["items"]
    (child,) = requests.get(f"{server}/api/v1/artifacts", params={"parent_id": root["id"]}, timeout=10).json()["items"]
    assert (root["data"], child["data"]) == ({"experiment": "churn"}, {"auc": 0.91})  # the stale PUT changed nothing


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="apt-get install curl jq")
def test_spec_curl_flow_in_the_api_docs_runs_as_written(server, database_url):
    """docs/api.md's copy of the spec's cURL flow, against gunicorn. Its last line counts rows
    with the sqlite3 shell, so on PostgreSQL the test counts them over HTTP instead."""
    flow = doc_block("docs/api.md", "# Create root artifact").replace("http://localhost:8000", server)
    count = 'sqlite3 instance/artifacts.db "SELECT COUNT(*) FROM artifacts;"\n'
    assert flow.endswith(count)
    if database_url.startswith("sqlite") and shutil.which("sqlite3"):
        flow = flow.replace("instance/artifacts.db", database_url.removeprefix("sqlite:///"))
    else:
        flow = flow.removesuffix(count) + f"curl -s '{server}/api/v1/artifacts' | jq .total\n"
    output = run(flow).splitlines()
    assert any(line.startswith("HTTP/1.1 409") for line in output)  # the root still has its child
    assert output[-2:] == ["1", "2"]  # one root; two artifacts in all
    api = f"{server}/api/v1/artifacts"
    (root,) = requests.get(api, params={"roots": "true"}, timeout=10).json()["items"]
    (child,) = requests.get(api, params={"parent_id": root["id"]}, timeout=10).json()["items"]
    assert child["data"] == {"model": "retrained"}
