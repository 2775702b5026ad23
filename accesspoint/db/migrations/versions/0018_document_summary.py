"""What the outbox and inbox pages show of a document: the parties' names and the amount (issue 12).

Revision ID: 0018_document_summary
Revises: 0017_blob_store
Create Date: 2026-12-08

`documents` gets `seller_name`, `buyer_name`, `payable_amount` (BT-115 as the document writes it:
text, so `1656.25` and `8550` stay exactly that on SQLite and PostgreSQL alike) and `currency`
(BT-5), filled when a document is stored (`ubl.summarise`). Rows stored before keep NULLs: the
pages then show the participant id, and nothing is re-parsed here (a large received document
would have to be read back from its chunks).
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_document_summary"
down_revision = "0017_blob_store"
branch_labels = None
depends_on = "0006_documents"  # the table it alters is on that branch of the history


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("seller_name", sa.String(300), nullable=True))
        batch.add_column(sa.Column("buyer_name", sa.String(300), nullable=True))
        batch.add_column(sa.Column("payable_amount", sa.String(40), nullable=True))
        batch.add_column(sa.Column("currency", sa.String(3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("currency")
        batch.drop_column("payable_amount")
        batch.drop_column("buyer_name")
        batch.drop_column("seller_name")
