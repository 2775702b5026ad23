"""Large received documents in chunks: `document_chunks` (issue 14).

Revision ID: 0017_blob_store
Revises: 0014_activation
Create Date: 2026-12-06

A received business message over 2 MB is stored as 1 MB rows here instead of in
`documents.content` (which is then empty), so the receiver writes it from its spooled file one
chunk at a time, in the same transaction as the document row: a 100 MB invoice no longer has to
be one bound parameter in the receiver's memory. SQLite's incremental blob I/O cannot do this for
`documents.content`, because a zeroblob that is not the record's last column is built in memory.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_blob_store"
down_revision = "0014_activation"
branch_labels = None
depends_on = "0006_documents"  # the table it references is on that branch of the history


def upgrade() -> None:
    op.create_table(
        "document_chunks",
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("document_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("document_chunks")
