"""W6 partnerships without an authorisation request: the pure rules, then the flows on a real database."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.sharing import AuditEvent, Partnership
from accesspoint.sharing import orgs, partnerships, requests, team
from tests.shares.test_flows import make_user

RM_ADMIN = shares.Party(1, "admin", True)
RM_ADVANCED = shares.Party(2, "advanced", True)


@pytest.mark.parametrize("party, ok", [
    (shares.Party(1, "admin", True), True), (shares.Party(1, "advanced", True), True),
    (shares.Party(1, "basic", True), False), (shares.Party(1, "admin", False), False),
])
def test_both_sides_need_the_role_and_the_flag(party, ok):
    assert shares.may_form_partnerships(party) is ok
    if ok:
        shares.check_may_request(party, RM_ADVANCED if party.environment_id != 2 else RM_ADMIN)
    else:
        with pytest.raises(shares.NotAllowed):
            shares.check_may_request(party, RM_ADVANCED)
    # The one asked must qualify too; one answer whether or not the address has an account.
    with pytest.raises(shares.ShareError) as unknown:
        shares.check_may_request(RM_ADMIN, None)
    with pytest.raises(shares.ShareError) as not_rm:
        shares.check_may_request(RM_ADMIN, shares.Party(2, "admin", False))
    assert unknown.value.message == not_rm.value.message


def test_no_partnership_within_one_environment():
    with pytest.raises(shares.InvalidInput):
        shares.check_may_request(RM_ADMIN, shares.Party(1, "advanced", True))


def test_only_the_asked_side_decides_and_only_while_pending():
    pending = shares.PartnershipFacts(1, 2, "pending", requester_environment_id=1)
    shares.check_may_decide(RM_ADVANCED, pending, "active")
    shares.check_may_decide(RM_ADVANCED, pending, "rejected")
    with pytest.raises(shares.NotAllowed):
        shares.check_may_decide(RM_ADMIN, pending, "active")  # the requester cannot accept its own request
    with pytest.raises(shares.InvalidTransition):
        shares.check_may_decide(RM_ADVANCED, shares.PartnershipFacts(1, 2, "rejected", 1), "active")
    with pytest.raises(shares.InvalidTransition):
        shares.check_may_decide(RM_ADVANCED, pending, "ended")
    with pytest.raises(shares.InvalidTransition):  # an ended one is not accepted again by a decision
        shares.check_may_decide(RM_ADVANCED, shares.PartnershipFacts(1, 2, "ended", 1), "active")
    with pytest.raises(shares.NotAllowed):  # made by an authorisation request: nothing to decide
        shares.check_may_decide(RM_ADVANCED, shares.PartnershipFacts(1, 2, "pending", None), "active")


def test_either_side_ends_an_active_one_unless_mandates_ride_on_it():
    active = shares.PartnershipFacts(1, 2, "active", requester_environment_id=1)
    shares.check_may_end(RM_ADMIN, active)
    shares.check_may_end(RM_ADVANCED, active)
    with pytest.raises(shares.NotAllowed):
        shares.check_may_end(shares.Party(3, "admin", True), active)
    with pytest.raises(shares.InvalidTransition):
        shares.check_may_end(RM_ADMIN, shares.PartnershipFacts(1, 2, "pending", 1))
    with pytest.raises(shares.InvalidInput):
        shares.check_may_end(RM_ADMIN, shares.PartnershipFacts(1, 2, "active", None, open_mandates=1))


def test_request_mail_names_the_firm_and_says_it_gives_no_access():
    mail = shares.build_partnership_request_mail(to="piet@andere.test", firm="Boekhouder & Co", requester="Anna",
                                                 requester_email="anna@boekhouder.test",
                                                 link="https://node.test/partners", node_name="peppol-node")
    assert mail["Subject"] == "Partnership request from Boekhouder & Co"
    body = mail.get_content()
    assert "anna@boekhouder.test" in body and "no" in body and "access" in body and "/partners" in body


# -- on the database ----------------------------------------------------------------------------------

def rm(svc, ctx, email):
    uid = make_user(svc, ctx, email)
    team.set_relationship_manager(svc, ctx, uid, uid, True)
    return uid


def actions(svc):
    with svc.sessions() as db:
        return [e.action for e in db.scalars(sa.select(AuditEvent).where(
            AuditEvent.object_type == "partnership").order_by(AuditEvent.id))]


@pytest.mark.db
def test_request_accept_end_and_ask_again(svc, ctx, outbox):
    anna, piet = rm(svc, ctx, "anna@boekhouder.test"), rm(svc, ctx, "piet@andere.test")
    basic = make_user(svc, ctx, "bob@andere.test", role="basic")
    with pytest.raises(shares.InvalidInput):  # not a relationship manager
        partnerships.request(svc, ctx, anna, "bob@andere.test")
    with pytest.raises(shares.InvalidInput):  # no account at all: the same answer
        partnerships.request(svc, ctx, anna, "nobody@nowhere.test")
    with pytest.raises(shares.NotAllowed):
        partnerships.request(svc, ctx, basic, "anna@boekhouder.test")
    pid = partnerships.request(svc, ctx, anna, "Piet@Andere.test")
    assert outbox.messages[-1]["To"] == "piet@andere.test"
    assert "anna@boekhouder.test" in outbox.messages[-1].get_content()
    with pytest.raises(shares.InvalidInput):  # one open partnership per pair, whichever side asks
        partnerships.request(svc, ctx, piet, "anna@boekhouder.test")
    with pytest.raises(shares.NotAllowed):
        partnerships.accept(svc, ctx, anna, pid)  # not the side that was asked
    with svc.sessions() as db:
        views = partnerships.list_for(db, db.get(User, piet))
        assert [(v.direction, v.status, v.may_decide, v.partner) for v in views] == [
            ("incoming", "pending", True, "anna@boekhouder.test")]
    partnerships.accept(svc, ctx, piet, pid)
    assert outbox.messages[-1]["To"] == "anna@boekhouder.test" and "accepted" in outbox.messages[-1]["Subject"]
    with pytest.raises(shares.InvalidTransition):
        partnerships.reject(svc, ctx, piet, pid)
    partnerships.end(svc, ctx, anna, pid)
    assert outbox.messages[-1]["To"] == "piet@andere.test" and "ended" in outbox.messages[-1]["Subject"]
    # History stays; a new request is a new row, which can be rejected.
    again = partnerships.request(svc, ctx, piet, "anna@boekhouder.test")
    assert again != pid
    partnerships.reject(svc, ctx, anna, again)
    assert outbox.messages[-1]["To"] == "piet@andere.test" and "rejected" in outbox.messages[-1]["Subject"]
    with svc.sessions() as db:
        rows = {p.id: (p.status, p.origin) for p in db.scalars(sa.select(Partnership))}
        assert rows == {pid: ("ended", "manual"), again: ("rejected", "manual")}
        ev = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "partnership.requested"))
        assert json.loads(ev.detail)["to"] == "piet@andere.test" and ev.ip == ctx.ip
    assert actions(svc) == ["partnership.requested", "partnership.accepted", "partnership.ended",
                            "partnership.requested", "partnership.rejected"]


@pytest.mark.db
def test_a_partnership_gives_no_access_and_a_mandate_keeps_it_open(svc, ctx, outbox):
    anna, piet = rm(svc, ctx, "anna@boekhouder.test"), rm(svc, ctx, "piet@andere.test")
    with svc.sessions.begin() as db:
        org = orgs.create_organisation(db, ctx, db.get(User, piet), "Andere Bakkerij", ["0208:0123456749"]).id
    pid = partnerships.request(svc, ctx, anna, "piet@andere.test")
    partnerships.accept(svc, ctx, piet, pid)
    with svc.sessions() as db:
        a = db.get(User, anna)
        assert orgs.organisations_of(db, a) == []
        with pytest.raises(shares.NotAllowed):
            orgs.require_member(db, a, org)
    # An authorisation request between partners reuses the partnership.
    rid = requests.create(svc, ctx, anna, client_name="Andere Bakkerij", client_email="piet@andere.test",
                          client_identifier="0208:0123456749")
    requests.accept(svc, ctx, piet, rid, organisation_id=org, text_shown="I authorise")
    with svc.sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Partnership)) == 1
        assert orgs.require_member(db, db.get(User, anna), org)  # the mandate gives access, not the partnership
    with pytest.raises(shares.InvalidInput):  # the mandate rides on it: revoke that first
        partnerships.end(svc, ctx, piet, pid)
    requests.revoke(svc, ctx, piet, rid)
    with svc.sessions() as db:
        assert db.get(Partnership, pid).status == "active"  # formed by the firms: it outlives the mandate
        with pytest.raises(shares.NotAllowed):
            orgs.require_member(db, db.get(User, anna), org)
    partnerships.end(svc, ctx, piet, pid)


@pytest.mark.db
def test_only_admins_name_relationship_managers(svc, ctx):
    admin = make_user(svc, ctx, "anna@boekhouder.test")
    with svc.sessions.begin() as db:
        env = db.get(User, admin).environment_id
    other = make_user(svc, ctx, "eve@elsewhere.test")
    with pytest.raises(shares.NotAllowed):
        team.set_relationship_manager(svc, ctx, other, admin, True)  # another environment's admin
    team.set_relationship_manager(svc, ctx, admin, admin, True)
    with svc.sessions() as db:
        assert db.get(User, admin).relationship_manager is True
        ev = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.relationship_manager_changed"))
        assert (ev.before, ev.after, ev.environment_id) == ("false", "true", env)
