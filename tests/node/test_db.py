"""Migrations and engine settings, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import contextlib
import time

import pytest
import sqlalchemy as sa

from accesspoint import db


def test_migrate_creates_every_table_and_is_idempotent(database_url: str) -> None:
    db.migrate(database_url)
    db.migrate(database_url)  # a second start-up changes nothing
    engine = db.create_engine(database_url)
    try:
        assert db.pending_migrations(engine) == []
        db.load_tables()
        tables = set(sa.inspect(engine).get_table_names())
        assert set(db.Base.metadata.tables) <= tables, set(db.Base.metadata.tables) - tables
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO node_info (key, value) VALUES ('k', 'v')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT value FROM node_info WHERE key='k'")).scalar() == "v"
    finally:
        engine.dispose()


def test_fresh_database_reports_pending_migrations(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        assert "0001_base" in db.pending_migrations(engine)
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_models_match_migrations(database_url: str) -> None:
    """Every column a model declares exists after migrating (catches a model changed without a migration)."""
    db.migrate(database_url)
    db.load_tables()
    engine = db.create_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        for name, table in db.Base.metadata.tables.items():
            columns = {c["name"] for c in inspector.get_columns(name)}
            missing = {c.name for c in table.columns} - columns
            assert not missing, f"{name}: columns {missing} declared but not migrated"
    finally:
        engine.dispose()


def _terminate(admin: sa.Engine, pid: int) -> None:
    """End a server backend and wait until the server no longer lists it."""
    with admin.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        deadline = time.monotonic() + 30
        while conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}):
            assert time.monotonic() < deadline, "the backend did not end"
            conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
            time.sleep(0.05)


def _pings(monkeypatch: pytest.MonkeyPatch, engine: sa.Engine) -> list[object]:
    seen: list[object] = []
    real = engine.dialect.do_ping

    def counting(dbapi_connection):
        seen.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return seen


@contextlib.contextmanager
def _one_connection_pool(url: str, monkeypatch: pytest.MonkeyPatch, *, ping_after_idle: float):
    """An engine of one pooled connection, the pings it makes, and an admin engine to end backends with."""
    engine = db.create_engine(url, pool_size=1, max_overflow=0, ping_after_idle=ping_after_idle)
    admin = db.create_engine(url)
    try:
        yield engine, _pings(monkeypatch, engine), admin
    finally:
        engine.dispose()
        admin.dispose()


def test_a_pooled_connection_that_died_while_resting_is_replaced_before_use(postgresql_url, monkeypatch) -> None:
    with _one_connection_pool(postgresql_url, monkeypatch, ping_after_idle=0.0) as (engine, pings, admin):
        with engine.connect() as conn:
            first = conn.scalar(sa.text("SELECT pg_backend_pid()"))
        assert pings == []  # a new connection is not pinged
        _terminate(admin, first)
        with engine.connect() as conn:
            second = conn.scalar(sa.text("SELECT pg_backend_pid()"))
        assert len(pings) == 1 and second != first


def test_a_connection_used_a_moment_ago_goes_out_without_a_ping(postgresql_url, monkeypatch) -> None:
    with _one_connection_pool(postgresql_url, monkeypatch, ping_after_idle=3600.0) as (engine, pings, admin):
        for _ in range(5):
            with engine.connect() as conn:
                pid = conn.scalar(sa.text("SELECT pg_backend_pid()"))
        assert pings == []
        # Dying within the window costs that one statement; the pool is then renewed.
        _terminate(admin, pid)
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as info:
            conn.scalar(sa.text("SELECT 1"))
        assert info.value.connection_invalidated
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT pg_backend_pid()")) != pid
