"""Pure rules of the contract processes: every refusal code, the next-step logic, completion and cancellation."""

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from contracts.common import (
    ChoixReleve,
    Contact,
    EtatContrat,
    IndexCadran,
    ModeIntervention,
    NatureReleve,
    NiveauAcces,
    OperationTechnique,
    Releve,
    Segment,
    TypeAffaire,
)
from contracts.evenements import (
    ContextePds,
    ContratEtatChangeV1,
    DemandeQualifieeV1,
    FluxC15V1,
    OuvertureAffaireDemandeeV1,
)
from contracts.references import reference_affaire
from demo_data.reference import FOURNISSEURS, tous_les_re
from services.contrats.domain import (
    Contrat,
    Decision,
    EtatPds,
    Refus,
    Regles,
    annuler,
    besoin_intervention,
    decider_demande,
    echeance_due,
    etat_initial,
    realiser,
    solder,
    verifier_date_effet,
)
from tests.builders import DEMANDEUR, contexte_pds

TODAY = date(2026, 11, 30)
PDS = "30000000000042EC1"
REGLES = Regles(
    horizon_jours=365,
    durees_minutes={"mise_en_service": 60, "changement_fournisseur": 30, "modification": 45, "cessation": 30},
    res_connus=tous_les_re(),
    re_par_defaut={f.code: (f.re_c1, f.re_c2) for f in FOURNISSEURS},
)
OCCUPANT = Contact(nom="MARTIN", prenom="Léa", telephone="0600000001")


def contexte(
    segment: Segment = Segment.C5,
    etat: str = "en_service",
    amm: bool = False,
    teleoperable: bool = True,
    localisation: str = "interieur",
    mode_releve: str = "sur_site",
) -> ContextePds:
    """The PDS's snapshot: held by VOLTA with its occupant when in service, a classic indoor meter by default."""
    en_service = etat == "en_service"
    return contexte_pds(
        PDS,
        titulaire="VOLTA" if en_service else None,
        segment=segment,
        etat=etat,
        amm=amm,
        localisation=localisation,
        mode_releve=mode_releve,
        teleoperable=teleoperable,
        occupant=OCCUPANT if en_service else None,
    )


def etat_pds(segment: Segment = Segment.C5, titulaire: str | None = "VOLTA", puissance: float = 9.0) -> EtatPds:
    contrats = []
    if titulaire:
        re_code = f"RE_{titulaire}_{'C2' if segment == Segment.C5 else 'C1'}"
        contrats.append(
            Contrat(
                id=f"CT-{PDS}-1",
                titulaire=titulaire,
                etat=EtatContrat.EN_SERVICE,
                service="BASE",
                puissance_souscrite_kva=puissance,
                usage="residentiel",
                re_code=re_code,
                occupant=OCCUPANT,
                date_debut=date(2025, 1, 1),
            )
        )
    releve = Releve(date_releve=date(2026, 10, 1), index=(IndexCadran(cadran="BASE", valeur=1000),), nature=NatureReleve.REELLE)
    return EtatPds(pds=PDS, segment=segment, contrats=contrats, derniere_releve=releve)


def qualifiee(demande_type: str, demande: dict[str, Any], ctx: ContextePds | None = None, niveau: str = "contrat_conclu") -> DemandeQualifieeV1:
    return DemandeQualifieeV1(
        demande_message_id=uuid.uuid4(),
        demande_type=demande_type,
        demande={"pds": PDS, **demande},
        niveau_acces=NiveauAcces(niveau),
        contexte=ctx or contexte(),
    )


def cf(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "date_effet_souhaitee": (TODAY + timedelta(days=7)).isoformat(),
        "choix_releve": "estimation",
        "contrat_conclu": {"reference": "CC-1", "date_signature": "2026-11-20"},
        "telephones": ["0611223344"],
        "demandeur": DEMANDEUR,
    }
    return {**base, **kw}


def mes(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "date_effet_souhaitee": (TODAY + timedelta(days=10)).isoformat(),
        "choix_releve": "estimation",
        "contrat_conclu": {"reference": "CC-2", "date_signature": "2026-11-20"},
        "occupant": {"nom": "DURAND", "prenom": "Paul", "telephone": "0699887766"},
        "service": "BASE",
        "puissance_souscrite_kva": 6.0,
        "re_code": "RE_LUMEN_C2",
        "demandeur": DEMANDEUR,
    }
    return {**base, **kw}


