"""The local SML registry: SMPs and participants.

Revision ID: 0002_sml
Revises: 0001_base
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_sml"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sml_smp",
        sa.Column("smp_id", sa.String(64), primary_key=True),
        sa.Column("logical_address", sa.String(500), nullable=False),
        sa.Column("physical_address", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(1000), nullable=False),
    )
    op.create_table(
        "sml_participant",
        sa.Column("participant_id", sa.String(200), primary_key=True),
        sa.Column(
            "smp_id", sa.String(64), sa.ForeignKey("sml_smp.smp_id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("dns_label", sa.String(100), nullable=False, unique=True),
        sa.Column("migration_key", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sml_participant")
    op.drop_table("sml_smp")
