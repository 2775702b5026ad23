"""The node's database: SQLAlchemy 2 engine set-up and Alembic migrations.

SQLite (WAL) is the embedded default; PostgreSQL is selected by URL. Tables are
declared in `accesspoint.db.tables.<area>` modules (one per area, each owned by
the feature that needs it) on the one `Base`; migrations live in
`accesspoint/db/migrations/versions`. Feature branches may each add a revision
on top of the base revision: `migrate` upgrades to *all* heads, so parallel
branches apply independently until someone merges them.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "create_engine", "migrate", "pending_migrations", "normalise_url"]

MIGRATIONS = Path(__file__).with_name("migrations")


class Base(DeclarativeBase):
    """Declarative base of every table of the node."""


def load_tables() -> None:
    """Import every `accesspoint.db.tables.*` module so `Base.metadata` is complete."""
    from accesspoint.db import tables

    for info in pkgutil.iter_modules(tables.__path__):
        importlib.import_module(f"{tables.__name__}.{info.name}")


def normalise_url(url: str) -> str:
    """Accept the plain `postgresql://` form operators write and pick our driver (psycopg 3)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers run while one writer commits; NORMAL sync is durable in WAL
    # mode across application crashes, FULL also across power loss - we want FULL
    # because an acknowledged AS4 message must survive anything.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_engine(url: str, *, pool_size: int | None = None, max_overflow: int | None = None,
                  **kwargs: object) -> sa.Engine:
    """An engine for `url` with the node's settings (WAL and foreign keys on SQLite).

    `pool_size`/`max_overflow` size a PostgreSQL pool (`[database]`); SQLite ignores them.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if pool_size is not None:
        kwargs["pool_size"] = pool_size
    if max_overflow is not None:
        kwargs["max_overflow"] = max_overflow
    return sa.create_engine(url, **kwargs)


def _alembic_config(engine: sa.Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(url_or_engine: str | sa.Engine) -> None:
    """Bring the database to the newest schema (every head)."""
    engine = create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        command.upgrade(_alembic_config(engine), "heads")
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def pending_migrations(engine: sa.Engine) -> list[str]:
    """Revisions not yet applied; `check` reports them, `serve` applies them."""
    script = ScriptDirectory.from_config(_alembic_config(engine))
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    applied: set[str] = set()
    for head in current:
        applied.update(rev.revision for rev in script.iterate_revisions(head, "base"))
    return [rev.revision for rev in script.walk_revisions() if rev.revision not in applied]