def modif(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "date_effet_souhaitee": (TODAY + timedelta(days=10)).isoformat(),
        "choix_releve": "estimation",
        "puissance_souscrite_kva": 12.0,
        "demandeur": DEMANDEUR,
    }
    return {**base, **kw}


def cessation(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "date_effet_souhaitee": (TODAY + timedelta(days=5)).isoformat(),
        "choix_releve": "estimation",
        "motif": "déménagement",
        "demandeur": DEMANDEUR,
    }
    return {**base, **kw}


def decide(etat: EtatPds, q: DemandeQualifieeV1, fournisseur: str) -> Decision | Refus | None:
    return decider_demande(etat, q, fournisseur, TODAY, REGLES)


def accepted(result: Decision | Refus | None) -> Decision:
    assert isinstance(result, Decision), result
    return result


def of_type(decision: Decision, model: type[Any]) -> list[Any]:
    return [p for p, _f in decision.effets if isinstance(p, model)]


AUTORELEVE = {
    "choix_releve": "autoreleve",
    "index_autoreleve": [{"cadran": "BASE", "valeur": 1200}],
    "date_autoreleve": "2026-11-29",
}
BT_PLUS = {"version": "CU4", "type_tension": "BT", "type_redevance_comptage": "location"}

REFUS = [
    ("cf mandat", etat_pds(), "DemandeChangementFournisseur", cf(), "LUMEN", "mandat", None, "NIVEAU_ACCES_INSUFFISANT"),
    (
        "cf occupant change",
        etat_pds(),
        "DemandeChangementFournisseur",
        cf(changement_occupant=True),
        "LUMEN",
        "contrat_conclu",
        None,
        "CF_CHANGEMENT_OCCUPANT",
    ),
    ("cf deja titulaire", etat_pds(), "DemandeChangementFournisseur", cf(), "VOLTA", "contrat_conclu", None, "CF_DEJA_TITULAIRE"),
    (
        "cf sans contrat",
        etat_pds(titulaire=None),
        "DemandeChangementFournisseur",
        cf(),
        "LUMEN",
        "contrat_conclu",
        None,
        "CF_PDS_SANS_CONTRAT",
    ),
    (
        "cf puissance",
        etat_pds(),
        "DemandeChangementFournisseur",
        cf(puissance_souscrite_kva=12.0),
        "LUMEN",
        "contrat_conclu",
        None,
        "CF_NON_ISO",
    ),
    ("cf service", etat_pds(), "DemandeChangementFournisseur", cf(service="HPHC"), "LUMEN", "contrat_conclu", None, "CF_NON_ISO"),
    (
        "cf re inconnu",
        etat_pds(),
        "DemandeChangementFournisseur",
        cf(re_code="RE_XX_C2"),
        "LUMEN",
        "contrat_conclu",
        None,
        "RE_INCONNU",
    ),
    (
        "cf re segment",
        etat_pds(),
        "DemandeChangementFournisseur",
        cf(re_code="RE_LUMEN_C1"),
        "LUMEN",
        "contrat_conclu",
        None,
        "RE_SEGMENT_INCOMPATIBLE",
    ),
    (
        "cf passee",
        etat_pds(),
        "DemandeChangementFournisseur",
        cf(date_effet_souhaitee="2026-11-29"),
        "LUMEN",
        "contrat_conclu",
        None,
        "DATE_EFFET_PASSEE",
    ),
    (
        "cf autoreleve c4",
        etat_pds(Segment.C4, puissance=60),
        "DemandeChangementFournisseur",
        cf(**AUTORELEVE, parametres_bt_plus=BT_PLUS, re_code="RE_LUMEN_C1"),
        "LUMEN",
        "contrat_conclu",
        contexte(Segment.C4),
        "AUTORELEVE_HORS_C5",
    ),
    (
        "cf autoreleve sans index",
        etat_pds(),
        "DemandeChangementFournisseur",
        cf(choix_releve="autoreleve"),
        "LUMEN",
        "contrat_conclu",
        None,
        "AUTORELEVE_INDEX_MANQUANT",
    ),
    ("mes aucun", etat_pds(titulaire=None), "DemandeMiseEnService", mes(), "LUMEN", "aucun", None, "NIVEAU_ACCES_INSUFFISANT"),
    (
        "mes c4 sans bt+",
        etat_pds(Segment.C4, titulaire=None),
        "DemandeMiseEnService",
        mes(re_code="RE_LUMEN_C1", puissance_souscrite_kva=60),
        "LUMEN",
        "contrat_conclu",
        contexte(Segment.C4, etat="resilie"),
        "PARAMETRES_BT_PLUS_MANQUANTS",
    ),
    (
        "mes c2 sans bt+",
        etat_pds(Segment.C2, titulaire=None),
        "DemandeMiseEnService",
        mes(re_code="RE_LUMEN_C1", puissance_souscrite_kva=250),
        "LUMEN",
        "contrat_conclu",
        contexte(Segment.C2, etat="resilie"),
        "PARAMETRES_BT_PLUS_MANQUANTS",
    ),
    (
        "mes c5 > 36",
        etat_pds(titulaire=None),
        "DemandeMiseEnService",
        mes(puissance_souscrite_kva=42),
        "LUMEN",
        "contrat_conclu",
        None,
        "PUISSANCE_HORS_SEGMENT",
    ),
    (
        "mes re segment",
        etat_pds(titulaire=None),
        "DemandeMiseEnService",
        mes(re_code="RE_LUMEN_C1"),
        "LUMEN",
        "contrat_conclu",
        None,
        "RE_SEGMENT_INCOMPATIBLE",
    ),
    (
        "mes trop loin",
        etat_pds(titulaire=None),
        "DemandeMiseEnService",
        mes(date_effet_souhaitee="2027-12-31"),
        "LUMEN",
        "contrat_conclu",
        None,
        "DATE_EFFET_TROP_LOINTAINE",
    ),
    (
        "mes schema",
        etat_pds(titulaire=None),
        "DemandeMiseEnService",
        mes(occupant=None),
        "LUMEN",
        "contrat_conclu",
        None,
        "MESSAGE_INVALIDE",
    ),
    (
        "re non titulaire",
        etat_pds(),
        "DemandeModificationRE",
        {"re_code": "RE_LUMEN_C2"},
        "LUMEN",
        "titulaire",
        None,
        "NON_TITULAIRE",
    ),
    ("re inconnu", etat_pds(), "DemandeModificationRE", {"re_code": "RE_INVENTE_C2"}, "VOLTA", "titulaire", None, "RE_INCONNU"),
    (
        "re segment c5",
        etat_pds(),
        "DemandeModificationRE",
        {"re_code": "RE_NORDEQUILIBRE_C1"},
        "VOLTA",
        "titulaire",
        None,
        "RE_SEGMENT_INCOMPATIBLE",
    ),
    (
        "re segment c4",
        etat_pds(Segment.C4, puissance=60),
        "DemandeModificationRE",
        {"re_code": "RE_SUDBALANCE_C2"},
        "VOLTA",
        "titulaire",
        contexte(Segment.C4),
        "RE_SEGMENT_INCOMPATIBLE",
    ),
    (
        "re identique",
        etat_pds(),
        "DemandeModificationRE",
        {"re_code": "RE_VOLTA_C2"},
        "VOLTA",
        "titulaire",
        None,
        "MODIFICATION_VIDE",
    ),
    ("modif non titulaire", etat_pds(), "DemandeModificationContrat", modif(), "LUMEN", "titulaire", None, "NON_TITULAIRE"),
    (
        "modif vide",
        etat_pds(),
        "DemandeModificationContrat",
        modif(puissance_souscrite_kva=9.0, service="BASE"),
        "VOLTA",
        "titulaire",
        None,
        "MODIFICATION_VIDE",
    ),
    (
        "modif > 36 en c5",
        etat_pds(),
        "DemandeModificationContrat",
        modif(puissance_souscrite_kva=48.0),
        "VOLTA",
        "titulaire",
        None,
        "PUISSANCE_HORS_SEGMENT",
    ),
    (
        "modif passee",
        etat_pds(),
        "DemandeModificationContrat",
        modif(date_effet_souhaitee="2026-01-01"),
        "VOLTA",
        "titulaire",
        None,
        "DATE_EFFET_PASSEE",
    ),
    (
        "modif autoreleve sans index",
        etat_pds(),
        "DemandeModificationContrat",
        modif(choix_releve="autoreleve"),
        "VOLTA",
        "titulaire",
        None,
        "AUTORELEVE_INDEX_MANQUANT",
    ),
    (
        "modif sans date",
        etat_pds(),
        "DemandeModificationContrat",
        {"choix_releve": "estimation", "usage": "professionnel"},
        "VOLTA",
        "titulaire",
        None,
        "MESSAGE_INVALIDE",
    ),
    ("cessation non titulaire", etat_pds(), "DemandeCessation", cessation(), "LUMEN", "titulaire", None, "NON_TITULAIRE"),
    (
        "cessation trop loin",
        etat_pds(),
        "DemandeCessation",
        cessation(date_effet_souhaitee="2028-01-01"),
        "VOLTA",
        "titulaire",
        None,
        "DATE_EFFET_TROP_LOINTAINE",
    ),
    (
        "cessation sans motif",
        etat_pds(),
        "DemandeCessation",
        cessation(motif=None),
        "VOLTA",
        "titulaire",
        None,
        "MESSAGE_INVALIDE",
    ),
    (
        "cessation autoreleve c2",
        etat_pds(Segment.C2, puissance=250),
        "DemandeCessation",
        cessation(**AUTORELEVE),
        "VOLTA",
        "titulaire",
        contexte(Segment.C2),
        "AUTORELEVE_HORS_C5",
    ),
]


