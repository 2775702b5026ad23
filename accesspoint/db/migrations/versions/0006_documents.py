"""Documents, the outbox and its events, inbound AS4 messages, the transaction log.

Revision ID: 0006_documents
Revises: 0004_organisations
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_documents"
down_revision = "0004_organisations"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(36), nullable=False, unique=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("connection", sa.String(20), nullable=False),
        sa.Column("sender_id", sa.String(170), nullable=False),
        sa.Column("receiver_id", sa.String(170), nullable=False),
        sa.Column("document_type_id", sa.String(600), nullable=False),
        sa.Column("process_id", sa.String(250), nullable=False),
        sa.Column("instance_identifier", sa.String(200), nullable=False),
        sa.Column("number", sa.String(200), nullable=False),
        sa.Column("issue_date", sa.String(10), nullable=False),
        sa.Column("country_c1", sa.String(2), nullable=False),
        sa.Column("buyer_email", sa.String(320), nullable=True),
        sa.Column("duplicate_key", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("business_status", sa.String(20), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("organisation_id", "direction", "duplicate_key", name="uq_document_duplicate"),
    )
    op.create_index("ix_documents_instance", "documents", ["direction", "instance_identifier"])
    op.create_table(
        "outbox_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(36), nullable=False, unique=True),
        sa.Column("document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("channel", sa.String(10), nullable=True),
        sa.Column("routed_to", sa.String(170), nullable=True),
        sa.Column("endpoint", sa.String(500), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resends", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("as4_message_id", sa.String(300), nullable=True, index=True),
        sa.Column("receipt", sa.LargeBinary(), nullable=True),
        sa.Column("remote_seat_id", sa.String(20), nullable=True),
        sa.Column("error_code", sa.String(50), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("mls_status", sa.String(2), nullable=True),
        sa.Column("link_token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
    )
    op.create_index("ix_outbox_due", "outbox_entries", ["next_attempt_at"])
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("outbox_entries.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("from_state", sa.String(20), nullable=True),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("worker", sa.String(100), nullable=True),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("as4_message_id", sa.String(300), nullable=False, unique=True),
        sa.Column("instance_identifier", sa.String(200), nullable=False, index=True),
        sa.Column("sender_seat_id", sa.String(20), nullable=False),
        sa.Column("document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="SET NULL"), nullable=True),
        sa.Column("receipt", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("other_seat_id", sa.String(20), nullable=False),
        sa.Column("document_type_id", sa.String(600), nullable=False),
        sa.Column("process_id", sa.String(250), nullable=False),
        sa.Column("transport_profile", sa.String(50), nullable=False),
        sa.Column("end_user_id", sa.String(170), nullable=False),
        sa.Column("c1_country", sa.String(2), nullable=False),
        sa.Column("c4_country", sa.String(2), nullable=True),
        sa.Column("instance_identifier", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("transactions")
    op.drop_table("inbound_messages")
    op.drop_table("outbox_events")
    op.drop_index("ix_outbox_due", "outbox_entries")
    op.drop_table("outbox_entries")
    op.drop_index("ix_documents_instance", "documents")
    op.drop_table("documents")
