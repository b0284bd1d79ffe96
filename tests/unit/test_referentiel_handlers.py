"""The référentiel's handlers on the in-memory port: every branch of a demand's access check, the contract and
intervention events, the failure and invalid-message hooks; redelivery changes nothing, a concurrent write is decided again."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts import demandes as d
from contracts.base import WireModel
from contracts.common import EtatContrat, ModeIntervention, MotifReleve, NiveauAcces, StatutIntervention
from contracts.envelope import new_envelope
from contracts.evenements import (
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeQualifieeV1,
    DemandeRefuseeV1,
    FluxR15V1,
    InterventionStatutChangeV1,
    ReleveEnregistreeV1,
)
from contracts.refus import REFUS_ERREUR_TECHNIQUE, CodeRefus
from demo_data.generator import generate
from platform_kit.messaging import HandlerContext
from platform_kit.store import Delivery
from platform_kit.testing import MemoryAggregates, MemoryKit
from services.referentiel.domain.commun import State
from services.referentiel.handlers import TAILLE_MAX_DEMANDE, Handlers
from services.referentiel.seed import document_pds
from tests.builders import changement_fournisseur, releve

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
PDS = generate(2)  # en service, holder VOLTA
REF = PDS.reference
HOLDER = str(PDS.titulaire)
AUTRE = next(f for f in ("ELEC_AZUR", "VOLTA", "LUMEN", "WATTPLUS") if f not in (HOLDER, PDS.titulaire_precedent))
ADRESSE_GRD = "acheminement@grd.example"


class Journal:
    """The audit journal's `record`, kept in a list: an entry whose `cle` was recorded already is not added again."""

    def __init__(self) -> None:
        self.entrees: list[dict[str, Any]] = []

    async def record(self, **entree: Any) -> int:
        if entree.get("cle") is None or all(e.get("cle") != entree["cle"] for e in self.entrees):
            self.entrees.append(entree)
        return len(self.entrees)


@dataclasses.dataclass
class Monde:
    """One référentiel on the in-memory port: the kit, its two stores, the audit and the address index it wrote."""

    kit: MemoryKit
    pds: MemoryAggregates
    demandes: MemoryAggregates
    journal: Journal
    indexes: list[State]
    handlers: Handlers

    def record(self, ctx: HandlerContext) -> dict[str, Any] | None:
        """The demand's own record (decision, code...), None when it has none."""
        return self.demandes.state(str(ctx.envelope.message_id))

    def codes(self) -> list[str]:
        """The codes of the refusals published so far."""
        return [r.code for r in self.kit.payloads(DemandeRefuseeV1)]


@pytest.fixture
def monde() -> Monde:
    kit, pds, demandes = MemoryKit(now=NOW, service="referentiel"), MemoryAggregates("pds"), MemoryAggregates("demandes")
    journal, indexes = Journal(), []
    pds.seed(REF, document_pds(PDS, 12))

    async def indexer(state: State) -> None:
        indexes.append(state)

    handlers = Handlers(kit, pds, demandes, journal, indexer, adresse_grd=ADRESSE_GRD, mois_consommations=12)
    return Monde(kit, pds, demandes, journal, indexes, handlers)


def diverse(pds: str = REF) -> d.DemandeDiverseV1:
    return d.DemandeDiverseV1(pds=pds, sous_type="info", observations="obs", date_souhaitee=date(2026, 12, 1))


def cf(signature: date = date(2026, 10, 1)) -> d.DemandeChangementFournisseurV1:
    return changement_fournisseur(REF, date(2026, 12, 1), contrat_conclu={"reference": "SC-1", "date_signature": signature})


async def test_a_demand_that_leaves_the_pds_unchanged_is_qualified_from_its_record_once(monde: Monde) -> None:
    ctx = monde.kit.context(diverse(), fournisseur=HOLDER)
    await monde.kit.deliver(monde.handlers.demande, ctx)
    await monde.kit.deliver(monde.handlers.demande, monde.kit.redelivery(ctx))
    [q] = monde.kit.payloads(DemandeQualifieeV1)
    assert (q.demande_message_id, q.niveau_acces, q.contexte.pds) == (ctx.envelope.message_id, NiveauAcces.TITULAIRE, REF)
    assert monde.pds.version(REF) == 1  # as seeded: the PDS is not rewritten
    assert (monde.record(ctx) or {})["decision"] == "qualifiee"
    assert [e["resultat"] for e in monde.journal.entrees] == ["qualifiee"]