@pytest.mark.parametrize(
    ("etat", "demande_type", "demande", "fournisseur", "niveau", "ctx", "code"),
    [r[1:] for r in REFUS],
    ids=[r[0] for r in REFUS],
)
def test_demand_refused_with_code(
    etat: EtatPds, demande_type: str, demande: dict[str, Any], fournisseur: str, niveau: str, ctx: ContextePds | None, code: str
) -> None:
    result = decide(etat, qualifiee(demande_type, demande, ctx, niveau), fournisseur)
    assert isinstance(result, Refus), result
    assert result.code == code
    assert result.message and result.message[0].isupper()


def test_other_demand_types_are_ignored() -> None:
    assert decide(etat_pds(), qualifiee("DemandeReclamation", {}), "VOLTA") is None


def test_cf_accepted_creates_subscription_and_opens_affaire() -> None:
    q = qualifiee("DemandeChangementFournisseur", cf(service="BASE", puissance_souscrite_kva=9.0, express=True))
    d = accepted(decide(etat_pds(), q, "LUMEN"))
    [evt] = of_type(d, ContratEtatChangeV1)
    [cmd] = of_type(d, OuvertureAffaireDemandeeV1)
    ref = reference_affaire(q.demande_message_id)
    assert evt.etat == EtatContrat.EN_COURS_DE_SOUSCRIPTION and evt.titulaire == "LUMEN"
    assert evt.puissance_souscrite_kva == 9.0 and evt.service == "BASE" and evt.re_code == "RE_LUMEN_C2"
    assert evt.occupant is not None and evt.occupant.telephone == "0611223344"
    assert cmd.reference_affaire == ref and cmd.type_affaire == TypeAffaire.CHANGEMENT_FOURNISSEUR
    assert cmd.express is True and cmd.contrat_id == evt.contrat_id and cmd.intervention is None
    assert d.etat.cf_non_soldees == {ref: "LUMEN"}
    assert d.etat.prochaine_echeance == TODAY + timedelta(days=7)


