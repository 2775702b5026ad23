"""Connection keys (E18) against a real database: issued once, stored as hashes, scoped, and ended with their grant."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import shares
from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.sharing import ApiKey, AuditEvent
from accesspoint.sharing import keys, orgs, requests

from .test_flows import make_client_org, make_user

pytestmark = pytest.mark.db


def auth(svc, ctx, secret):
    with svc.sessions.begin() as db:
        return keys.authenticate(db, secret, ctx.now)


def test_admin_issues_lists_and_revokes_a_key(svc, ctx):
    admin = make_user(svc, ctx, "owner@bakkerij.test")
    other = make_user(svc, ctx, "mallory@evil.test")
    org = make_client_org(svc, ctx, admin)
    issued = keys.issue(svc, ctx, admin, org, "Bookkeeping")
    assert issued.secret.startswith(keys.KEY_PREFIX) and len(issued.secret) >= 4 + 43  # 256 bits urlsafe
    assert auth(svc, ctx, issued.secret) == org
    assert auth(svc, ctx, issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")) is None
    assert auth(svc, ctx, "pnk_") is None and auth(svc, ctx, "") is None
    with svc.sessions() as db:
        row = db.get(ApiKey, issued.id)
        assert row.key_hash == shares.hash_token(issued.secret) and issued.secret not in (row.key_hash, row.prefix)
        listed = keys.list_for(db, db.get(User, admin), org)
        assert [(k.name, k.status) for k in listed] == [("Bookkeeping", "active")]
        assert issued.secret not in str(listed[0].as_json())
        with pytest.raises(shares.NotAllowed):
            keys.list_for(db, db.get(User, other), org)
        events = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "key.issued")).all()
        assert [(e.organisation_id, e.actor_user_id) for e in events] == [(org, admin)]
        assert issued.secret not in events[0].detail
    with pytest.raises(shares.NotAllowed):
        keys.issue(svc, ctx, other, org, "steal")
    with pytest.raises(shares.NotAllowed):
        keys.revoke(svc, ctx, other, issued.id)
    with pytest.raises(shares.InvalidInput):
        keys.issue(svc, ctx, admin, org, "   ")
    keys.revoke(svc, ctx, admin, issued.id)
    assert auth(svc, ctx, issued.secret) is None
    with pytest.raises(shares.InvalidTransition):
        keys.revoke(svc, ctx, admin, issued.id)


def test_a_key_ends_with_the_membership_it_came_from(svc, ctx):
    admin = make_user(svc, ctx, "owner@bakkerij.test")
    org = make_client_org(svc, ctx, admin)
    colleague = make_user(svc, ctx, "colleague@bakkerij.test")
    with svc.sessions.begin() as db:
        db.get(User, colleague).environment_id = db.get(User, admin).environment_id
    with svc.sessions.begin() as db:
        orgs.add_member(db, ctx, db.get(User, admin), org, "colleague@bakkerij.test", "org_admin")
    issued = keys.issue(svc, ctx, colleague, org, "Colleague's script")
    assert auth(svc, ctx, issued.secret) == org
    with svc.sessions.begin() as db:
        m = orgs.membership(db, colleague, org)
        # Demoted: a plain member could not have issued it, so it stops (checked on use).
        m.role = "member"
    assert auth(svc, ctx, issued.secret) is None
    with svc.sessions.begin() as db:
        orgs.membership(db, colleague, org).role = "org_admin"
    assert auth(svc, ctx, issued.secret) == org
    with svc.sessions.begin() as db:
        m = orgs.membership(db, colleague, org)
        orgs.remove_member(db, ctx, db.get(User, admin), org, m.id)
    assert auth(svc, ctx, issued.secret) is None
    with svc.sessions() as db:
        assert db.get(ApiKey, issued.id).reason == "membership_removed"


def test_a_key_from_an_accepted_request_stops_when_the_request_is_revoked(svc, ctx):
    acc = make_user(svc, ctx, "acc@firm.test", role="advanced")
    basic = make_user(svc, ctx, "basic@firm.test", role="basic")
    with svc.sessions.begin() as db:
        db.get(User, basic).environment_id = db.get(User, acc).environment_id
    rid = requests.create(svc, ctx, acc, client_name="Bakkerij", client_email="owner@bakkerij.test",
                          client_identifier="0208:0123456749")
    with pytest.raises(shares.InvalidTransition):
        keys.issue_for_request(svc, ctx, acc, rid, "too early")  # pending: nothing to issue for yet
    client = make_user(svc, ctx, "owner@bakkerij.test")
    org = requests.accept(svc, ctx, client, rid, organisation_id=None, text_shown="I authorise")
    with pytest.raises(shares.NotAllowed):
        keys.issue_for_request(svc, ctx, basic, rid, "basic may not")
    with pytest.raises(shares.NotAllowed):
        keys.issue_for_request(svc, ctx, client, rid, "wrong side")
    issued = keys.issue_for_request(svc, ctx, acc, rid, "Firm's software")
    other = keys.issue_for_request(svc, ctx, acc, rid, "second")
    assert auth(svc, ctx, issued.secret) == org
    with svc.sessions() as db:
        # The client's admins see the intermediary's keys and may revoke them.
        assert {k.origin for k in keys.list_for(db, db.get(User, client), org)} == {f"request:{rid}"}
        assert {k.id for k in keys.list_for_requests(db, db.get(User, acc))} == {issued.id, other.id}
    keys.revoke(svc, ctx, client, other.id)
    assert auth(svc, ctx, other.secret) is None and auth(svc, ctx, issued.secret) == org
    # The requester's membership removed by the client: the key goes with it (checked on use).
    with svc.sessions.begin() as db:
        m = db.scalar(sa.select(Membership).where(Membership.user_id == acc, Membership.organisation_id == org))
        m.status = "removed"
    assert auth(svc, ctx, issued.secret) is None
    with svc.sessions.begin() as db:
        db.scalar(sa.select(Membership).where(Membership.user_id == acc, Membership.organisation_id == org)).status = "active"
    assert auth(svc, ctx, issued.secret) == org
    requests.revoke(svc, ctx, client, rid)
    assert auth(svc, ctx, issued.secret) is None
    with svc.sessions() as db:
        assert db.get(ApiKey, issued.id).reason == "request_revoked"
        assert [k.status for k in keys.list_for(db, db.get(User, client), org)] == ["revoked", "revoked"]
    with pytest.raises(shares.InvalidTransition):
        keys.issue_for_request(svc, ctx, acc, rid, "after revocation")
