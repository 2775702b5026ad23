"""Documents: indexes that lead with a selective column, so no plan can read a whole inbox (issue 14).

Revision ID: 0020_document_indexes
Revises: 0019_outbox_uploads
Create Date: 2026-12-07

The receiver's duplicate lookup (accesspoint.delivery.inbox `_DUPLICATES`) asks for one received
document by (instance identifier, sender) and by (organisation, direction, duplicate key). On a
young table, before PostgreSQL has statistics, every index costs the same, and the planner served
the second question from `ix_documents_instance` on `direction` alone, or from
`ix_documents_organisation_id`: both read every document the organisation ever received, and a
prepared statement keeps that plan (measured: 1,000 index rows read per accept at 2,000 documents).

- `ix_documents_instance` becomes (instance_identifier, direction): the column that tells documents
  apart comes first, and a lookup without an instance identifier cannot use it;
- `ix_documents_organisation_id` goes: `uq_document_duplicate` (organisation_id, direction,
  duplicate_key) leads with the same column and serves the organisation's lists (better: they
  filter on direction too) and the foreign key's cascade.
"""

from alembic import op

revision = "0020_document_indexes"
down_revision = "0019_outbox_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_documents_instance", "documents")
    op.create_index("ix_documents_instance", "documents", ["instance_identifier", "direction"])
    op.drop_index("ix_documents_organisation_id", "documents")


def downgrade() -> None:
    op.create_index("ix_documents_organisation_id", "documents", ["organisation_id"])
    op.drop_index("ix_documents_instance", "documents")
    op.create_index("ix_documents_instance", "documents", ["direction", "instance_identifier"])