def test_cf_at_21_days_is_accepted() -> None:
    accepted(decide(etat_pds(), qualifiee("DemandeChangementFournisseur", cf(date_effet_souhaitee="2026-12-21")), "LUMEN"))


def test_second_subscription_refused_while_one_is_pending() -> None:
    first = accepted(decide(etat_pds(), qualifiee("DemandeChangementFournisseur", cf()), "LUMEN"))
    result = decide(first.etat, qualifiee("DemandeChangementFournisseur", cf()), "WATTPLUS")
    assert isinstance(result, Refus) and result.code == "SOUSCRIPTION_EN_COURS"


def test_modification_refused_before_cf_soldee_and_accepted_after() -> None:
    q = qualifiee("DemandeChangementFournisseur", cf())
    ref = reference_affaire(q.demande_message_id)
    d = accepted(decide(etat_pds(), q, "LUMEN"))
    done = realiser(d.etat, ref, TODAY + timedelta(days=7), None)
    assert done is not None
    refused = decide(done.etat, qualifiee("DemandeModificationContrat", modif(), niveau="titulaire"), "LUMEN")
    assert isinstance(refused, Refus) and refused.code == "MODIFICATION_AVANT_SOLDE_CF"
    soldee = solder(done.etat, ref)
    assert soldee is not None
    accepted(decide(soldee.etat, qualifiee("DemandeModificationContrat", modif(), niveau="titulaire"), "LUMEN"))


