"""Whose organisation an environment holds: its own, or one registered for a client (Doccle order).

Revision ID: 0012_org_held_for
Revises: 0011_network
Create Date: 2026-12-06

The accountant's pages list the firm's own organisation apart from its clients, and offer
"Share with your client" only on a client's organisation. Rows that already shared a
connection by invite link were registered for a client; every other existing row stays
"own", which is what `peppol-node org add` creates.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_org_held_for"
down_revision = "0011_network"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("held_for", sa.String(20), nullable=False, server_default="own"))
    op.execute("UPDATE organisations SET held_for = 'client' WHERE id IN "
               "(SELECT organisation_id FROM invitations WHERE kind = 'share' AND organisation_id IS NOT NULL)")


def downgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("held_for")
