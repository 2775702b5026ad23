"""Organisation activation (product.md W1.3): why an organisation is in its state.

Revision ID: 0014_activation
Revises: 0016_ledger_partnerships
Create Date: 2026-12-06

`organisations.status` already held draft/active; from now on only an active organisation
sends or receives. Web-created organisations were left `draft` but could send and receive, so
one that already has documents was in use: it becomes active here (its admins would otherwise
find it stopped by an upgrade), with the reason saying so. Other drafts wait for a verifier.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_activation"
down_revision = "0016_ledger_partnerships"
branch_labels = None
# The data fix reads documents, which live on a branch of their own (0006).
depends_on = ("0006_documents",)


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("status_reason", sa.String(500), nullable=False, server_default=""))
    op.execute("UPDATE organisations SET status = 'active', "
               "status_reason = 'in use before activation was checked (migration 0014)' "
               "WHERE status = 'draft' AND id IN (SELECT organisation_id FROM documents)")


def downgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("status_reason")