def test_modification_refused_while_another_change_is_pending() -> None:
    d = accepted(decide(etat_pds(), qualifiee("DemandeCessation", cessation(), niveau="titulaire"), "VOLTA"))
    result = decide(d.etat, qualifiee("DemandeModificationContrat", modif(), niveau="titulaire"), "VOLTA")
    assert isinstance(result, Refus) and result.code == "OPERATION_EN_COURS"


def test_mes_bt_plus_accepted_with_parameters() -> None:
    ctx = contexte(Segment.C4, etat="resilie")
    q = qualifiee("DemandeMiseEnService", mes(re_code="RE_LUMEN_C1", puissance_souscrite_kva=60, parametres_bt_plus=BT_PLUS), ctx)
    d = accepted(decide(etat_pds(Segment.C4, titulaire=None), q, "LUMEN"))
    [cmd] = of_type(d, OuvertureAffaireDemandeeV1)
    assert cmd.intervention is not None and cmd.intervention.mode == ModeIntervention.CRENEAU
    assert cmd.intervention.operation == OperationTechnique.MISE_EN_SERVICE and cmd.intervention.duree_minutes == 60


def test_mes_on_pds_en_service_ends_previous_contract_at_realisation() -> None:
    q = qualifiee("DemandeMiseEnService", mes())
    d = accepted(decide(etat_pds(), q, "LUMEN"))
    ref = reference_affaire(q.demande_message_id)
    done = realiser(d.etat, ref, None, None)
    assert done is not None
    etats = {e.titulaire: e.etat for e in of_type(done, ContratEtatChangeV1)}
    assert etats == {"LUMEN": EtatContrat.EN_SERVICE, "VOLTA": EtatContrat.CESSE}
    assert sorted(f.evenement for f in of_type(done, FluxC15V1)) == ["MES", "RES"]


def test_modification_re_is_immediate_without_intervention() -> None:
    q = qualifiee("DemandeModificationRE", {"re_code": "RE_NORDEQUILIBRE_C2"}, niveau="titulaire")
    d = accepted(decide(etat_pds(), q, "VOLTA"))
    [evt] = of_type(d, ContratEtatChangeV1)
    [cmd] = of_type(d, OuvertureAffaireDemandeeV1)
    assert evt.re_code == "RE_NORDEQUILIBRE_C2" and evt.etat == EtatContrat.EN_SERVICE
    assert cmd.intervention is None and cmd.date_effet == TODAY and cmd.type_affaire == TypeAffaire.MODIFICATION_RE
    assert d.etat.contrats[0].re_code == "RE_NORDEQUILIBRE_C2" and not d.etat.changements


def test_power_increase_needs_intervention_with_increase() -> None:
    q = qualifiee("DemandeModificationContrat", modif(puissance_souscrite_kva=18.0), niveau="titulaire")
    d = accepted(decide(etat_pds(), q, "VOLTA"))
    [cmd] = of_type(d, OuvertureAffaireDemandeeV1)
    assert cmd.intervention is not None
    assert cmd.intervention.mode == ModeIntervention.CRENEAU and cmd.intervention.augmentation_puissance_kva == 9.0
    [evt] = of_type(d, ContratEtatChangeV1)
    assert evt.etat == EtatContrat.EN_COURS_DE_MODIFICATION


