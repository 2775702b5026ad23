"""Migrations and engine settings, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

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
