"""Uploads waiting for *Send*: the web app's preflight keeps the document server-side (issue 12, W8.2).

Revision ID: 0019_outbox_uploads
Revises: 0018_document_summary
Create Date: 2026-12-08

An uploaded invoice is checked and its route shown before anything is queued; the second click
sends the row's bytes, so the browser does not post up to 10 MB twice. Short-lived rows (see
`accesspoint.db.tables.documents.OutboxUpload`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_outbox_uploads"
down_revision = "0018_document_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_uploads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("public_id", sa.String(36), nullable=False, unique=True),
        sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_outbox_uploads_connection_id", "outbox_uploads", ["connection_id"])
    op.create_index("ix_outbox_uploads_user_id", "outbox_uploads", ["user_id"])
    op.create_index("ix_outbox_uploads_created_at", "outbox_uploads", ["created_at"])


def downgrade() -> None:
    op.drop_table("outbox_uploads")
