"""The SmlStore contract, on memory and on every configured database."""

from __future__ import annotations

import asyncio

import pytest

from accesspoint.db import create_engine, migrate
from accesspoint.sml_store import DbSmlStore
from sml import BadRequestFault, DnsServer, LocalSml, ParticipantNotRegistered, SmlStore, Zone, lookup_smp_url
from sml.local import dns_label
from sml.store import DuplicateRecord, MemorySmlStore, ParticipantRecord, SmpRecord
from ubl import ParticipantId


def test_memory_store_contract():
    _contract(MemorySmlStore())


@pytest.mark.db
def test_database_store_contract(database_url):
    migrate(database_url)
    engine = create_engine(database_url)
    try:
        _contract(DbSmlStore(engine))
    finally:
        engine.dispose()


def _p(text: str, smp: str, key: str | None = None) -> ParticipantRecord:
    pid = ParticipantId.parse(text)
    return ParticipantRecord(str(pid), smp, dns_label(pid), key)


def _contract(store):
    assert isinstance(store, SmlStore)
    assert store.get_smp("A") is None
    a = SmpRecord("A", "https://a.example/", "192.0.2.1", "CN=a:1")
    store.save_smp(a, create=True)
    with pytest.raises(DuplicateRecord):
        store.save_smp(a, create=True)
    assert store.get_smp("A") == a
    moved = SmpRecord("A", "https://a2.example/", "192.0.2.9", "CN=a:1")
    store.save_smp(moved, create=False)
    assert store.get_smp("A") == moved
    store.save_smp(SmpRecord("B", "https://b.example/", "192.0.2.2", "CN=b:2"), create=True)

    p1, p2, p3 = _p("0088:1", "A"), _p("0088:2", "A"), _p("9915:test", "B")
    for rec in (p2, p1, p3):
        store.save_participant(rec, create=True)
    with pytest.raises(DuplicateRecord):
        store.save_participant(p1, create=True)
    with pytest.raises(KeyError):
        store.save_participant(_p("0088:3", "NOPE"), create=True)
    assert store.get_participant(p1.participant_id) == p1
    assert store.list_participants("A", after=None, limit=10) == [p1, p2]
    assert store.list_participants("A", after=p1.participant_id, limit=10) == [p2]
    assert store.list_participants("A", after=None, limit=1) == [p1]
    assert store.resolve(p1.dns_label) == "https://a2.example/"
    assert store.resolve(p1.dns_label.upper()) == "https://a2.example/"
    assert store.resolve(p3.dns_label) == "https://b.example/"
    assert store.resolve("nothing.iso6523-actorid-upis") is None

    # migration key and move to another SMP
    store.save_participant(ParticipantRecord(p1.participant_id, "A", p1.dns_label, "Ab1!cD2#"), create=False)
    assert store.get_participant(p1.participant_id).migration_key == "Ab1!cD2#"
    store.save_participant(ParticipantRecord(p1.participant_id, "B", p1.dns_label, None), create=False)
    assert store.resolve(p1.dns_label) == "https://b.example/"

    assert store.delete_participant(p3.participant_id) is True
    assert store.delete_participant(p3.participant_id) is False
    assert store.resolve(p3.dns_label) is None
    assert [r.participant_id for r in store.delete_smp("A")] == [p2.participant_id]
    assert store.get_smp("A") is None and store.get_participant(p2.participant_id) is None
    assert store.get_participant(p1.participant_id) is not None


@pytest.mark.db
def test_local_sml_and_dns_on_the_database(database_url):
    migrate(database_url)
    engine = create_engine(database_url)
    zone = Zone("sml.db.test")

    async def main():
        local = LocalSml(DbSmlStore(engine), zone)
        pid = ParticipantId.parse("0088:123abc")
        async with DnsServer(zone, local.store) as server:
            await local.create_smp("owner", "SMP", "https://smp.example/", "192.0.2.1")
            await local.create_participant("owner", "SMP", pid)
            with pytest.raises(BadRequestFault):
                await local.create_participant("owner", "SMP", pid)
            assert await lookup_smp_url(pid, zone, resolver=server.address) == "https://smp.example/"
            await local.delete_participant("owner", "SMP", pid)
            with pytest.raises(ParticipantNotRegistered):
                await lookup_smp_url(pid, zone, resolver=server.address)

    try:
        asyncio.run(main())
    finally:
        engine.dispose()
