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
import time
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


#: A pooled PostgreSQL connection back in the pool for longer than this is pinged before it is
#: used again (HikariCP's aliveBypassWindowMs is the same idea, 500 ms by default).
PING_AFTER_IDLE = 0.5


def _ping_when_idle(engine: sa.Engine, after: float) -> None:
    """Ping a connection on checkout only when it has rested in the pool for `after` seconds.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: under load that is a round trip and
    a server statement per transaction (about one in four of a receiving node's statements)
    on connections that answered a moment ago. A connection that has rested is pinged as
    `pool_pre_ping` would, and a dead one invalidates the pool (the database restarted), so
    the caller gets a fresh connection. A connection that dies within `after` of its last use
    fails its next statement instead; SQLAlchemy then invalidates the pool the same way, and
    every caller of the node retries such a failure (an AS4 sender gets a 503, the outbox
    retries the entry).
    """
    dialect = engine.dialect

    @sa.event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection: object, record: sa.pool.ConnectionPoolEntry) -> None:
        record.info["checked_in"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection: object, record: sa.pool.ConnectionPoolEntry, _proxy: object) -> None:
        checked_in = record.info.get("checked_in")
        if checked_in is None or time.monotonic() - checked_in < after:
            return  # a new connection, or one that answered a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            raise sa.exc.InvalidatePoolError("the pooled connection did not answer a ping")


def create_engine(url: str, *, pool_size: int | None = None, max_overflow: int | None = None,
                  ping_after_idle: float = PING_AFTER_IDLE, **kwargs: object) -> sa.Engine:
    """An engine for `url` with the node's settings (WAL and foreign keys on SQLite).

    `pool_size`/`max_overflow` size a PostgreSQL pool (`[database]`); SQLite ignores them.
    PostgreSQL connections that rested in the pool for `ping_after_idle` seconds are pinged
    before use (`_ping_when_idle`).
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if pool_size is not None:
        kwargs["pool_size"] = pool_size
    if max_overflow is not None:
        kwargs["max_overflow"] = max_overflow
    engine = sa.create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_after_idle)
    return engine


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
