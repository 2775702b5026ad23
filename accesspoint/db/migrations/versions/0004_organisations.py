"""Environments, organisations and their Peppol identifiers.

Revision ID: 0004_organisations
Revises: 0001_base
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_organisations"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("environment_id", sa.Integer(), sa.ForeignKey("environments.id"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("peppol_send", sa.Boolean(), nullable=False),
        sa.Column("peppol_receive", sa.Boolean(), nullable=False),
        sa.Column("payer", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "organisation_identifiers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "organisation_id", sa.Integer(), sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False, index=True,
        ),
        sa.Column("scheme", sa.String(25), nullable=False),
        sa.Column("value", sa.String(140), nullable=False),
        sa.UniqueConstraint("scheme", "value", name="uq_organisation_identifier"),
    )


def downgrade() -> None:
    op.drop_table("organisation_identifiers")
    op.drop_table("organisations")
    op.drop_table("environments")
