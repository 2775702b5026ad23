"""Mail intake: trusted senders, the mail they sent and the drafts it became (issue 13, W7).

Revision ID: 0013_intake
Revises: 0012_org_held_for
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_intake"
down_revision = "0012_org_held_for"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trusted_senders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(36), nullable=False, unique=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("context", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("receiver_address", sa.String(320), nullable=False, unique=True),
        sa.Column("whitelist_kind", sa.String(20), nullable=False),
        sa.Column("whitelist_value", sa.String(320), nullable=False),
        sa.Column("contact_email", sa.String(320), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "intake_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(36), nullable=False, unique=True),
        sa.Column("sender_id", sa.Integer(), sa.ForeignKey("trusted_senders.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("message_id", sa.String(500), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("mail_from", sa.String(320), nullable=False),
        sa.Column("header_from", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("peer", sa.String(100), nullable=False),
        sa.Column("dmarc", sa.String(10), nullable=False),
        sa.Column("dmarc_detail", sa.String(500), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("sender_id", "message_id", name="uq_intake_message_id"),
        sa.UniqueConstraint("sender_id", "sha256", name="uq_intake_message_sha256"),
    )
    op.create_table(
        "intake_drafts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(36), nullable=False, unique=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("intake_messages.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("number", sa.String(200), nullable=False),
        sa.Column("buyer_name", sa.String(300), nullable=False),
        sa.Column("buyer_id", sa.String(170), nullable=False),
        sa.Column("document_name", sa.String(200), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("outbox_entry", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("intake_drafts")
    op.drop_table("intake_messages")
    op.drop_table("trusted_senders")
