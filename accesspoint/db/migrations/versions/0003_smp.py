"""Our SMP: published participants and their service metadata.

Revision ID: 0003_smp
Revises: 0001_base
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_smp"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smp_participant",
        sa.Column("participant_id", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "smp_service",
        sa.Column("participant_id", sa.String(200),
                  sa.ForeignKey("smp_participant.participant_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("document_type_id", sa.String(540), primary_key=True),
        sa.Column("xml", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("smp_service")
    op.drop_table("smp_participant")
