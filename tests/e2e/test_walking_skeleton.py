"""Walking skeleton: a changement de fournisseur on an AMM meter travels through all five services as processes."""

import asyncio
import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from contracts.common import ChoixReleve, Contact, ContratConclu, ModaliteIntervention
from contracts.demandes import DemandeChangementFournisseurV1, DemandeDiverseV1
from contracts.envelope import new_envelope
from contracts.references import reference_affaire
from contracts.topics import AFFAIRES_EVENEMENTS, DEMANDES, DEMANDES_RESULTATS, DLQ, FLUX_C15
from demo_data.generator import PdsGen, generate_many
from demo_data.reference import FOURNISSEURS, fournisseur
from devtools.processes import Platform
from platform_kit.clock import aujourdhui_reel
from tests.e2e.conftest import SEED_COUNT
from tests.support import Bus, mails, read_topic, wait_for_mails, wait_for_messages

pytestmark = pytest.mark.e2e

_used: set[str] = set()


def amm_pds() -> PdsGen:
    """A fresh (not yet used by this session) seeded C5 PDS in service with a tele-operable AMM meter."""
    # From the top of the seeded range, away from the low-numbered PDS the integration tests publish about.
    for p in reversed(list(generate_many(SEED_COUNT))):
        if p.reference in _used:
            continue
        if p.segment == "C5" and p.etat == "en_service" and p.compteur["teleoperable"] and p.contrat:
            _used.add(p.reference)
            return p
    raise LookupError("no AMM PDS left")


def new_supplier_for(p: PdsGen) -> str:
    """A supplier other than the current holder."""
    return next(f.code for f in FOURNISSEURS if f.code != p.titulaire)


def cf_for(p: PdsGen, supplier: str) -> DemandeChangementFournisseurV1:
    """A valid CF demand on `p` by `supplier`."""
    return DemandeChangementFournisseurV1(
        pds=p.reference,
        date_effet_souhaitee=aujourdhui_reel(),  # the TO is sent on its date d'effet (tests/e2e/test_date_effet.py: a later one)
        choix_releve=ChoixReleve.ESTIMATION,
        contrat_conclu=ContratConclu(reference=f"CTR-{uuid.uuid4().hex[:8]}", date_signature=aujourdhui_reel()),
        telephones=("0601020304",),
        demandeur=Contact(nom="BERNARD", prenom="Anne", telephone="0145000000"),
        modalite_intervention=ModaliteIntervention.STANDARD,
        configuration_demandee="BASE",
    )


def by_demande(mid: object) -> Any:
    return lambda d: d["payload"].get("demande_message_id") == str(mid)


def to_supplier(code: str, ref: str) -> Any:
    email = fournisseur(code).email  # type: ignore[union-attr]

    def match(m: EmailMessage) -> bool:
        return email in str(m["To"]) and ref in str(m["Subject"])

    return match


def api(platform: Platform, service: str, supplier: str) -> httpx.Client:
    secret = fournisseur(supplier).secret_demo  # type: ignore[union-attr]
    return httpx.Client(base_url=f"http://127.0.0.1:{platform[service].port}", auth=(supplier, secret), timeout=10)


async def test_cf_on_amm_meter_goes_through_every_service(platform: Platform, bus: Bus) -> None:
    p = amm_pds()
    supplier = new_supplier_for(p)
    env = await bus.send(cf_for(p, supplier), fournisseur=supplier)
    ref = reference_affaire(env.message_id)

    outcome = await wait_for_messages(DEMANDES_RESULTATS.name, by_demande(env.message_id), timeout=60)
    assert outcome[0]["type"] == "DemandeAcceptee", outcome[0]["payload"]
    assert outcome[0]["payload"]["reference_affaire"] == ref

    flux = await wait_for_messages(FLUX_C15.name, lambda d: d["payload"]["reference_affaire"] == ref, count=2, timeout=90)
    by_event = {d["payload"]["evenement"]: d["payload"] for d in flux}
    assert by_event["CFNE"]["fournisseur"] == supplier
    assert by_event["CFNS"]["fournisseur"] == p.titulaire
    assert by_event["CFNE"]["releve_apres"]["nature"] == "reelle"

    await wait_for_messages(
        AFFAIRES_EVENEMENTS.name,
        lambda d: d["payload"]["reference_affaire"] == ref and d["payload"]["statut"] == "terminee",
        timeout=60,
    )
    confirmation = await wait_for_mails(to_supplier(supplier, ref), timeout=60)
    assert confirmation

    with api(platform, "affaires", supplier) as client:
        detail = client.get(f"/affaires/{ref}")
        assert detail.status_code == 200, detail.text
        assert detail.json()["statut"] == "terminee"
    with api(platform, "affaires", p.titulaire or "") as other:
        assert other.get(f"/affaires/{ref}").status_code == 404


