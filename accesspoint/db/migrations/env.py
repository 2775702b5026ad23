"""Alembic environment: the engine comes from `accesspoint.db.migrate`."""

from alembic import context

from accesspoint.db import Base, load_tables

load_tables()
engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
