"""Facts about the node itself."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from accesspoint.db import Base


class NodeInfo(Base):
    """Key/value facts the node records about itself (e.g. when it was initialised)."""

    __tablename__ = "node_info"

    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)