async def test_same_demand_published_twice_gives_one_affaire_and_one_email(platform: Platform, bus: Bus) -> None:
    p = amm_pds()
    supplier = new_supplier_for(p)
    payload = cf_for(p, supplier)
    env = new_envelope(payload, key=p.reference, fournisseur=supplier)
    await bus.send_envelope(env, DEMANDES.name)
    await bus.send_envelope(env, DEMANDES.name)
    ref = reference_affaire(env.message_id)
    await wait_for_messages(
        AFFAIRES_EVENEMENTS.name,
        lambda d: d["payload"]["reference_affaire"] == ref and d["payload"]["statut"] == "terminee",
        timeout=90,
    )
    await wait_for_mails(to_supplier(supplier, ref), timeout=60)
    await asyncio.sleep(3)  # leave time for a duplicate to show up, if the platform were to make one

    outcomes = [d for d, _h, _v in await read_topic(DEMANDES_RESULTATS.name) if d and by_demande(env.message_id)(d)]
    # At-least-once publication may repeat an event under its id; what must be unique is the outcome itself.
    assert len({d["message_id"] for d in outcomes}) == 1, outcomes
    flux = [d for d, _h, _v in await read_topic(FLUX_C15.name) if d and d["payload"]["reference_affaire"] == ref]
    assert sorted(d["payload"]["evenement"] for d in {d["message_id"]: d for d in flux}.values()) == ["CFNE", "CFNS"]
    ids = [str(m["Message-ID"]) for m in mails(to_supplier(supplier, ref))]
    assert len(ids) == len(set(ids)), ids
    subjects = [str(m["Subject"]) for m in mails(to_supplier(supplier, ref))]
    assert len(subjects) == len(set(subjects)), subjects
    with api(platform, "affaires", supplier) as client:
        listed = client.get("/affaires", params={"reference": ref}).json()
        items = listed["affaires"] if isinstance(listed, dict) else listed
        assert len(items) == 1


async def test_malformed_and_invalid_messages_do_not_block_the_consumer(platform: Platform, bus: Bus) -> None:
    p = amm_pds()
    supplier = p.titulaire or ""
    garbage = f"{{ceci n'est pas du JSON {uuid.uuid4()}".encode()
    await bus.send_raw(DEMANDES.name, garbage, p.reference.encode())

    invalid = new_envelope(
        DemandeDiverseV1(pds=p.reference, sous_type="x", observations="y", date_souhaitee=aujourdhui_reel() + timedelta(days=3)),
        key=p.reference,
        fournisseur=supplier,
    )
    invalid = invalid.model_copy(update={"payload": {"pds": p.reference, "sous_type": "x"}})
    await bus.send_envelope(invalid, DEMANDES.name)

    good = await bus.send(
        DemandeDiverseV1(pds=p.reference, sous_type="info", observations="ok", date_souhaitee=aujourdhui_reel() + timedelta(days=3)),
        fournisseur=supplier,
    )
    accepted = await wait_for_messages(DEMANDES_RESULTATS.name, by_demande(good.message_id), timeout=60)
    assert accepted[0]["type"] == "DemandeAcceptee"

    refused = await wait_for_messages(DEMANDES_RESULTATS.name, by_demande(invalid.message_id), timeout=30)
    assert refused[0]["type"] == "DemandeRefusee"
    assert refused[0]["payload"]["code"] == "MESSAGE_INVALIDE"

    dead = [h for _d, h, v in await read_topic(DLQ.name) if v == garbage]
    assert len(dead) == 1 and dead[0]["x-origin"].startswith(DEMANDES.name)


async def test_a_service_killed_mid_flow_loses_and_doubles_nothing(platform: Platform, bus: Bus) -> None:
    demandes = []
    for _ in range(12):
        p = amm_pds()
        supplier = new_supplier_for(p)
        demandes.append((p, supplier, await bus.send(cf_for(p, supplier), fournisseur=supplier)))
    victim = platform["contrats"]
    await asyncio.sleep(0.3)
    victim.kill9()
    await asyncio.sleep(1)
    platform["affaires"].kill9()
    victim.start()
    platform["affaires"].start()
    await asyncio.to_thread(victim.wait_healthy)
    await asyncio.to_thread(platform["affaires"].wait_healthy)

    for _p, _supplier, env in demandes:
        ref = reference_affaire(env.message_id)

        def terminee(d: dict[str, Any], r: str = ref) -> bool:
            return bool(d["payload"]["reference_affaire"] == r and d["payload"]["statut"] == "terminee")

        await wait_for_messages(AFFAIRES_EVENEMENTS.name, terminee, timeout=120)
    await asyncio.sleep(3)
    results = [d for d, _h, _v in await read_topic(DEMANDES_RESULTATS.name) if d]
    flux = [d for d, _h, _v in await read_topic(FLUX_C15.name) if d]
    for _p, supplier, env in demandes:
        ref = reference_affaire(env.message_id)
        assert len({d["message_id"] for d in results if by_demande(env.message_id)(d)}) == 1
        events = sorted(d["payload"]["evenement"] for d in {d["message_id"]: d for d in flux}.values() if d["payload"]["reference_affaire"] == ref)
        assert events == ["CFNE", "CFNS"], (ref, events)
        confirmations = mails(to_supplier(supplier, ref))
        assert confirmations
        # A crash between SMTP send and record may resend, but always under the same Message-ID: one id per mail.
        ids_by_subject: dict[str, set[str]] = {}
        for m in confirmations:
            ids_by_subject.setdefault(str(m["Subject"]), set()).add(str(m["Message-ID"]))
        assert all(len(ids) == 1 for ids in ids_by_subject.values()), ids_by_subject
