"""The référentiel gives each demand exactly one outcome, from the platform's clock and the demand's own PDS (issue #11)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from contracts import demandes as d
from contracts.common import EtatContrat
from contracts.envelope import Envelope, new_envelope
from contracts.evenements import ContratEtatChangeV1
from contracts.topics import DEMANDES, DEMANDES_RESULTATS, DLQ, QUALIFIEES_CONTRATS
from tests.integration.test_referentiel import EN_SERVICE, app, etranger  # noqa: F401  (the module's in-process référentiel)
from tests.support import Bus, read_topic, wait_for_messages

pytestmark = pytest.mark.integration


def _par_demande(env: Envelope) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("payload", {}).get("demande_message_id") == str(env.message_id)


async def _issues(env: Envelope) -> list[dict[str, object]]:
    """Every outcome or qualification the référentiel published for a demand."""
    found = []
    for topic in (DEMANDES_RESULTATS.name, QUALIFIEES_CONTRATS.name):
        found += [m for m, _h, _v in await read_topic(topic) if m is not None and _par_demande(env)(m)]
    return found


async def test_a_demand_resent_after_its_pds_changed_hands_gets_no_second_outcome(app: FastAPI, bus: Bus) -> None:  # noqa: F811
    cible = EN_SERVICE[5]
    candidat = etranger(cible)
    premiere = await bus.send(d.DemandeModificationREV1(pds=cible.reference, re_code="RE_VOLTA_C2"), fournisseur=candidat)
    refus = (await wait_for_messages(DEMANDES_RESULTATS.name, _par_demande(premiere), timeout=30))[0]
    assert refus["payload"]["code"] == "NIVEAU_ACCES_INSUFFISANT"
    # The candidate becomes the holder; then its system sends the same demand again (same message id).
    await bus.send(
        ContratEtatChangeV1(
            contrat_id=f"C-{uuid.uuid4().hex[:6]}", pds=cible.reference, titulaire=candidat, etat=EtatContrat.EN_COURS_DE_SOUSCRIPTION
        ),
        fournisseur=candidat,
    )
    await asyncio.sleep(3)
    await bus.send_envelope(premiere, DEMANDES.name)
    repere = await bus.send(d.DemandeModificationREV1(pds=cible.reference, re_code="RE_VOLTA_C2"), fournisseur=candidat)
    assert (await wait_for_messages(QUALIFIEES_CONTRATS.name, _par_demande(repere), timeout=30))[0]["payload"]["niveau_acces"] == "titulaire"
    assert [m["type"] for m in await _issues(premiere)] == ["DemandeRefusee"]


async def test_a_demand_keyed_by_another_pds_is_refused(app: FastAPI, bus: Bus) -> None:  # noqa: F811
    cible, autre = EN_SERVICE[6], EN_SERVICE[7]
    env = new_envelope(d.DemandeModificationREV1(pds=cible.reference, re_code="RE_VOLTA_C2"), key=autre.reference, fournisseur=cible.titulaire)
    await bus.send_envelope(env, DEMANDES.name)
    refus = (await wait_for_messages(DEMANDES_RESULTATS.name, _par_demande(env), timeout=30))[0]
    assert refus["payload"]["code"] == "CLE_INCOHERENTE"
    assert refus["key"] == cible.reference  # outputs are keyed by the validated PDS, not by what the sender wrote


async def test_a_demand_dated_ahead_of_its_receipt_is_refused(app: FastAPI, bus: Bus) -> None:  # noqa: F811
    cible = EN_SERVICE[8]
    env = new_envelope(
        d.DemandeModificationREV1(pds=cible.reference, re_code="RE_VOLTA_C2"),
        key=cible.reference,
        fournisseur=cible.titulaire,
        occurred_at=datetime.now(UTC) + timedelta(days=7),
    )
    await bus.send_envelope(env, DEMANDES.name)
    refus = (await wait_for_messages(DEMANDES_RESULTATS.name, _par_demande(env), timeout=30))[0]
    assert refus["payload"]["code"] == "HORODATAGE_FUTUR"


async def test_a_demand_with_a_600_kb_key_is_refused_and_the_next_one_is_decided(app: FastAPI, bus: Bus) -> None:  # noqa: F811
    cible = EN_SERVICE[9]
    bad = new_envelope(d.DemandeModificationREV1(pds=cible.reference, re_code="RE_VOLTA_C2"), key=cible.reference, fournisseur=cible.titulaire)
    raw = bad.model_dump(mode="json")
    raw["key"] = "K" * 600_000
    await bus.send_raw(DEMANDES.name, Envelope.model_construct(**raw).model_dump_json().encode(), cible.reference.encode())
    good = await bus.send(d.DemandeModificationREV1(pds=cible.reference, re_code="RE_VOLTA_C2"), fournisseur=cible.titulaire)
    assert await wait_for_messages(QUALIFIEES_CONTRATS.name, _par_demande(good), timeout=30)
    refus = (await wait_for_messages(DEMANDES_RESULTATS.name, _par_demande(bad), timeout=30))[0]
    assert refus["payload"]["code"] == "MESSAGE_INVALIDE" and refus["key"] == cible.reference
    dead = [h for m, h, _v in await read_topic(DLQ.name) if m and m.get("message_id") == str(bad.message_id)]
    assert len(dead) == 1
