"""The sharing workflows against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

import shares
from accesspoint.db.tables.accounts import User, WebSession
from accesspoint.db.tables.sharing import AuditEvent, Invitation, Share
from accesspoint.sharing import accounts, invites, orgs, requests, scheduler

pytestmark = pytest.mark.db


def make_user(svc, ctx, email, role="admin"):
    with svc.sessions.begin() as db:
        u = accounts.create_verified_user(db, svc, ctx, accounts.SignUp(email, "correct horse battery", email))
        u.environment_role = role
        return u.id


def make_client_org(svc, ctx, user_id, ident="0208:0123456749"):
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        return orgs.create_organisation(db, ctx, user, "Bakkerij Peeters", [ident]).id


def token_of(outbox, to):
    return outbox.links(to)[-1].rsplit("/", 1)[1]


def statuses(svc, ctx, org_id):
    with svc.sessions() as db:
        return {s.kind: s.display.key for s in invites.connection_statuses(db, org_id, ctx.now)}


def test_share_both_accept_and_revoke(svc, ctx, outbox):
    acc = make_user(svc, ctx, "acc@firm.test")
    org = make_client_org(svc, ctx, acc)
    assert statuses(svc, ctx, org) == {"peppol_purchase": "not_shared", "peppol_sales": "not_shared"}
    inv = invites.share_connections(svc, ctx, acc, org, "Client@Example.test", list(shares.CONNECTION_KINDS))
    assert len(outbox.messages) == 1
    mail = outbox.messages[0]
    assert "Bakkerij Peeters" in mail["Subject"] and "0208:0123456749" in mail.get_content()
    token = token_of(outbox, "client@example.test")
    assert token not in mail["Subject"]
    assert statuses(svc, ctx, org) == {"peppol_purchase": "invited", "peppol_sales": "invited"}
    # EC-3: a duplicate invite returns the existing one and sends nothing.
    assert invites.share_connections(svc, ctx, acc, org, "client@example.test", ["peppol_sales"]) == inv
    assert len(outbox.messages) == 1
    with svc.sessions() as db:
        row = db.scalar(sa.select(Invitation).where(Invitation.id == inv))
        assert row.token_hash == shares.hash_token(token) and token not in row.token_hash

    client = make_user(svc, ctx, "client@example.test")
    other = make_user(svc, ctx, "other@example.test")
    # SEC-4: another account cannot accept, and nothing changes.
    with pytest.raises(shares.InviteForOtherAddress):
        invites.accept(svc, ctx, other, token, list(shares.CONNECTION_KINDS), text_shown="t")
    share_ids = invites.accept(svc, ctx, client, token, ["peppol_purchase"], text_shown="I accept")
    assert len(share_ids) == 1
    assert statuses(svc, ctx, org) == {"peppol_purchase": "active", "peppol_sales": "not_accepted"}
    # SEC-2: a used link is dead, with the same error as an unknown one (SEC-6).
    with pytest.raises(shares.InviteInvalid):
        invites.accept(svc, ctx, client, token, ["peppol_purchase"], text_shown="t")
    with pytest.raises(shares.InviteInvalid):
        invites.accept(svc, ctx, client, "nonsense", ["peppol_purchase"], text_shown="t")
    with svc.sessions() as db:
        client_user = db.get(User, client)
        conns = orgs.connections_of(db, org)
        access = orgs.connection_access(db, client_user, conns["peppol_purchase"].id)
        assert access.via == "share" and "view" in access.rights
        with pytest.raises(shares.NotAllowed):
            orgs.connection_access(db, client_user, conns["peppol_sales"].id)
        ev = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "invitation.accepted"))
        assert "I accept" in ev.detail and ev.ip == "192.0.2.1"
    # EC-2: re-invite for the missing one only.
    invites.share_connections(svc, ctx, acc, org, "client@example.test", list(shares.CONNECTION_KINDS))
    assert "Peppol – sales invoices" in outbox.messages[-2 if "accepted" in outbox.messages[-1]["Subject"] else -1].get_content()
    token2 = token_of(outbox, "client@example.test")
    invites.accept(svc, ctx, client, token2, ["peppol_sales"], text_shown="t")
    assert statuses(svc, ctx, org) == {"peppol_purchase": "active", "peppol_sales": "active"}
    with svc.sessions() as db:
        kinds = [s.status for s in db.scalars(sa.select(Share).where(Share.status == "active"))]
        assert shares.onboarding(kinds) is shares.Onboarding.COMPLETE
    # The client revokes: access ends at once.
    invites.revoke_share(svc, ctx, client, share_ids[0])
    with svc.sessions() as db:
        with pytest.raises(shares.NotAllowed):
            orgs.connection_access(db, db.get(User, client), orgs.connections_of(db, org)["peppol_purchase"].id)
    assert statuses(svc, ctx, org)["peppol_purchase"] == "revoked"


def test_resend_supersedes_withdraw_kills(svc, ctx, outbox):
    acc = make_user(svc, ctx, "acc@firm.test")
    org = make_client_org(svc, ctx, acc)
    client = make_user(svc, ctx, "c@example.test")
    inv = invites.share_connections(svc, ctx, acc, org, "c@example.test", ["peppol_purchase"])
    old = token_of(outbox, "c@example.test")
    new_inv = invites.resend(svc, replace(ctx, now=ctx.now + timedelta(hours=1)), acc, inv)
    new = token_of(outbox, "c@example.test")
    assert new != old
    with pytest.raises(shares.InviteInvalid):
        invites.accept(svc, ctx, client, old, ["peppol_purchase"], text_shown="t")
    with svc.sessions() as db:
        st = invites.connection_statuses(db, org, ctx.now)[0]
        assert st.times_sent == 2 and st.invitation_id == new_inv
    invites.withdraw(svc, ctx, acc, new_inv)
    with pytest.raises(shares.InviteInvalid):
        invites.accept(svc, ctx, client, new, ["peppol_purchase"], text_shown="t")
    assert statuses(svc, ctx, org)["peppol_purchase"] == "revoked"


def test_expiry_and_reminders_with_pinned_clock(svc, ctx, outbox):
    acc = make_user(svc, ctx, "acc@firm.test")
    org = make_client_org(svc, ctx, acc)
    client = make_user(svc, ctx, "c@example.test")
    invites.share_connections(svc, ctx, acc, org, "c@example.test", list(shares.CONNECTION_KINDS))
    first = token_of(outbox, "c@example.test")
    assert scheduler.run_due(svc, ctx.now + timedelta(days=2, hours=23)).reminded == 0
    assert scheduler.run_due(svc, ctx.now + timedelta(days=3)).reminded == 1
    assert outbox.messages[-1]["Subject"].startswith("Reminder:")
    second = token_of(outbox, "c@example.test")
    assert second != first
    assert scheduler.run_due(svc, ctx.now + timedelta(days=4)).reminded == 0
    assert scheduler.run_due(svc, ctx.now + timedelta(days=10)).reminded == 1
    assert scheduler.run_due(svc, ctx.now + timedelta(days=12)).reminded == 0
    third = token_of(outbox, "c@example.test")
    late = replace(ctx, now=ctx.now + timedelta(days=14, seconds=1))
    # Past expiry the link is refused even before the sweep marks it (SEC-3: the row decides).
    assert statuses(svc, late, org)["peppol_purchase"] == "expired"
    with pytest.raises(shares.InviteInvalid):
        invites.accept(svc, late, client, third, ["peppol_purchase"], text_shown="t")
    assert scheduler.run_due(svc, late.now).expired == 1
    assert statuses(svc, late, org) == {"peppol_purchase": "expired", "peppol_sales": "expired"}
    # EC-5: the accountant may invite again.
    invites.share_connections(svc, late, acc, org, "c@example.test", ["peppol_purchase"])
    assert statuses(svc, late, org)["peppol_purchase"] == "invited"


def test_accept_is_atomic_under_concurrency(svc, ctx, outbox):
    acc = make_user(svc, ctx, "acc@firm.test")
    org = make_client_org(svc, ctx, acc)
    client = make_user(svc, ctx, "c@example.test")
    invites.share_connections(svc, ctx, acc, org, "c@example.test", ["peppol_purchase"])
    token = token_of(outbox, "c@example.test")
    results = []

    def go():
        try:
            invites.accept(svc, ctx, client, token, ["peppol_purchase"], text_shown="t")
            results.append("ok")
        except shares.ShareError as exc:
            results.append(type(exc).__name__)
        except sa.exc.OperationalError:
            results.append("busy")

    threads = [threading.Thread(target=go) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results.count("ok") == 1
    with svc.sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Share).where(Share.status == "active")) == 1


def test_authorisation_request_lifecycle(svc, ctx, outbox):
    acc = make_user(svc, ctx, "acc@firm.test", role="advanced")
    basic = make_user(svc, ctx, "basic@firm.test", role="basic")
    with pytest.raises(shares.NotAllowed):
        requests.create(svc, ctx, basic, client_name="X", client_email="x@example.test",
                        client_identifier="0208:0123456749")
    with pytest.raises(shares.InvalidInput):
        requests.create(svc, ctx, acc, client_name="X", client_email="x@example.test",
                        client_identifier="0208:0123456748")  # bad check digit
    rid = requests.create(svc, ctx, acc, client_name="Bakkerij", client_email="owner@bakkerij.test",
                          client_identifier="0208:0123456749", costs_paid_by="intermediary")
    rid2 = requests.resend(svc, ctx, acc, rid)
    client = make_user(svc, ctx, "owner@bakkerij.test")
    with svc.sessions() as db:
        inbox = requests.inbox(db, db.get(User, client))
        assert [(r.id, r.status) for r, _ in inbox] == [(rid2, "pending")]
    with pytest.raises(shares.InvalidTransition):
        requests.cancel(svc, ctx, acc, rid)  # already cancelled (superseded) by the resend
    org = requests.accept(svc, ctx, client, rid2, organisation_id=None, text_shown="I authorise")
    with svc.sessions() as db:
        acc_user = db.get(User, acc)
        assert orgs.require_member(db, acc_user, org).payer.startswith("intermediary:")
    requests.revoke(svc, ctx, client, rid2)
    with svc.sessions() as db:
        with pytest.raises(shares.NotAllowed):
            orgs.require_member(db, db.get(User, acc), org)
        assert orgs.require_member(db, db.get(User, client), org).payer == "own"
    rid3 = requests.create(svc, ctx, acc, client_name="B", client_email="owner@bakkerij.test",
                           client_identifier="0208:0123456749")
    requests.refuse(svc, ctx, client, rid3)
    assert "refused" in outbox.messages[-1]["Subject"]


def test_sign_up_verify_login(svc, ctx, outbox):
    accounts.sign_up(svc, ctx, accounts.SignUp("new@example.test", "long enough pw", "New"))
    with pytest.raises(shares.NotAllowed):
        accounts.authenticate(svc, ctx, "new@example.test", "long enough pw")
    link = outbox.links("new@example.test")[-1]
    token = link.rsplit("/", 1)[1]
    assert accounts.peek_verification(svc, token, ctx.now)
    uid = accounts.verify_email(svc, ctx, token)
    with pytest.raises(shares.InviteInvalid):
        accounts.verify_email(svc, ctx, token)
    assert accounts.authenticate(svc, ctx, "NEW@example.test", "long enough pw") == uid
    with pytest.raises(shares.NotAllowed):
        accounts.authenticate(svc, ctx, "new@example.test", "wrong password!")
    # SEC-6: signing up again with a known address looks the same, and mails the owner.
    accounts.sign_up(svc, ctx, accounts.SignUp("new@example.test", "another long pw", "X"))
    assert "already have" in outbox.messages[-1]["Subject"]
    with svc.sessions.begin() as db:
        token, csrf = accounts.open_session(db, ctx, uid)
    with svc.sessions() as db:
        assert accounts.load_session(db, token, ctx.now)[1].id == uid
        assert accounts.load_session(db, token, ctx.now + accounts.SESSION_LIFETIME) is None
    scheduler.run_due(svc, ctx.now + accounts.SESSION_LIFETIME)
    with svc.sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(WebSession)) == 0
    for _ in range(10):  # the per-address limit
        with pytest.raises(shares.NotAllowed):
            accounts.authenticate(svc, ctx, "nobody@example.test", "whatever pw")
    with pytest.raises(shares.RateLimited):
        accounts.authenticate(svc, ctx, "nobody@example.test", "whatever pw")


def test_colleague_joins_environment_by_invitation_only(svc, ctx, outbox):
    from accesspoint.sharing import team

    admin = make_user(svc, ctx, "anna@firm.test")
    basic = make_user(svc, ctx, "bob@other.test", role="basic")
    with pytest.raises(shares.NotAllowed):
        team.invite_colleague(svc, ctx, basic, "x@firm.test")
    inv = team.invite_colleague(svc, ctx, admin, "Carla@Firm.test")
    assert team.invite_colleague(svc, ctx, admin, "carla@firm.test") == inv  # no duplicate
    token = token_of(outbox, "carla@firm.test")
    carla = team.sign_up_from_invite(svc, ctx, token, accounts.SignUp("evil@else.test", "a long passphrase"))
    with svc.sessions() as db:
        c, a = db.get(User, carla), db.get(User, admin)
        assert (c.email, c.environment_id, c.environment_role) == ("carla@firm.test", a.environment_id, "basic")
        assert c.email_verified_at is not None
    with pytest.raises(shares.InviteInvalid):
        team.sign_up_from_invite(svc, ctx, token, accounts.SignUp("x@y.test", "a long passphrase"))
    team.set_role(svc, ctx, admin, carla, "advanced")
    with pytest.raises(shares.InvalidInput):
        team.set_role(svc, ctx, admin, admin, "basic")  # the last admin stays
    # An org admin can now add the colleague to an organisation (W2).
    org = make_client_org(svc, ctx, admin)
    with svc.sessions.begin() as db:
        orgs.add_member(db, ctx, db.get(User, admin), org, "carla@firm.test", "member")
    with svc.sessions() as db:
        assert orgs.require_member(db, db.get(User, carla), org).id == org