async def test_a_cf_records_its_contrat_conclu_on_the_pds_then_its_record(monde: Monde) -> None:
    ctx = monde.kit.context(cf(), fournisseur=AUTRE)
    await monde.kit.deliver(monde.handlers.demande, ctx)
    await monde.kit.deliver(monde.handlers.demande, monde.kit.redelivery(ctx))
    [q] = monde.kit.payloads(DemandeQualifieeV1)
    assert q.niveau_acces == NiveauAcces.CONTRAT_CONCLU
    assert NiveauAcces.CONTRAT_CONCLU.value in (monde.pds.state(REF) or {})["declarations"][AUTRE]
    assert monde.pds.version(REF) == 2
    assert (monde.record(ctx) or {})["decision"] == "qualifiee"
    assert monde.kit.commits == [("pds", REF, str(ctx.envelope.message_id)), ("demandes", str(ctx.envelope.message_id), str(ctx.envelope.message_id))]


async def test_a_copy_sent_again_after_its_pds_forgot_it_does_not_change_the_pds_again(monde: Monde) -> None:
    ctx = monde.kit.context(cf(), fournisseur=AUTRE)
    await monde.kit.deliver(monde.handlers.demande, ctx)
    # The PDS's applied marks no longer hold the demand (another writer since): its record still does.
    monde.pds.write_behind(REF, {**(monde.pds.state(REF) or {}), "coupe_pour_non_paiement": False})
    await monde.kit.deliver(monde.handlers.demande, monde.kit.context_of(ctx.envelope))
    assert len(monde.kit.payloads(DemandeQualifieeV1)) == 1
    assert monde.pds.version(REF) == 3


async def test_a_concurrent_write_on_the_pds_is_decided_again_on_the_new_state(monde: Monde) -> None:
    ailleurs = {**(monde.pds.state(REF) or {}), "coupe_pour_non_paiement": True}
    monde.pds.interleave(REF, ailleurs)
    ctx = monde.kit.context(cf(), fournisseur=AUTRE)
    conflits = await monde.kit.deliver(monde.handlers.demande, ctx)
    assert conflits == 1
    etat = monde.pds.state(REF) or {}
    assert etat["coupe_pour_non_paiement"] is True and AUTRE in etat["declarations"]  # both writes kept
    assert len(monde.kit.payloads(DemandeQualifieeV1)) == 1


def _refusee(monde: Monde, cas: str) -> HandlerContext:
    kit = monde.kit
    if cas == "FOURNISSEUR_ABSENT":
        return kit.context(diverse(), fournisseur=None)
    if cas == "CLE_INCOHERENTE":
        return kit.context(diverse(), key="30000000000099EC1", fournisseur=HOLDER)
    if cas == "MESSAGE_TROP_VOLUMINEUX":
        env = new_envelope(diverse(), key=REF, fournisseur=HOLDER, occurred_at=NOW)
        delivery = Delivery("referentiel.demandes", "grd.demandes.v1", 0, 7, str(env.message_id), size=TAILLE_MAX_DEMANDE + 1)
        return kit.context_of(env, delivery=delivery)
    if cas == "HORODATAGE_FUTUR":
        return kit.context_of(new_envelope(diverse(), key=REF, fournisseur=HOLDER, occurred_at=NOW + timedelta(hours=1)))
    if cas == "PDS_INCONNU":
        return kit.context(diverse("30000000000099EC1"), fournisseur=HOLDER)
    if cas == "NIVEAU_ACCES_INSUFFISANT":
        return kit.context(diverse(), fournisseur=AUTRE)
    if cas == "DATE_SIGNATURE_FUTURE":
        return kit.context(cf(signature=date(2026, 11, 2)), fournisseur=AUTRE)
    if cas == "DECLARATION_INCOMPLETE":
        return kit.context(d.DeclarationAccesV1(pds=REF, niveau=NiveauAcces.MANDAT), fournisseur=AUTRE)
    raise AssertionError(cas)


