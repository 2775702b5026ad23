"""Network registration: which participants receive on this node and what the SML was told.

Revision ID: 0011_network
Revises: 0008_org_deletion
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_network"
down_revision = "0008_org_deletion"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_registration",
        sa.Column("participant_id", sa.String(200), primary_key=True),
        sa.Column("receive", sa.Boolean(), nullable=False),
        sa.Column("sml_state", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("network_registration")