def test_modification_applied_with_new_values() -> None:
    q = qualifiee("DemandeModificationContrat", modif(service="HPHC", puissance_souscrite_kva=None), niveau="titulaire")
    d = accepted(decide(etat_pds(), q, "VOLTA"))
    done = realiser(d.etat, reference_affaire(q.demande_message_id), None, None)
    assert done is not None
    [evt] = of_type(done, ContratEtatChangeV1)
    assert evt.etat == EtatContrat.EN_SERVICE and evt.service == "HPHC" and evt.puissance_souscrite_kva == 9.0
    assert not of_type(done, FluxC15V1)


def test_cessation_with_autoreleve_applies_at_date_with_supplier_index() -> None:
    q = qualifiee("DemandeCessation", cessation(**AUTORELEVE), niveau="titulaire")
    d = accepted(decide(etat_pds(), q, "VOLTA"))
    assert echeance_due(d.etat, TODAY) is None
    due = echeance_due(d.etat, TODAY + timedelta(days=5))
    assert due is not None
    done = realiser(d.etat, due.reference_affaire, None, None)
    assert done is not None
    [evt] = of_type(done, ContratEtatChangeV1)
    [flux] = of_type(done, FluxC15V1)
    assert evt.etat == EtatContrat.CESSE and evt.releve is not None and evt.releve.nature == NatureReleve.AUTORELEVE
    assert flux.evenement == "RES" and flux.releve_avant is not None and flux.releve_apres == evt.releve
    assert done.etat.prochaine_echeance is None


def test_cf_realised_gives_new_holder_and_ends_old_one_with_two_flux() -> None:
    amm = cf(modalite_intervention="standard", configuration_demandee="HPHC 22h-6h")
    q = qualifiee("DemandeChangementFournisseur", amm, contexte(amm=True))
    d = accepted(decide(etat_pds(), q, "LUMEN"))
    ref = reference_affaire(q.demande_message_id)
    releve = Releve(date_releve=date(2026, 12, 7), index=(IndexCadran(cadran="BASE", valeur=1500),), nature=NatureReleve.REELLE)
    done = realiser(d.etat, ref, date(2026, 12, 7), releve)
    assert done is not None
    etats = {(e.titulaire, e.etat) for e in of_type(done, ContratEtatChangeV1)}
    assert etats == {("LUMEN", EtatContrat.EN_SERVICE), ("VOLTA", EtatContrat.CESSE)}
    flux = {f.evenement: f for f in of_type(done, FluxC15V1)}
    assert set(flux) == {"CFNE", "CFNS"}
    assert flux["CFNE"].fournisseur == "LUMEN" and flux["CFNS"].fournisseur == "VOLTA"
    assert flux["CFNS"].re_code == "RE_VOLTA_C2" and flux["CFNE"].releve_apres == releve
    assert done.etat.derniere_releve == releve
    assert realiser(done.etat, ref, None, None) is None


def test_cancelled_subscription_is_annulee() -> None:
    q = qualifiee("DemandeChangementFournisseur", cf())
    d = accepted(decide(etat_pds(), q, "LUMEN"))
    ref = reference_affaire(q.demande_message_id)
    cancelled = annuler(d.etat, ref)
    assert cancelled is not None
    [evt] = of_type(cancelled, ContratEtatChangeV1)
    assert evt.etat == EtatContrat.ANNULE and not cancelled.etat.cf_non_soldees and not cancelled.etat.changements
    assert annuler(cancelled.etat, ref) is None


def test_cancelled_cessation_puts_contract_back_in_service() -> None:
    q = qualifiee("DemandeCessation", cessation(), niveau="titulaire")
    d = accepted(decide(etat_pds(), q, "VOLTA"))
    cancelled = annuler(d.etat, reference_affaire(q.demande_message_id))
    assert cancelled is not None
    [evt] = of_type(cancelled, ContratEtatChangeV1)
    assert evt.etat == EtatContrat.EN_SERVICE