@pytest.mark.parametrize(
    "code",
    [
        CodeRefus.FOURNISSEUR_ABSENT,
        CodeRefus.CLE_INCOHERENTE,
        CodeRefus.MESSAGE_TROP_VOLUMINEUX,
        CodeRefus.HORODATAGE_FUTUR,
        CodeRefus.PDS_INCONNU,
        CodeRefus.NIVEAU_ACCES_INSUFFISANT,
        CodeRefus.DATE_SIGNATURE_FUTURE,
        CodeRefus.DECLARATION_INCOMPLETE,
    ],
)
async def test_each_refusal_is_recorded_and_published_once_keyed_by_the_pds(monde: Monde, code: CodeRefus) -> None:
    ctx = _refusee(monde, code.value)
    await monde.kit.deliver(monde.handlers.demande, ctx)
    await monde.kit.deliver(monde.handlers.demande, monde.kit.redelivery(ctx))
    [env] = monde.kit.events(DemandeRefuseeV1)
    refus = DemandeRefuseeV1.model_validate(env.payload)
    assert (refus.code, refus.etape, refus.demande_message_id) == (code.value, "referentiel", ctx.envelope.message_id)
    assert refus.message and env.key == refus.pds
    assert (monde.record(ctx) or {})["decision"] == "refusee" and (monde.record(ctx) or {})["code"] == code.value
    assert monde.pds.version(REF) == 1 and not monde.kit.payloads(DemandeQualifieeV1)
    assert [e["resultat"] for e in monde.journal.entrees] == [f"refusee:{code.value}"]


async def test_a_declaration_is_recorded_and_accepted(monde: Monde) -> None:
    decl = d.DeclarationAccesV1(pds=REF, niveau=NiveauAcces.MANDAT, date_signature_mandat=date(2026, 10, 15))
    ctx = monde.kit.context(decl, fournisseur=AUTRE)
    await monde.kit.deliver(monde.handlers.demande, ctx)
    await monde.kit.deliver(monde.handlers.demande, monde.kit.redelivery(ctx))
    [accepte] = monde.kit.payloads(DemandeAccepteeV1)
    assert accepte.pds == REF and "mandat" in accepte.message
    assert (monde.pds.state(REF) or {})["declarations"][AUTRE]["mandat"]["date_signature"] == "2026-10-15"
    assert (monde.record(ctx) or {})["decision"] == "acceptee"


async def test_a_demand_without_pds_is_refused_with_the_grd_address(monde: Monde) -> None:
    sans_pds = d.DemandeSansPdsV1(nature="chantier", adresse="1 rue du Chantier 75001 Paris")
    ctx = monde.kit.context(sans_pds, key="chantier", fournisseur=HOLDER)
    await monde.kit.deliver(monde.handlers.demande_sans_pds, ctx)
    await monde.kit.deliver(monde.handlers.demande_sans_pds, monde.kit.redelivery(ctx))
    [refus] = monde.kit.payloads(DemandeRefuseeV1)
    assert refus.code == CodeRefus.DEMANDE_SANS_PDS and ADRESSE_GRD in refus.message and refus.pds is None


async def test_a_demand_given_up_gets_erreur_technique_once_and_untraced(monde: Monde) -> None:
    ctx = monde.kit.context(diverse(), fournisseur=HOLDER)
    await monde.handlers.on_failure(ctx, "boom")
    await monde.handlers.on_failure(monde.kit.redelivery(ctx), "boom")
    [refus] = monde.kit.payloads(DemandeRefuseeV1)
    assert (refus.code, refus.message, refus.pds) == (REFUS_ERREUR_TECHNIQUE.code, REFUS_ERREUR_TECHNIQUE.message, REF)
    assert monde.journal.entrees == []


async def test_a_demand_given_up_after_its_pds_write_is_recorded_as_applied_not_refused(monde: Monde) -> None:
    ctx = monde.kit.context(cf(), fournisseur=AUTRE)
    loaded = await ctx.load(monde.pds, REF)
    await monde.kit.commit(monde.pds, loaded, loaded.state, ctx, [])  # the PDS write of a delivery that then failed
    await monde.handlers.on_failure(ctx, "boom")
    assert monde.codes() == [] and (monde.record(ctx) or {})["decision"] == "appliquee"


