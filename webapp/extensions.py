"""Flask extensions, unbound; the app factory binds them."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from webapp.artifacts.models import Base

# The domain's own metadata, so models stay plain SQLAlchemy usable without Flask.
db = SQLAlchemy(metadata=Base.metadata)
csrf = CSRFProtect()
migrate = Migrate()
