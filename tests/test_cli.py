"""The operations commands: `flask --app webapp stats | backup | export | import | prune`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from tests.support import ROOT
from webapp.artifacts import Artifact


def invoke(runner, *args: str):
    return runner.invoke(args=list(args), catch_exceptions=False)


def test_stats_prints_levels_trees_and_sizes(runner, make_artifact):
    root = make_artifact(name="run")
    make_artifact(make_artifact(root, name="model"), name="predictions")
    result = invoke(runner, "stats", "--top", "2")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert re.match(r"Database   \S+ \(\d+(\.\d)? (B|KB|MB|GB)\)$", lines[0])
    assert lines[1] == "Artifacts  3 artifacts in 1 tree"
    assert lines[2] == "Hierarchy  ml_pipeline (default): 3 artifacts in 1 tree"
    assert [line.split() for line in lines[3:6]] == [
        ["level", "0", "experiment", "1"], ["level", "1", "model", "1"], ["level", "2", "predictions", "1"],
    ]
    assert lines[6:8] == ["Hierarchy  document_versions: 0 artifacts in 0 trees", "Hierarchy  datasets: 0 artifacts in 0 trees"]
    assert f"  {root.id}  3 artifacts, 2 levels below the root" in lines
    assert "Largest artifacts (JSON data)" in lines
    assert lines[-1].startswith("Tables     artifacts 3")


def test_backup_writes_a_copy_and_never_overwrites(runner, make_artifact, tmp_path, database_url):
    make_artifact(name="kept")
    target = tmp_path / "store.backup"
    result = invoke(runner, "backup", str(target))
    assert result.exit_code == 0 and target.stat().st_size > 0
    if database_url.startswith("sqlite"):
        assert result.output == f"Backed up to {target} ({target.stat().st_size / 1024:.1f} KB, 1 artifact) " \
            "using the SQLite online backup API.\n"
    else:
        assert result.output.startswith(f"Backed up to {target} (") and "using pg_dump (custom format)." in result.output

    again = invoke(runner, "backup", str(target))
    assert again.exit_code == 1
    assert "already exists; choose a new file name" in again.output


def test_export_and_import_round_trip(runner, manager, make_artifact, tmp_path):
    root = make_artifact(name="experiment")
    model = make_artifact(root, name="model")
    make_artifact(model, name="predictions")
    path = tmp_path / "model.json"

    exported = invoke(runner, "export", str(model.id), "--output", str(path))
    assert exported.exit_code == 0
    assert re.fullmatch(rf"Exported 2 artifacts under {model.id} to {re.escape(str(path))} \(\d+(\.\d)? (B|KB)\)\.\n", exported.output)
    assert [a["data"]["name"] for a in json.loads(path.read_text())["artifacts"]] == ["model", "predictions"]

    manager.delete_subtree(model.id)
    imported = invoke(runner, "import", str(path))
    assert imported.exit_code == 0
    assert imported.output == f"Imported 2 artifacts from {path}: {model.id} under {root.id}.\n"
    manager.session.rollback()
    assert manager.get(model.id).parent_id == root.id


def test_export_default_file_name_and_unknown_root(runner, make_artifact, tmp_path, monkeypatch):
    root = make_artifact(name="alone")
    monkeypatch.chdir(tmp_path)
    assert invoke(runner, "export", str(root.id)).exit_code == 0
    assert json.loads((tmp_path / f"export-{root.id}.json").read_text())["root_id"] == str(root.id)
    missing = invoke(runner, "export", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert (missing.exit_code, missing.output) == (1, "Error: Artifact 01ARZ3NDEKTSV4RRFFQ69G5FAV not found.\n")


def test_import_refuses_conflicts_and_says_so(runner, manager, make_artifact, tmp_path):
    root = make_artifact(name="kept")
    path = tmp_path / "root.json"
    invoke(runner, "export", str(root.id), "-o", str(path))
    result = invoke(runner, "import", str(path))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: 1 of the 1 artifacts already exist here ({root.id}); nothing was imported. "
        "Delete them first, or import into another database.\n"
    )
    manager.session.rollback()
    assert manager.count() == 1


def test_import_placement_options(runner, manager, make_artifact, tmp_path):
    root = make_artifact(name="experiment")
    model = make_artifact(root, name="model")
    path = tmp_path / "model.json"
    invoke(runner, "export", str(model.id), "-o", str(path))
    manager.delete_subtree(root.id)

    both = invoke(runner, "import", str(path), "--as-root", "--parent", str(root.id))
    assert both.exit_code == 2 and "Use --parent ID or --as-root, not both." in both.output
    orphan = invoke(runner, "import", str(path))
    assert orphan.exit_code == 1 and f"The subtree's parent {root.id} is not in this database" in orphan.output
    as_root = invoke(runner, "import", str(path), "--as-root")
    assert as_root.output == f"Imported 1 artifact from {path}: {model.id} as a root.\n"

    other = make_artifact(name="other")
    manager.delete_subtree(model.id)
    under = invoke(runner, "import", str(path), "--parent", str(other.id))
    assert under.output == f"Imported 1 artifact from {path}: {model.id} under {other.id}.\n"
    missing_file = invoke(runner, "import", str(tmp_path / "nope.json"))
    assert missing_file.exit_code == 2 and "does not exist" in missing_file.output


def test_prune_dry_run_then_for_real(runner, manager, make_artifact):
    old = make_artifact(name="old experiment")
    make_artifact(old, name="old model")
    new = make_artifact(name="new experiment")
    manager.session.execute(
        update(Artifact).where(Artifact.id != str(new.id)).values(created_at=datetime.now(UTC) - timedelta(days=120))
    )
    manager.session.commit()

    dry = invoke(runner, "prune", "--older-than", "90d", "--dry-run")
    assert dry.exit_code == 0
    lines = dry.output.splitlines()
    assert re.fullmatch(r"Would delete 1 subtree \(2 artifacts\) created before \d{4}-\d\d-\d\d \d\d:\d\d UTC:", lines[0])
    assert re.fullmatch(rf"  {old.id}  level 0 \(experiment\), created \d{{4}}-\d\d-\d\d, 2 artifacts", lines[1])
    assert lines[2] == "Dry run: nothing was deleted."
    manager.session.rollback()
    assert manager.count() == 3

    real = invoke(runner, "prune", "--older-than", "90d")
    assert real.output.splitlines()[0].startswith("Deleted 1 subtree (2 artifacts)")
    manager.session.rollback()  # a fresh snapshot: the command wrote on its own connection
    assert {str(a.id) for a in manager.find_all()} == {str(new.id)}

    nothing = invoke(runner, "prune", "--older-than", "90d", "--level", "1")
    assert nothing.output.startswith("Nothing to prune: no subtree at level 1 is entirely older than ")


def test_prune_refuses_an_unclear_age(runner):
    result = runner.invoke(args=["prune", "--older-than", "ninety days"])
    assert result.exit_code == 2
    assert "Invalid value for --older-than: 'ninety days' is not an age like 90d" in result.output
    assert runner.invoke(args=["prune"]).exit_code == 2  # an age is required


@pytest.mark.slow  # four fresh Python processes, each importing the app: seconds, not milliseconds
def test_commands_run_from_the_shell(tmp_path):
    """`flask --app webapp …` as docs/operations.md shows it, in a fresh process on a fresh database."""
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'shell.sqlite'}"}

    def flask(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "webapp", *args],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
        )

    assert flask("seed-demo").returncode == 0
    stats = flask("stats")
    assert stats.returncode == 0 and "Artifacts  11 artifacts in 3 trees" in stats.stdout
    for line in ("Hierarchy  ml_pipeline (default): 3 artifacts in 1 tree",
                 "Hierarchy  document_versions: 4 artifacts in 1 tree", "Hierarchy  datasets: 4 artifacts in 1 tree"):
        assert line in stats.stdout
    backup = flask("backup", str(tmp_path / "copy.sqlite"))
    assert backup.returncode == 0 and "11 artifacts" in backup.stdout
    refused = flask("backup", str(tmp_path / "copy.sqlite"))
    assert refused.returncode == 1 and "already exists" in refused.stderr
