"""Connection keys (E18): per-organisation API keys, stored only as hashes (issue 7).

Chained onto 0005_accounts: the keys refer to organisations, users, memberships and
authorisation requests, and to nothing of the delivery branch (0006_documents);
`accesspoint.db.migrate` upgrades every head.

Revision ID: 0007_keys
Revises: 0005_accounts
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_keys"
down_revision = "0005_accounts"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("via_request_id", sa.Integer(),
                  sa.ForeignKey("authorisation_requests.id", ondelete="SET NULL"), nullable=True, index=True),
        sa.Column("via_membership_id", sa.Integer(), sa.ForeignKey("memberships.id", ondelete="SET NULL"),
                  nullable=True, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
