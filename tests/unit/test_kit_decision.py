"""platform_kit.handling: load → decide → commit on the in-memory port: commit, refusal through the one builder, nothing, absent, redelivery."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from contracts.common import NiveauAcces, Segment, StatutAffaire, TypeAffaire
from contracts.demandes import DemandeDiverseV1
from contracts.evenements import AffaireStatutChangeV1, CompteurInfo, ContextePds, DemandeQualifieeV1, DemandeRefuseeV1
from contracts.refus import CodeRefus, Etape, Refus
from platform_kit.decision import Decided, Emission, Outcome, Verdict, refusal_of
from platform_kit.handling import decide, refuse_once
from platform_kit.store import Loaded
from platform_kit.testing import MemoryAggregates, MemoryKit

PDS = "30001234567890EC1"


def qualifiee() -> DemandeQualifieeV1:
    demande = DemandeDiverseV1(pds=PDS, sous_type="info", observations="Question.", date_souhaitee=date(2025, 1, 20))
    contexte = ContextePds(
        pds=PDS,
        segment=Segment.C5,
        niveau_tension="BT",
        etat="en_service",
        coupe_pour_non_paiement=False,
        zone="Z02",
        compteur=CompteurInfo(reference="CPT1", amm=True, localisation="exterieur", mode_releve="telereleve"),
    )
    return DemandeQualifieeV1(
        demande_message_id=uuid.uuid4(),
        demande_type="DemandeDiverse",
        demande=demande.model_dump(mode="json"),
        niveau_acces=NiveauAcces.TITULAIRE,
        contexte=contexte,
    )


def statut(etat: str) -> AffaireStatutChangeV1:
    return AffaireStatutChangeV1(reference_affaire="A1", type_affaire=TypeAffaire.DEMANDE_DIVERSE, pds=PDS, statut=StatutAffaire.EN_COURS, etat=etat)


def ouvrir(loaded: Loaded) -> Verdict:
    """A pure rule: an affaire opens once; a second opening is refused; a closed PDS is not our concern."""
    if loaded.state.get("ferme"):
        return None
    if loaded.state.get("ouvertes", 0) >= 1:
        return Refus(CodeRefus.OPERATION_EN_COURS, "Une affaire est déjà ouverte : attendez son aboutissement.")
    etat = {**loaded.state, "ouvertes": 1}
    return Decided(etat, [statut("creee"), Emission(statut("en_attente_intervention"), key="AUTRE", fournisseur=None)])


async def test_an_accepted_decision_commits_its_state_and_emits_its_events_in_order() -> None:
    kit, pds, q = MemoryKit(), MemoryAggregates("pds"), qualifiee()
    ctx = kit.context(q, fournisseur="ELEC_AZUR")
    assert await decide(kit, ctx, pds, PDS, ouvrir, refusal=refusal_of(q, Etape.AFFAIRES)) == Outcome.COMMITTED
    assert pds.state(PDS) == {"ouvertes": 1}
    [(_, premier), (_, second)] = kit.published
    assert (premier.payload["etat"], premier.key, premier.fournisseur) == ("creee", PDS, "ELEC_AZUR")
    assert (second.payload["etat"], second.key, second.fournisseur) == ("en_attente_intervention", "AUTRE", None)


async def test_a_redelivered_message_is_not_decided_again() -> None:
    kit, pds, q = MemoryKit(), MemoryAggregates("pds"), qualifiee()
    ctx = kit.context(q)
    await decide(kit, ctx, pds, PDS, ouvrir, refusal=refusal_of(q, Etape.AFFAIRES))
    again = await decide(kit, kit.redelivery(ctx), pds, PDS, ouvrir, refusal=refusal_of(q, Etape.AFFAIRES))
    assert again == Outcome.ALREADY_APPLIED and len(kit.published) == 2 and pds.version(PDS) == 1


async def test_a_refusal_records_the_message_keeps_the_state_and_publishes_the_one_builder_s_event() -> None:
    kit, pds, q = MemoryKit(), MemoryAggregates("pds"), qualifiee()
    pds.seed(PDS, {"ouvertes": 1})
    ctx = kit.context(q)
    assert await decide(kit, ctx, pds, PDS, ouvrir, refusal=refusal_of(q, Etape.AFFAIRES)) == Outcome.REFUSED
    [refus] = kit.payloads(DemandeRefuseeV1)
    assert (refus.code, refus.etape, refus.pds, refus.demande_message_id) == ("OPERATION_EN_COURS", "affaires", PDS, q.demande_message_id)
    assert pds.state(PDS) == {"ouvertes": 1} and pds.version(PDS) == 2
    assert await decide(kit, kit.redelivery(ctx), pds, PDS, ouvrir, refusal=refusal_of(q, Etape.AFFAIRES)) == Outcome.ALREADY_APPLIED
    assert len(kit.published) == 1


async def test_an_absent_aggregate_starts_from_its_initial_state_which_a_refusal_records() -> None:
    kit, pds, q = MemoryKit(), MemoryAggregates("pds"), qualifiee()
    outcome = await decide(kit, kit.context(q), pds, PDS, ouvrir, refusal=refusal_of(q, Etape.CONTRATS), initial=lambda: {"ouvertes": 1, "pds": PDS})
    assert outcome == Outcome.REFUSED and pds.state(PDS) == {"ouvertes": 1, "pds": PDS}


async def test_nothing_to_decide_and_absent_aggregates_write_nothing() -> None:
    kit, pds, q = MemoryKit(), MemoryAggregates("pds"), qualifiee()
    assert await decide(kit, kit.context(q), pds, PDS, ouvrir, only_existing=True) == Outcome.ABSENT
    pds.seed(PDS, {"ferme": True})
    assert await decide(kit, kit.context(q), pds, PDS, ouvrir) == Outcome.NOTHING
    assert kit.published == [] and pds.version(PDS) == 1 and kit.commits == []


async def test_a_refusal_without_its_builder_is_a_programming_error() -> None:
    kit, pds = MemoryKit(), MemoryAggregates("pds")
    pds.seed(PDS, {"ouvertes": 1})
    with pytest.raises(TypeError):
        await decide(kit, kit.context(qualifiee()), pds, PDS, ouvrir)


async def test_side_writes_run_around_the_commit_with_the_new_state() -> None:
    kit, pds, q = MemoryKit(), MemoryAggregates("pds"), qualifiee()
    seen: list[tuple[str, str, dict[str, Any], int]] = []

    async def avant(aggregate_id: str, state: dict[str, Any]) -> None:
        seen.append(("avant", aggregate_id, state, len(kit.commits)))

    async def apres(aggregate_id: str, state: dict[str, Any]) -> None:
        seen.append(("apres", aggregate_id, state, len(kit.commits)))

    await decide(kit, kit.context(q), pds, PDS, ouvrir, before_commit=avant, after_commit=apres)
    assert seen == [("avant", PDS, {"ouvertes": 1}, 0), ("apres", PDS, {"ouvertes": 1}, 1)]


async def test_a_refusal_record_is_written_and_published_once_per_demand() -> None:
    kit, refus = MemoryKit(), MemoryAggregates("refus")
    q = qualifiee()
    evt = refusal_of(q, Etape.AFFAIRES)(Refus(CodeRefus.ERREUR_TECHNIQUE, "Erreur technique."))
    ctx = kit.context(q)
    assert await refuse_once(kit, ctx, refus, str(q.demande_message_id), evt, erreur="boom") is True
    assert refus.state(str(q.demande_message_id)) == {
        "code": "ERREUR_TECHNIQUE",
        "message": "Erreur technique.",
        "pds": PDS,
        "demande_type": "DemandeDiverse",
        "erreur": "boom",
    }
    assert await refuse_once(kit, kit.redelivery(ctx), refus, str(q.demande_message_id), evt) is False
    assert await refuse_once(kit, kit.context(q), refus, str(q.demande_message_id), evt) is False  # another copy of the demand
    assert len(kit.published) == 1


def test_the_decision_types_domain_modules_import_pull_in_no_io_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, platform_kit.decision; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'pymongo', 'faststream', 'aiokafka', 'fastapi', 'aiosmtplib'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
