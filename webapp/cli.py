"""Command-line tools: `flask --app webapp <command>`."""

from __future__ import annotations

import click
from flask import Flask

from webapp.artifacts import ArtifactIn, ArtifactManager
from webapp.database import upgrade_schema
from webapp.services import get_manager


def seed_examples(manager: ArtifactManager) -> dict[str, int]:
    """The spec's ML-lineage and document-versioning examples; returns counts by tree."""
    experiment = manager.save(
        ArtifactIn(data={"experiment_name": "weather_forecast", "started_at": "2025-10-18T10:00:00Z"})
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

    project = manager.save(ArtifactIn(data={"name": "API Documentation"}))
    doc = manager.save(ArtifactIn(parent_id=project.id, data={"title": "Authentication Guide"}))
    manager.save(ArtifactIn(parent_id=doc.id, data={"version": "1.0", "content": "..."}))
    manager.save(ArtifactIn(parent_id=doc.id, data={"version": "1.1", "content": "..."}))
    return {"ml_lineage": 3, "documents": 4}


def register_commands(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Create or upgrade the schema to the latest migration."""
        upgrade_schema(app)
        click.echo(f"Database ready: {app.config['SQLALCHEMY_DATABASE_URI']}")

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Add the spec's example trees (ML lineage, document versions)."""
        upgrade_schema(app)
        counts = seed_examples(get_manager())
        click.echo(
            "Seeded {} artifacts: an ML lineage (experiment → model → predictions) "
            "and a documentation project (project → document → 2 versions).".format(sum(counts.values()))
        )