async def test_a_redelivery_after_the_pds_write_only_records_the_demand(monde: Monde) -> None:
    ctx = monde.kit.context(cf(), fournisseur=AUTRE)
    loaded = await ctx.load(monde.pds, REF)
    await monde.kit.commit(monde.pds, loaded, loaded.state, ctx, [])
    await monde.kit.deliver(monde.handlers.demande, monde.kit.redelivery(ctx))
    assert monde.kit.published == [] and (monde.record(ctx) or {})["decision"] == "appliquee"


async def test_an_invalid_demand_is_refused_message_invalide_with_its_readable_pds(monde: Monde) -> None:
    env = new_envelope(diverse(), key=REF, fournisseur=HOLDER).model_copy(update={"payload": {"pds": REF, "sous_type": 3}})
    assert await monde.handlers.on_invalid(env, "sous_type: chaîne attendue") == []
    [refus] = monde.kit.payloads(DemandeRefuseeV1)
    assert refus.code == CodeRefus.MESSAGE_INVALIDE and refus.pds == REF and "sous_type" in refus.message


def _contrat(etat: EtatContrat, **kw: Any) -> ContratEtatChangeV1:
    return ContratEtatChangeV1(contrat_id="C-NEW", pds=REF, titulaire=AUTRE, etat=etat, **kw)


async def _livrer(monde: Monde, evt: WireModel, handler: Any) -> HandlerContext:
    ctx = monde.kit.context(evt, fournisseur=None)
    await monde.kit.deliver(handler, ctx)
    await monde.kit.deliver(handler, monde.kit.redelivery(ctx))
    return ctx


async def test_a_cf_in_service_moves_the_holder_indexes_the_pds_and_announces_the_reading(monde: Monde) -> None:
    evt = _contrat(EtatContrat.EN_SERVICE, date_effet=date(2026, 11, 1), releve=releve(date(2026, 11, 1), 99_000))
    await _livrer(monde, evt, monde.handlers.contrat_change)
    etat = monde.pds.state(REF) or {}
    assert [t["fournisseur"] for t in etat["titulaires"] if t["fin"] is None] == [AUTRE]
    assert [s["reference"] for s in monde.indexes] == [REF] and monde.indexes[0] == etat
    [enregistree] = monde.kit.payloads(ReleveEnregistreeV1)
    [r15] = monde.kit.payloads(FluxR15V1)
    assert enregistree.motif == r15.motif == MotifReleve.CHANGEMENT_FOURNISSEUR
    assert [e.fournisseur for e in monde.kit.events()] == [AUTRE, AUTRE]


async def test_a_contract_change_on_an_unknown_pds_is_ignored(monde: Monde) -> None:
    evt = _contrat(EtatContrat.EN_SERVICE).model_copy(update={"pds": "30000000000099EC1"})
    await _livrer(monde, evt, monde.handlers.contrat_change)
    assert monde.kit.commits == [] and monde.indexes == []


async def test_a_realised_intervention_records_its_reading_for_the_holder_at_that_date(monde: Monde) -> None:
    mesure = releve(date(2026, 10, 30), 98_000)
    evt = InterventionStatutChangeV1(
        reference_affaire="A1", pds=REF, statut=StatutIntervention.REALISEE, mode=ModeIntervention.CRENEAU, releve=mesure
    )
    await _livrer(monde, evt, monde.handlers.intervention)
    assert any(r["motif"] == "intervention" and r["titulaire"] == HOLDER for r in (monde.pds.state(REF) or {})["releves"])
    [enregistree] = monde.kit.payloads(ReleveEnregistreeV1)
    assert (enregistree.motif, enregistree.titulaire) == (MotifReleve.INTERVENTION, HOLDER)
    # The same reading reported by another message: recorded already, nothing announced again.
    await monde.kit.deliver(monde.handlers.intervention, monde.kit.context(evt, fournisseur=None))
    assert len(monde.kit.payloads(ReleveEnregistreeV1)) == 1


async def test_an_intervention_not_realised_or_without_reading_changes_nothing(monde: Monde) -> None:
    for evt in (
        InterventionStatutChangeV1(reference_affaire="A1", pds=REF, statut=StatutIntervention.PLANIFIEE, mode=ModeIntervention.CRENEAU),
        InterventionStatutChangeV1(reference_affaire="A1", pds=REF, statut=StatutIntervention.REALISEE, mode=ModeIntervention.CRENEAU),
    ):
        await _livrer(monde, evt, monde.handlers.intervention)
    assert monde.kit.commits == []
