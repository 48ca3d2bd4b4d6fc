"""Command-line tools: `flask --app webapp <command>`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from webapp import integrity, ops
from webapp.artifacts import ArtifactIn, ArtifactManager
from webapp.database import upgrade_schema
from webapp.extensions import db
from webapp.search import FilterError, indexes
from webapp.store import get_store


def seed_examples(manager: ArtifactManager) -> dict[str, int]:
    """The spec's examples, each tree in its own hierarchy: ML lineage (ml_pipeline), document
    versions (document_versions) and dataset versions (datasets). Returns artifacts by hierarchy."""
    experiment = manager.save(
        ArtifactIn(data={"experiment_name": "weather_forecast", "started_at": "2025-10-18T10:00:00Z"}, hierarchy="ml_pipeline")
    )
    model = manager.save(
        ArtifactIn(
            parent_id=experiment.id,
            data={
                "model_type": "LinearRegression",
                "hyperparameters": {"alpha": 0.01},
                "metrics": {"rmse": 0.25},
            },
        )
    )
    manager.save(ArtifactIn(parent_id=model.id, data={"prediction_date": "2025-10-20", "num_predictions": 1000}))

    project = manager.save(ArtifactIn(data={"name": "API Documentation"}, hierarchy="document_versions"))
    doc = manager.save(ArtifactIn(parent_id=project.id, data={"title": "Authentication Guide"}))
    manager.save(ArtifactIn(parent_id=doc.id, data={"version": "1.0", "content": "..."}))
    manager.save(ArtifactIn(parent_id=doc.id, data={"version": "1.1", "content": "..."}))

    dataset = manager.save(ArtifactIn(data={"name": "customer_data"}, hierarchy="datasets"))
    version = manager.save(ArtifactIn(parent_id=dataset.id, data={"version": "2025-10", "rows": 1000000}))
    manager.save(ArtifactIn(parent_id=version.id, data={"partition": "train", "rows": 800000}))
    manager.save(ArtifactIn(parent_id=version.id, data={"partition": "test", "rows": 200000}))
    return {"ml_pipeline": 3, "document_versions": 4, "datasets": 4}


def register_commands(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Create or upgrade the schema to the latest migration."""
        upgrade_schema(app)
        click.echo(f"Database ready: {app.config['SQLALCHEMY_DATABASE_URI']}")

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Add the spec's example trees, one in each of its three hierarchies."""
        upgrade_schema(app)
        counts = seed_examples(get_store().artifacts)
        click.echo(
            "Seeded {} artifacts: an ML lineage (ml_pipeline: experiment → model → predictions), "
            "a documentation project (document_versions: project → document → 2 versions) and a "
            "dataset (datasets: dataset → version → 2 partitions).".format(sum(counts.values()))
        )

    @app.cli.command("index-field")
    @click.argument("field")
    @click.option("--drop", is_flag=True, help="Drop the index instead of creating it.")
    def index_field(field: str, drop: bool) -> None:
        """Create (or drop) an expression index on a data path, e.g. data.metrics.rmse: filters
        on that path then read the index instead of every row."""
        try:
            with db.engine.begin() as connection:
                name = (indexes.drop_index if drop else indexes.create_index)(connection, field)
        except FilterError as error:
            raise click.BadParameter(error.detail, param_hint="FIELD") from None
        click.echo(f"{'Dropped' if drop else 'Created'} index {name} on {field}.")

    register_ops_commands(app)
    register_blob_commands(app)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def human_bytes(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def register_ops_commands(app: Flask) -> None:
    """stats, backup, export, import, prune: thin wrappers over webapp.ops."""

    @app.cli.command("stats")
    @click.option("--top", default=5, show_default=True, type=click.IntRange(1, 100), help="How many trees and artifacts to list.")
    def stats_command(top: int) -> None:
        """Counts per level and per tree, the largest artifacts, the database's size."""
        stats = ops.collect_stats(get_store(), top=top)
        click.echo(f"Database   {stats.database} ({human_bytes(stats.database_bytes)})")
        click.echo(f"Artifacts  {plural(stats.total, 'artifact')} in {plural(stats.trees, 'tree')}")
        for hierarchy in stats.by_hierarchy:
            default = " (default)" if hierarchy.name == stats.hierarchy else ""
            click.echo(f"Hierarchy  {hierarchy.name}{default}: {plural(hierarchy.total, 'artifact')} in {plural(hierarchy.trees, 'tree')}")
            for level, label, count in hierarchy.by_level:
                click.echo(f"  level {level:<3} {label:<20} {count:>10}")
        if stats.largest_trees:
            click.echo("Largest trees")
            for root_id, count, depth in stats.largest_trees:
                click.echo(f"  {root_id}  {plural(count, 'artifact')}, {plural(depth, 'level')} below the root")
        if stats.largest_artifacts:
            click.echo("Largest artifacts (JSON data)")
            for artifact_id, level, size in stats.largest_artifacts:
                click.echo(f"  {artifact_id}  level {level}  {human_bytes(size)}")
        click.echo(f"History    {plural(stats.revisions, 'revision')}, {human_bytes(stats.revision_bytes)} of JSON data")
        click.echo("Tables     " + ", ".join(f"{name} {rows}" for name, rows in stats.tables.items()))

    @app.cli.command("backup")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    def backup_command(path: Path) -> None:
        """Copy the live database to PATH, consistently, while the server runs.

        SQLite: the online backup API, checked with integrity_check. PostgreSQL: pg_dump
        (custom format; restore with pg_restore).
        """
        try:
            result = ops.backup(db.engine, path)
        except ops.OpsError as error:
            raise click.ClickException(str(error)) from None
        counted = f", {plural(result.artifacts, 'artifact')}" if result.artifacts is not None else ""
        click.echo(f"Backed up to {result.path} ({human_bytes(result.bytes)}{counted}) using {result.method}.")

    @app.cli.command("export")
    @click.argument("root_id")
    @click.option(
        "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write [default: export-ROOT_ID.json]"
    )
    def export_command(root_id: str, output: Path | None) -> None:
        """Write the artifact ROOT_ID and all its descendants to a JSON file."""
        try:
            document = ops.export_subtree(get_store(), root_id)
            path = output or Path(f"export-{document['root_id']}.json")
            size = ops.write_json(document, path)
        except ops.OpsError as error:
            raise click.ClickException(str(error)) from None
        extras = "".join(f", {len(p)} {name}" for name, p in document["extras"].items() if name != "history")
        count = plural(document["count"], "artifact")
        click.echo(f"Exported {count}{extras} under {document['root_id']} to {path} ({human_bytes(size)}).")

    @app.cli.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--parent", "parent_id", metavar="ID", help="Attach the subtree's root under this artifact.")
    @click.option("--as-root", is_flag=True, help="Make the subtree's root a root.")
    def import_command(file: Path, parent_id: str | None, as_root: bool) -> None:
        """Create the artifacts of an export FILE again, ids kept.

        Refuses, changing nothing, when any of the ids exists already. The subtree goes
        back under its old parent unless --parent or --as-root says otherwise.
        """
        if parent_id and as_root:
            raise click.UsageError("Use --parent ID or --as-root, not both.")
        parent = None if as_root else parent_id or ops.KEEP_PARENT
        try:
            result = ops.import_subtree(get_store(), ops.read_export(file), parent=parent)
        except ops.OpsError as error:
            raise click.ClickException(str(error)) from None
        where = f"under {result.parent_id}" if result.parent_id else "as a root"
        # Every artifact carries its history; the other payloads are worth a mention.
        extras = "".join(f", {count} {name}" for name, count in result.extras.items() if name != "history")
        click.echo(f"Imported {plural(result.count, 'artifact')}{extras} from {file}: {result.root_id} {where}.")

    @app.cli.command("prune")
    @click.option("--older-than", "age", metavar="AGE", help="e.g. 90d, 12h, 2w: delete what is older.")
    @click.option("--history-older-than", "history_age", metavar="AGE",
                  help="Thin revisions older than AGE (each artifact keeps its newest).")
    @click.option("--level", type=click.IntRange(min=0), help="Only subtrees rooted at this level.")
    @click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
    def prune_command(age: str | None, history_age: str | None, level: int | None, dry_run: bool) -> None:
        """Delete whole subtrees whose artifacts are all older than AGE, with their history;
        and/or thin the revisions older than --history-older-than.

        An artifact newer than that keeps itself and its ancestors, so no child is
        ever orphaned and nothing recent is lost.
        """
        if age is None and history_age is None:
            raise click.UsageError("Give --older-than AGE, --history-older-than AGE, or both.")
        ages = {}
        for name, value in (("--older-than", age), ("--history-older-than", history_age)):
            if value is not None:
                try:
                    ages[name] = ops.parse_age(value)
                except ValueError as error:
                    raise click.BadParameter(str(error), param_hint=name) from None
        if "--history-older-than" in ages:
            thinned = ops.thin_history(get_store(), ages["--history-older-than"], dry_run=dry_run)
            verb = "Would remove" if dry_run else "Removed"
            click.echo(f"{verb} {plural(thinned.revisions, 'revision')} made before "
                       f"{thinned.cutoff:%Y-%m-%d %H:%M UTC} (each artifact keeps its newest).")
        if "--older-than" not in ages:
            return
        result = ops.prune(get_store(), ages["--older-than"], level=level, dry_run=dry_run)
        cutoff = result.cutoff.strftime("%Y-%m-%d %H:%M UTC")
        scope = f" at level {level}" if level is not None else ""
        verb = "Would delete" if dry_run else "Deleted"
        if result.forgotten:
            click.echo(f"{'Would forget' if dry_run else 'Forgot'} {plural(result.forgotten, 'artifact')} deleted "
                       f"before {cutoff}, for good: history, file lists and tables.")
        if not result.subtrees:
            click.echo(f"Nothing to prune: no subtree{scope} is entirely older than {cutoff}.")
            return
        subtrees, artifacts = plural(len(result.subtrees), "subtree"), plural(result.artifacts, "artifact")
        click.echo(f"{verb} {subtrees}{scope} ({artifacts}) created before {cutoff}:")
        for subtree in result.subtrees:
            click.echo(
                f"  {subtree.root_id}  level {subtree.level} ({subtree.label}), "
                f"created {subtree.created_at:%Y-%m-%d}, {plural(subtree.artifacts, 'artifact')}"
            )
        if dry_run:
            click.echo("Dry run: nothing was deleted.")


def register_blob_commands(app: Flask) -> None:
    """verify and gc-blobs: thin wrappers over webapp.integrity."""

    @app.cli.command("verify")
    def verify_command() -> None:
        """Re-hash every blob and decode every stored table; exit 1 naming any that is
        missing or changed."""
        store = get_store()
        click.echo(f"Blob store {store.files.blobs.url}")
        report = integrity.verify(store)
        checked = (
            f"{plural(report.blobs, 'blob')} (used by {plural(report.files, 'file')}) "
            f"and {plural(report.tables, 'stored table')}"
        )
        if not report.problems:
            click.echo(f"Checked {checked}: all intact.")
            return
        for problem in report.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"Checked {checked}: {plural(len(report.problems), 'problem')} found.")

    @app.cli.command("gc-blobs")
    @click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
    def gc_blobs_command(dry_run: bool) -> None:
        """Delete blobs no file uses that are older than BLOB_GC_GRACE (and staging files
        left by uploads that died)."""
        store = get_store()
        result = integrity.collect_garbage(store, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        click.echo(f"{verb} {plural(len(result.deleted), 'unused blob')} ({human_bytes(result.bytes)}) from {store.files.blobs.url}")
        for sha256, size in result.deleted:
            click.echo(f"  {sha256}  {human_bytes(size)}")
        grace = store.policy.blob_gc_grace_seconds
        click.echo(
            f"Kept {plural(result.in_use, 'blob')} in use and {result.recent} unused but younger than "
            f"BLOB_GC_GRACE ({grace} s); {result.staging_removed} stale staging file(s) "
            + ("would be removed." if dry_run else "removed.")
        )
        if dry_run:
            click.echo("Dry run: nothing was deleted.")