def test_initial_state_from_context() -> None:
    etat = etat_initial(contexte())
    assert [c.titulaire for c in etat.contrats] == ["VOLTA"]
    assert etat_initial(contexte(etat="resilie")).contrats == []


NEXT_STEP = [
    # operation, choix, context kwargs, equipment, expected mode
    (OperationTechnique.CHANGEMENT_FOURNISSEUR, ChoixReleve.ESTIMATION, {"amm": True}, False, ModeIntervention.TELEOPERATION),
    (OperationTechnique.CESSATION, ChoixReleve.AUTORELEVE, {"amm": True}, False, ModeIntervention.TELEOPERATION),
    (
        OperationTechnique.MISE_EN_SERVICE,
        ChoixReleve.ESTIMATION,
        {"amm": True, "etat": "resilie"},
        False,
        ModeIntervention.TELEOPERATION,
    ),
    (OperationTechnique.CHANGEMENT_FOURNISSEUR, ChoixReleve.ESTIMATION, {"amm": True, "teleoperable": False}, False, None),
    (OperationTechnique.CHANGEMENT_FOURNISSEUR, ChoixReleve.AUTORELEVE, {}, False, None),
    (OperationTechnique.CHANGEMENT_FOURNISSEUR, ChoixReleve.RELEVE_SPECIALE, {}, False, ModeIntervention.CRENEAU),
    (
        OperationTechnique.CHANGEMENT_FOURNISSEUR,
        ChoixReleve.RELEVE_SPECIALE,
        {"localisation": "exterieur"},
        False,
        ModeIntervention.PRESENCE_NON_OBLIGATOIRE,
    ),
    (
        OperationTechnique.CESSATION,
        ChoixReleve.RELEVE_SPECIALE,
        {"mode_releve": "telereleve"},
        False,
        ModeIntervention.PRESENCE_NON_OBLIGATOIRE,
    ),
    (
        OperationTechnique.MISE_EN_SERVICE,
        ChoixReleve.ESTIMATION,
        {"etat": "resilie", "localisation": "exterieur"},
        False,
        ModeIntervention.CRENEAU,
    ),
    (OperationTechnique.MODIFICATION, ChoixReleve.ESTIMATION, {"amm": True}, False, None),
    (
        OperationTechnique.MODIFICATION,
        ChoixReleve.RELEVE_SPECIALE,
        {"amm": True, "mode_releve": "telereleve"},
        False,
        ModeIntervention.PRESENCE_NON_OBLIGATOIRE,
    ),
    (OperationTechnique.MODIFICATION, ChoixReleve.ESTIMATION, {"localisation": "exterieur"}, True, ModeIntervention.CRENEAU),
]


@pytest.mark.parametrize(("operation", "choix", "ctx", "equipement", "mode"), NEXT_STEP)
def test_next_step(operation: OperationTechnique, choix: ChoixReleve, ctx: dict[str, Any], equipement: bool, mode: ModeIntervention | None) -> None:
    besoin = besoin_intervention(operation, choix, contexte(**ctx), TODAY, REGLES, equipement_change=equipement)
    assert (besoin.mode if besoin else None) == mode


@pytest.mark.parametrize(
    ("date_effet", "cf", "code"),
    [
        (TODAY - timedelta(days=1), False, "DATE_EFFET_PASSEE"),
        (TODAY, False, None),
        (TODAY + timedelta(days=365), False, None),
        (TODAY + timedelta(days=366), False, "DATE_EFFET_TROP_LOINTAINE"),
        (TODAY + timedelta(days=21), True, None),
        # No 21-day cap by default: L224-14 protects the customer, it forbids no later date he asks for.
        (TODAY + timedelta(days=22), True, None),
    ],
)
def test_date_effet_policy(date_effet: date, cf: bool, code: str | None) -> None:
    refus = verifier_date_effet(date_effet, TODAY, REGLES, cf=cf)
    assert (refus.code if refus else None) == code


# --- date d'effet: estimation, realisation parked until its day ------------------------------------------------------


