"""EC-9 / §5 Retention: deleting an organisation revokes everything open, removes its documents and SMP entry."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest
import sqlalchemy as sa

import shares
import ubl
from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.documents import Document, OutboxEntry, OutboxEvent
from accesspoint.db.tables.organisations import Organisation, OrganisationIdentifier
from accesspoint.db.tables.sharing import AuditEvent, AuthorisationRequest, Invitation, Partnership, Share
from accesspoint.sharing import deletion, invites, keys, orgs, requests
from accesspoint.smp_store import DbSmpStore

from .test_flows import make_user, token_of

pytestmark = pytest.mark.db
PID = "0208:0123456749"


def add_document(svc, ctx, org_id: int, number: str) -> str:
    with svc.sessions.begin() as db:
        doc = Document(public_id=str(uuid.uuid4()), organisation_id=org_id, direction="out", connection="peppol_sales",
                       sender_id=f"iso6523-actorid-upis::{PID}", receiver_id="iso6523-actorid-upis::0208:0987654394",
                       document_type_id="busdox-docid-qns::x", process_id="cenbii-procid-ubl::y",
                       instance_identifier=str(uuid.uuid4()), number=number, issue_date="2026-11-01", country_c1="BE",
                       duplicate_key=uuid.uuid4().hex, content=f"<Invoice>{number}</Invoice>".encode(),
                       created_at=ctx.now)
        db.add(doc)
        db.flush()
        entry = OutboxEntry(public_id=str(uuid.uuid4()), document_id=doc.id, kind="document", state="created",
                            attempts=0, resends=0, created_at=ctx.now, updated_at=ctx.now)
        db.add(entry)
        db.flush()
        db.add(OutboxEvent(entry_id=entry.id, at=ctx.now, from_state=None, to_state="created", action="submit",
                           detail=""))
        return doc.public_id


def world(svc, ctx, outbox):
    """A client organisation created by accepting an accountant's request, shared twice, with a key and documents."""
    acc = make_user(svc, ctx, "acc@firm.test", role="advanced")
    rid = requests.create(svc, ctx, acc, client_name="Bakkerij", client_email="owner@bakkerij.test",
                          client_identifier=PID)
    owner = make_user(svc, ctx, "owner@bakkerij.test")  # admin of a new environment
    org = requests.accept(svc, ctx, owner, rid, organisation_id=None, text_shown="I authorise")
    invites.share_connections(svc, ctx, owner, org, "reader@example.test", ["peppol_purchase"])
    reader = make_user(svc, ctx, "reader@example.test")
    invites.accept(svc, ctx, reader, token_of(outbox, "reader@example.test"), ["peppol_purchase"], text_shown="ok")
    invites.share_connections(svc, ctx, owner, org, "pending@example.test", ["peppol_sales"])
    key = keys.issue_for_request(svc, ctx, acc, rid, "firm software")
    docs = [add_document(svc, ctx, org, "INV/1"), add_document(svc, ctx, org, "INV-2")]
    return acc, owner, reader, org, rid, key, docs


