"""Who pays (W4): the transaction ledger; partnerships without a request (W6): who asked whom.

Revision ID: 0016_ledger_partnerships
Revises: 0013_intake
Create Date: 2026-12-06

`ledger_entries` gets one row per document sent or received from now on; documents
handled before this migration are not back-filled, because the payer they had then
is not known. `partnerships` gains the columns of a manual relationship request
(requester, the relationship manager asked, decision, end) and a partial unique
index: one open (pending or active) partnership per pair of environments.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_ledger_partnerships"
down_revision = "0013_intake"
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('pending', 'active')")


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("document_public_id", sa.String(36), nullable=False),
        sa.Column("payer", sa.String(50), nullable=False),
        sa.Column("payer_environment_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.ForeignKeyConstraint(["payer_environment_id"], ["environments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_public_id"),
    )
    op.create_index("ix_ledger_payer_at", "ledger_entries", ["payer_environment_id", "at"])
    op.create_index("ix_ledger_organisation_at", "ledger_entries", ["organisation_id", "at"])
    with op.batch_alter_table("partnerships") as batch:
        batch.add_column(sa.Column("requester_environment_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("requested_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("requested_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ended_by", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_partnerships_requester_environment", "environments",
                                 ["requester_environment_id"], ["id"])
        batch.create_foreign_key("fk_partnerships_requested_by", "users", ["requested_by"], ["id"])
        batch.create_foreign_key("fk_partnerships_requested_of", "users", ["requested_of"], ["id"])
        batch.create_foreign_key("fk_partnerships_decided_by", "users", ["decided_by"], ["id"])
        batch.create_foreign_key("fk_partnerships_ended_by", "users", ["ended_by"], ["id"])
        batch.create_index("ix_partnerships_requested_of", ["requested_of"])
    op.create_index("uq_open_partnership", "partnerships", ["environment_a_id", "environment_b_id"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade() -> None:
    op.drop_index("uq_open_partnership", table_name="partnerships", sqlite_where=_OPEN, postgresql_where=_OPEN)
    with op.batch_alter_table("partnerships") as batch:
        batch.drop_index("ix_partnerships_requested_of")
        for fk in ("requester_environment", "requested_by", "requested_of", "decided_by", "ended_by"):
            batch.drop_constraint(f"fk_partnerships_{fk}", type_="foreignkey")
        for col in ("requester_environment_id", "requested_by", "requested_of", "decided_by", "decided_at",
                    "ended_by"):
            batch.drop_column(col)
    op.drop_index("ix_ledger_organisation_at", table_name="ledger_entries")
    op.drop_index("ix_ledger_payer_at", table_name="ledger_entries")
    op.drop_table("ledger_entries")
