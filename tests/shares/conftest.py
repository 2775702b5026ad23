"""A migrated node database with the sharing services, a recording mailer and a movable clock."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy.orm import sessionmaker

import shares
from accesspoint import db
from accesspoint.sharing import Context, Services


class Outbox:
    """Keeps sent messages (the real SMTP path is covered by the browser tests with aiosmtpd)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> str:
        self.messages.append(message)
        return f"<{len(self.messages)}@test>"

    def links(self, to: str) -> list[str]:
        import re

        return [m for msg in self.messages if msg["To"] == to
                for m in re.findall(r"https?://\S+/(?:i|verify)/\S+", msg.get_content())]


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def svc(database_url: str, outbox: Outbox):
    engine = db.create_engine(database_url)
    db.migrate(engine)
    # A cheap scrypt cost keeps these tests fast; production uses the default (n=2**17).
    yield Services(sessions=sessionmaker(engine, expire_on_commit=False), mailer=outbox,
                   base_url="http://node.test", hasher=shares.PasswordHasher(n_log2=10))
    engine.dispose()


T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx() -> Context:
    return Context(now=T0, ip="192.0.2.1", user_agent="pytest")