def test_export_then_sole_admin_approves_with_password(svc, ctx, outbox):
    acc, owner, reader, org, rid, key, docs = world(svc, ctx, outbox)
    engine = svc.sessions.kw["bind"]
    smp = DbSmpStore(engine)
    smp.add_participant(ubl.ParticipantId.parse(PID))
    with svc.sessions() as db:
        name, data = deletion.export_zip(db, db.get(User, owner), org)
        with pytest.raises(shares.NotAllowed):
            deletion.export_zip(db, db.get(User, reader), org)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == sorted(f"sent/{n}-{d}.xml" for n, d in zip(("INV_1", "INV-2"), docs))
        assert zf.read(f"sent/INV_1-{docs[0]}.xml") == b"<Invoice>INV/1</Invoice>"
    assert name.endswith(".zip")

    with pytest.raises(shares.InvalidInput):
        deletion.request_deletion(svc, ctx, owner, org, export_acknowledged=False)
    for outsider in (acc, reader):  # the accountant is a member, not an admin of the owner's environment
        with pytest.raises(shares.NotAllowed):
            deletion.request_deletion(svc, ctx, outsider, org, export_acknowledged=True)
    did = deletion.request_deletion(svc, ctx, owner, org, export_acknowledged=True)
    assert deletion.request_deletion(svc, ctx, owner, org, export_acknowledged=True) == did
    with pytest.raises(shares.InvalidInput):
        deletion.approve(svc, ctx, owner, did, password="wrong password")
    with svc.sessions() as db:
        assert db.get(Organisation, org).status != "deleted"  # nothing happened on a refused approval

    called: list[str] = []
    sent_before = len(outbox.messages)
    counts = deletion.approve(svc, ctx, owner, did, password="correct horse battery", smp_store=smp,
                              deregister=lambda pid: called.append(str(pid)))
    assert called == [f"iso6523-actorid-upis::{PID}"]
    assert not smp.has_participant(ubl.ParticipantId.parse(PID))
    assert counts["documents_deleted"] == 2 and counts["shares_revoked"] == 2 and counts["requests_ended"] == 1
    assert counts["memberships_removed"] == 2 and counts["keys_revoked"] == 1
    notified = {m["To"] for m in outbox.messages[sent_before:]}
    assert notified == {"acc@firm.test", "reader@example.test", "pending@example.test"}
    with svc.sessions.begin() as db:
        assert keys.authenticate(db, key.secret, ctx.now) is None
        assert db.scalar(sa.select(sa.func.count()).select_from(Document).where(Document.organisation_id == org)) == 0
        assert db.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)) == 0
        assert db.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0
        assert db.scalar(sa.select(OrganisationIdentifier).where(OrganisationIdentifier.organisation_id == org)) is None
        assert {s.status for s in db.scalars(sa.select(Share))} == {"revoked", "not_shared"}
        assert {i.status for i in db.scalars(sa.select(Invitation).where(Invitation.organisation_id == org))} \
            <= {"accepted", "revoked"}
        assert db.get(AuthorisationRequest, rid).status == "revoked"
        assert {p.status for p in db.scalars(sa.select(Partnership))} == {"ended"}
        assert not db.scalars(sa.select(Membership).where(Membership.organisation_id == org,
                                                          Membership.status != "removed")).all()
        for uid in (owner, acc, reader):
            with pytest.raises(shares.NotAllowed):
                orgs.require_member(db, db.get(User, uid), org)
            assert not orgs.shared_with(db, db.get(User, uid))
        events = db.scalars(sa.select(AuditEvent).where(AuditEvent.organisation_id == org)).all()
        assert "organisation.deleted" in {e.action for e in events}
        assert all(e.ip == "" and "@" not in e.detail for e in events), [e.detail for e in events if "@" in e.detail]
        assert json.loads(db.get(deletion.OrganisationDeletion, did).detail)["documents_deleted"] == 2
    # The identifier is free again: the organisation can be recreated elsewhere (W2 option 2).
    with svc.sessions.begin() as db:
        orgs.create_organisation(db, ctx, db.get(User, acc), "Bakkerij again", [PID])
    with pytest.raises(shares.NotAllowed):  # the organisation is gone: nothing left to approve
        deletion.approve(svc, ctx, owner, did, password="correct horse battery")


def test_a_second_admin_must_approve_when_there_is_one(svc, ctx, outbox):
    owner = make_user(svc, ctx, "owner@bakkerij.test")
    with svc.sessions.begin() as db:
        org = orgs.create_organisation(db, ctx, db.get(User, owner), "Bakkerij", [PID]).id
    second = make_user(svc, ctx, "second@bakkerij.test")
    with svc.sessions.begin() as db:
        db.get(User, second).environment_id = db.get(User, owner).environment_id
    did = deletion.request_deletion(svc, ctx, owner, org, export_acknowledged=True)
    with pytest.raises(shares.NotAllowed):
        deletion.approve(svc, ctx, owner, did, password="correct horse battery")
    with svc.sessions() as db:
        assert [d.id for d, _ in deletion.pending_for(db, db.get(User, second))] == [did]

    def sml_down(pid):
        raise ConnectionError("SML unreachable")

    counts = deletion.approve(svc, ctx, second, did, deregister=sml_down)
    assert counts["sml_failures"] == 1
    with svc.sessions() as db:
        assert db.get(Organisation, org).status == "deleted"
        assert "sml_failures" in db.get(deletion.OrganisationDeletion, did).detail
    with pytest.raises(shares.NotAllowed):
        deletion.request_deletion(svc, ctx, owner, org, export_acknowledged=True)  # already gone
