"""The pure rules of `shares`: state tables, tokens, passwords, policies and emails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shares
from shares import InvitationState as I
from shares import ShareState as S

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_public_api_is_pinned():
    assert set(shares.__all__) == {n for n in dir(shares) if not n.startswith("_")} - {
        "errors", "mandates", "messages", "partnerships", "passwords", "payers", "policy", "tokens"}


@pytest.mark.parametrize("machine, current, target", [
    (I, "pending", "accepted"), (I, "pending", "declined"), (I, "pending", "expired"), (I, "pending", "revoked"),
    (S, "not_shared", "invited"), (S, "invited", "active"), (S, "invited", "not_shared"), (S, "active", "revoked"),
    (S, "revoked", "invited"),
    (shares.RequestState, "pending", "accepted"), (shares.RequestState, "accepted", "revoked"),
])
def test_allowed_transitions(machine, current, target):
    shares.check_transition(machine, current, target)


@pytest.mark.parametrize("machine, current, target", [
    (I, "accepted", "pending"), (I, "accepted", "accepted"), (I, "revoked", "accepted"), (I, "expired", "accepted"),
    (S, "active", "invited"), (S, "revoked", "active"), (S, "not_shared", "active"),
    (shares.RequestState, "refused", "accepted"), (shares.RequestState, "cancelled", "accepted"),
    (shares.RequestState, "pending", "revoked"),
])
def test_refused_transitions(machine, current, target):
    with pytest.raises(shares.InvalidTransition) as exc:
        shares.check_transition(machine, current, target)
    assert exc.value.code is shares.ShareErrorCode.INVALID_TRANSITION


def test_final_invitation_states_have_no_way_out():
    for state in I:
        if state is not I.PENDING:
            for target in I:
                with pytest.raises(shares.InvalidTransition):
                    shares.check_transition(I, state, target)


def test_tokens_are_256_bit_urlsafe_and_only_hashed():
    token, digest = shares.mint_token()
    assert len(token) >= 43 and set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert digest == shares.hash_token(token) and len(digest) == 64 and token not in digest
    assert len({shares.mint_token()[0] for _ in range(200)}) == 200
    assert shares.tokens_equal(token, token) and not shares.tokens_equal(token, token[:-1] + "x")


def test_password_hash_roundtrip_and_rehash():
    fast = shares.PasswordHasher(n_log2=10)
    stored = fast.hash("correct horse battery")
    assert stored.startswith("scrypt$10$8$1$")
    assert fast.verify("correct horse battery", stored)
    assert not fast.verify("correct horse batterY", stored)
    assert not fast.verify("x", "md5$abc")
    assert not fast.verify("x", "scrypt$99$8$1$AA$AA")  # absurd cost refused, not computed
    assert shares.PasswordHasher(n_log2=11).needs_rehash(stored)
    assert fast.hash("same password") != fast.hash("same password")  # salted


def test_default_cost_is_owasp_scrypt():
    h = shares.PasswordHasher()
    assert (h.n_log2, h.r, h.p) == (17, 8, 1)


@given(st.text(min_size=10, max_size=40))
@settings(max_examples=15, deadline=None)
def test_any_password_verifies(password):
    fast = shares.PasswordHasher(n_log2=4)
    assert fast.verify(password, fast.hash(password))


def test_password_strength():
    with pytest.raises(shares.InvalidInput):
        shares.check_password_strength("short")
    with pytest.raises(shares.InvalidInput):
        shares.check_password_strength("me@example.test", email="ME@example.test")
    shares.check_password_strength("a long passphrase")


@pytest.mark.parametrize("raw, expected", [
    ("  Jan@Bakkerij.TEST ", "jan@bakkerij.test"), ("facturen@firm.be", "facturen@firm.be"),
])
def test_normalise_email(raw, expected):
    assert shares.normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "no-at", "a@b", "a b@c.de", "<a@b.de>", "a@-b.de", "a@b.de,c@d.de"])
def test_bad_email(raw):
    with pytest.raises(shares.InvalidInput):
        shares.normalise_email(raw)


def test_invite_ttl_bounds():
    assert shares.invite_ttl() == timedelta(days=14)
    for bad in (0, 31):
        with pytest.raises(ValueError):
            shares.invite_ttl(bad)


def test_reminders_day_3_and_10_then_none():
    exp = T0 + timedelta(days=14)

    def due(days: float, sent: int) -> bool:
        return shares.reminder_due(last_sent_at=T0, reminders_sent=sent, expires_at=exp, now=T0 + timedelta(days=days))

    assert not due(2.99, 0) and due(3, 0) and not due(9.99, 1) and due(10, 1) and not due(13, 2)
    assert not due(14, 1)  # expired: no reminder


def test_email_binding():
    shares.check_invited_email(invited="jan@x.test", user_email="JAN@x.test", verified=True)
    with pytest.raises(shares.InviteForOtherAddress):
        shares.check_invited_email(invited="jan@x.test", user_email="piet@x.test", verified=True)
    with pytest.raises(shares.InviteForOtherAddress):
        shares.check_invited_email(invited="jan@x.test", user_email="jan@x.test", verified=False)


def test_onboarding_and_display():
    assert shares.onboarding(["not_shared", "invited"]) is shares.Onboarding.NONE
    assert shares.onboarding(["active", "revoked"]) is shares.Onboarding.PARTIAL
    assert shares.onboarding(["active", "active"]) is shares.Onboarding.COMPLETE
    d = shares.share_display
    assert d(None, "", None, None, T0).key == "not_shared"
    assert d("invited", "", "pending", T0 + timedelta(days=1), T0).key == "invited"
    assert d("invited", "", "pending", T0, T0).key == "expired"  # the row's expires_at decides
    assert d("not_shared", "declined", "declined", T0, T0).key == "declined"
    assert d("active", "", "accepted", T0, T0).label == "Active"


def test_invite_mail_names_firm_and_organisation_and_keeps_token_out_of_subject():
    msg = shares.build_invite_mail(shares.InviteMail(
        to="jan@x.test", firm="Boekhouder & Co", inviter="Anna", organisation="Bakkerij Peeters",
        identifiers=["0208:0123456749"], connections=["peppol_purchase", "peppol_sales"],
        link="https://node.test/i/SECRETTOKEN", expires_at=T0))
    body = msg.get_content()
    assert "Boekhouder & Co" in msg["Subject"] and "Bakkerij Peeters" in msg["Subject"]
    assert "0208:0123456749" in body and "Peppol – purchase invoices" in body and "Peppol – sales invoices" in body
    assert "SECRETTOKEN" in body and "SECRETTOKEN" not in msg["Subject"]


def test_accept_as_decides_create_take_over_existing_or_unavailable():
    H = shares.IdentifierHolder
    req_env = 7
    assert shares.accept_as(None, requester_environment_id=req_env) is shares.AcceptAs.CREATE
    # Registered by the requester for the client (the Doccle order): taken over.
    assert shares.accept_as(H(1, req_env, client_is_admin=False, requester_is_admin=True),
                            requester_environment_id=req_env) is shares.AcceptAs.TAKE_OVER
    # A colleague without admin rights cannot hand the firm's organisation away.
    assert shares.accept_as(H(1, req_env, client_is_admin=False, requester_is_admin=False),
                            requester_environment_id=req_env) is shares.AcceptAs.UNAVAILABLE
    # The firm's own organisation (not registered for a client) is never handed over.
    assert shares.accept_as(H(1, req_env, client_is_admin=False, requester_is_admin=True, registered_for_client=False),
                            requester_environment_id=req_env) is shares.AcceptAs.UNAVAILABLE
    assert shares.accept_as(H(1, 9, client_is_admin=True, requester_is_admin=False),
                            requester_environment_id=req_env) is shares.AcceptAs.EXISTING
    assert shares.accept_as(H(1, 9, client_is_admin=False, requester_is_admin=False),
                            requester_environment_id=req_env) is shares.AcceptAs.UNAVAILABLE
    with pytest.raises(shares.InvalidInput):
        shares.check_acceptable(shares.AcceptAs.TAKE_OVER, confirmed_requester=False)
    with pytest.raises(shares.NotAllowed):
        shares.check_acceptable(shares.AcceptAs.UNAVAILABLE, confirmed_requester=True)
    shares.check_acceptable(shares.AcceptAs.TAKE_OVER, confirmed_requester=True)
    text = shares.consent_text(shares.AcceptAs.TAKE_OVER, firm="F", requester="Anna", organisation="B",
                               identifier="0208:0123456749", payer="F")
    assert "take over B" in text and "Anna of F" in text


def test_org_relation_and_where_share_with_your_client_belongs():
    rel = shares.org_relation
    assert rel(organisation_environment_id=1, held_for="own", viewer_environment_id=1) is shares.OrgRelation.OURS
    assert rel(organisation_environment_id=1, held_for="client", viewer_environment_id=1) is shares.OrgRelation.CLIENT
    # A client's own organisation, seen by the accountant through the mandate, is a client's.
    assert rel(organisation_environment_id=2, held_for="own", viewer_environment_id=1) is shares.OrgRelation.CLIENT
    assert not shares.offers_share_with_client(shares.OrgRelation.OURS)
    assert shares.offers_share_with_client(shares.OrgRelation.CLIENT)


def test_an_unticked_connection_is_not_accepted_not_declined():
    d = shares.share_display("not_shared", "not_accepted", "accepted", T0, T0)
    assert (d.key, d.label) == ("not_accepted", "Not accepted")