def test_estimated_index_extends_the_daily_use_of_the_last_real_readings() -> None:
    from services.contrats.domain import estimer_index

    def reelle(jour: date, hp: int, hc: int) -> Releve:
        return Releve(date_releve=jour, index=(IndexCadran(cadran="HP", valeur=hp), IndexCadran(cadran="HC", valeur=hc)), nature=NatureReleve.REELLE)

    historique = [reelle(date(2026, 9, 1), 1_000, 500), reelle(date(2026, 10, 1), 1_300, 560)]
    estimee = estimer_index(historique, date(2026, 10, 11))
    assert estimee is not None and estimee.nature == NatureReleve.ESTIMEE and estimee.date_releve == date(2026, 10, 11)
    assert {i.cadran: i.valeur for i in estimee.index} == {"HP": 1_400, "HC": 580}  # 10/day and 2/day over 10 days
    seule = estimer_index(historique[-1:], date(2026, 10, 11))
    assert seule is not None and {i.cadran: i.valeur for i in seule.index} == {"HP": 1_300, "HC": 560}
    assert estimer_index([], date(2026, 10, 11)) is None


def test_a_change_with_estimation_gets_an_estimated_index_at_its_date_in_the_c15() -> None:
    import uuid

    from contracts.common import EtatContrat, OperationTechnique
    from contracts.evenements import FluxC15V1
    from services.contrats.domain import Changement, Contrat, EtatPds, differer, echeance_due, realiser

    base = [
        Releve(date_releve=date(2026, 9, 1), index=(IndexCadran(cadran="BASE", valeur=1_000),), nature=NatureReleve.REELLE),
        Releve(date_releve=date(2026, 10, 1), index=(IndexCadran(cadran="BASE", valeur=1_300),), nature=NatureReleve.REELLE),
    ]
    etat = EtatPds(
        pds="P1",
        contrats=[Contrat(id="CT-1", titulaire="LUMEN", etat=EtatContrat.EN_COURS_DE_CESSATION)],
        changements=[
            Changement(
                reference_affaire="A1",
                operation=OperationTechnique.CESSATION,
                contrat_id="CT-1",
                date_effet=date(2026, 10, 11),
                avec_intervention=False,
                demande_message_id=uuid.uuid4(),
                estimation_base=base,
            )
        ],
        prochaine_echeance=date(2026, 10, 11),
    )
    assert echeance_due(etat, date(2026, 10, 10)) is None, "not before its date"
    decision = realiser(etat, "A1", None, None)
    assert decision is not None
    [c15] = [e for e, _f in decision.effets if isinstance(e, FluxC15V1)]
    assert c15.releve_apres is not None and c15.releve_apres.nature == NatureReleve.ESTIMEE
    assert c15.releve_apres.index[0].valeur == 1_400 and c15.releve_apres.date_releve == date(2026, 10, 11)
    # A realisation reported for a later day waits for it (parked as a dated change), it is not applied now.
    parked = differer(
        etat.model_copy(update={"changements": [etat.changements[0].model_copy(update={"avec_intervention": True})]}), "A1", date(2026, 10, 20), None
    )
    assert parked is not None and parked.effets == [] and parked.etat.prochaine_echeance == date(2026, 10, 20)
    assert echeance_due(parked.etat, date(2026, 10, 19)) is None and echeance_due(parked.etat, date(2026, 10, 20)) is not None


@pytest.mark.parametrize(
    ("nouvelle", "mode"),
    [(6.0, ModeIntervention.TELEOPERATION), (9.0, None)],
    ids=["3-to-6-kVA-breaker-by-TO", "3-to-9-kVA-technical-study"],
)
def test_a_power_change_on_a_communicating_meter_is_a_tele_operation_unless_a_study_is_needed(nouvelle: float, mode: Any) -> None:
    q = qualifiee("DemandeModificationContrat", modif(puissance_souscrite_kva=nouvelle), contexte(amm=True), niveau="titulaire")
    d = accepted(decide(etat_pds(puissance=3.0), q, "VOLTA"))
    [ouverture] = of_type(d, OuvertureAffaireDemandeeV1)
    besoin = ouverture.intervention
    assert besoin is not None
    if mode is ModeIntervention.TELEOPERATION:
        assert besoin.mode == ModeIntervention.TELEOPERATION and besoin.puissance_cible_kva == nouvelle
    else:
        assert besoin.mode != ModeIntervention.TELEOPERATION and besoin.etude_technique_requise
