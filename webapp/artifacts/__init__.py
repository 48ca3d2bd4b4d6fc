"""The artifact domain: usable from Flask views and from plain scripts alike.

    from webapp.artifacts import ArtifactIn, ArtifactManager, ArtifactRepository, open_session
    manager = ArtifactManager(ArtifactRepository(open_session("sqlite:///instance/artifacts.db")))
    root = manager.save(ArtifactIn(data={"experiment": "v1"}))

HIERARCHIES is the registry of the hierarchies a store declares by default (the spec's
ml_pipeline, document_versions and datasets); a Policy carries the one a store uses.
"""

from .actor import ANONYMOUS, Actor
from .database import open_session
from .errors import (
    ArtifactChangedError,
    ArtifactConflictError,
    ArtifactCycleError,
    ArtifactError,
    ArtifactExistsError,
    ArtifactHasChildrenError,
    ArtifactNotFoundError,
    ArtifactValidationError,
    HierarchyDepthError,
    InvalidULIDError,
    UnknownHierarchyError,
)
from .hierarchy import DATASETS, DEFAULT_HIERARCHY, DOCUMENT_VERSIONS, HIERARCHIES, ML_PIPELINE, ArtifactHierarchy, Hierarchies
from .manager import ArtifactManager, MovePreview
from .policy import Policy
from .models import Artifact, Base
from .repository import ArtifactRepository
from .unit_of_work import UnitOfWork
from .schemas import (
    ArtifactExpansion,
    ArtifactIn,
    ArtifactOut,
    ArtifactTreeNode,
    ArtifactUpdate,
    ExpandRequest,
    Page,
    PandasDataFrame,
    TreeRequest,
)

__all__ = [
    "ANONYMOUS",
    "Actor",
    "DATASETS",
    "DEFAULT_HIERARCHY",
    "DOCUMENT_VERSIONS",
    "HIERARCHIES",
    "ML_PIPELINE",
    "Artifact",
    "ArtifactChangedError",
    "ArtifactConflictError",
    "ArtifactCycleError",
    "ArtifactError",
    "ArtifactExistsError",
    "ArtifactExpansion",
    "ArtifactHasChildrenError",
    "ArtifactHierarchy",
    "ArtifactIn",
    "ArtifactManager",
    "ArtifactNotFoundError",
    "ArtifactOut",
    "ArtifactRepository",
    "ArtifactTreeNode",
    "ArtifactUpdate",
    "ArtifactValidationError",
    "Base",
    "ExpandRequest",
    "Hierarchies",
    "HierarchyDepthError",
    "InvalidULIDError",
    "MovePreview",
    "Page",
    "PandasDataFrame",
    "Policy",
    "TreeRequest",
    "UnitOfWork",
    "UnknownHierarchyError",
    "open_session",
]
