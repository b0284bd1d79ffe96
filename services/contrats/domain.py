"""Pure decisions of the contract processes (CF, MES, modifications, cessation) and of their completion."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from contracts.base import WireModel
from contracts.common import (
    ChoixReleve,
    Contact,
    ContratConclu,
    EtatContrat,
    IndexCadran,
    ModaliteIntervention,
    ModeIntervention,
    NatureReleve,
    NiveauAcces,
    OperationTechnique,
    ParametresBtPlus,
    Releve,
    Segment,
    TypeAffaire,
)
from contracts.demandes import (
    DemandeCessationV1,
    DemandeChangementFournisseurV1,
    DemandeMiseEnServiceV1,
    DemandeModificationContratV1,
    DemandeModificationREV1,
)
from contracts.evenements import (
    BesoinIntervention,
    ContextePds,
    ContratEtatChangeV1,
    DemandeQualifieeV1,
    FluxC15V1,
    OuvertureAffaireDemandeeV1,
)
from contracts.programmation import etude_technique_requise, mode_rendez_vous, planification_libre_service
from contracts.references import reference_affaire

ACTIFS = (EtatContrat.EN_SERVICE, EtatContrat.EN_COURS_DE_MODIFICATION, EtatContrat.EN_COURS_DE_CESSATION)
SEUIL_BT_KVA = 36.0

#: The demands that carry a relève choice and a date d'effet.
Contractuelle = DemandeChangementFournisseurV1 | DemandeMiseEnServiceV1 | DemandeModificationContratV1 | DemandeCessationV1

#: An event to publish and the supplier it concerns (the envelope's `fournisseur`).
Effet = tuple[WireModel, str | None]


class Contrat(BaseModel):
    """One contrat d'acheminement of a PDS, in any state of its lifecycle."""

    id: str
    titulaire: str
    etat: EtatContrat
    service: str | None = None
    puissance_souscrite_kva: float | None = None
    usage: str | None = None
    re_code: str | None = None
    parametres_bt_plus: ParametresBtPlus | None = None
    occupant: Contact | None = None
    contrat_conclu: ContratConclu | None = None
    date_debut: date | None = None
    date_fin: date | None = None
    references_affaires: list[str] = Field(default_factory=list)


class Changement(BaseModel):
    """A contractual change accepted but not yet effective, waiting for its intervention or its date d'effet."""

    reference_affaire: str
    operation: OperationTechnique
    contrat_id: str
    contrat_precedent_id: str | None = None
    date_effet: date
    avec_intervention: bool
    demande_message_id: uuid.UUID
    releve: Releve | None = None
    service: str | None = None
    puissance_souscrite_kva: float | None = None
    usage: str | None = None
    parametres_bt_plus: ParametresBtPlus | None = None
    #: « Estimation index demandée »: the PDS's latest real readings, to estimate the index at the date d'effet.
    estimation_base: list[Releve] = Field(default_factory=list)


class EtatPds(BaseModel):
    """The aggregate: every contract of one PDS, the pending changes and the CF affaires not yet closed."""

    pds: str
    segment: Segment | None = None
    contrats: list[Contrat] = Field(default_factory=list)
    changements: list[Changement] = Field(default_factory=list)
    cf_non_soldees: dict[str, str] = Field(default_factory=dict)
    derniere_releve: Releve | None = None
    prochaine_echeance: date | None = None


@dataclass(frozen=True)
class Refus:
    """A refused demand: stable code and French message saying what is wrong and what to do."""

    code: str
    message: str


@dataclass(frozen=True)
class Regles:
    """Configurable policy of the processes."""

    horizon_jours: int = 365
    # L224-14 protects the customer (a CF takes effect within 21 days unless he asks for a later date): it is no
    # reason to refuse a later date he asked for, so the cap is off unless configured.
    delai_cf_jours: int | None = None
    durees_minutes: dict[str, int] = field(default_factory=dict)
    res_connus: tuple[str, ...] = ()
    re_par_defaut: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Decision:
    """New state of the aggregate and the events it causes."""

    etat: EtatPds
    effets: list[Effet]


TYPES_TRAITES = (
    "DemandeChangementFournisseur",
    "DemandeMiseEnService",
    "DemandeModificationRE",
    "DemandeModificationContrat",
    "DemandeCessation",
)

_MODELES: dict[str, type[WireModel]] = {
    "DemandeChangementFournisseur": DemandeChangementFournisseurV1,
    "DemandeMiseEnService": DemandeMiseEnServiceV1,
    "DemandeModificationRE": DemandeModificationREV1,
    "DemandeModificationContrat": DemandeModificationContratV1,
    "DemandeCessation": DemandeCessationV1,
}

_NIVEAUX = (NiveauAcces.AUCUN, NiveauAcces.MANDAT, NiveauAcces.CONTRAT_CONCLU, NiveauAcces.TITULAIRE)


def etat_initial(contexte: ContextePds) -> EtatPds:
    """State of a PDS never seen before, rebuilt from the référentiel's snapshot (the holder's contract, details unknown)."""
    etat = EtatPds(pds=contexte.pds, segment=contexte.segment)
    if contexte.titulaire and contexte.etat == "en_service":
        etat.contrats.append(
            Contrat(id=f"CT-{contexte.pds}-1", titulaire=contexte.titulaire, etat=EtatContrat.EN_SERVICE, occupant=contexte.occupant)
        )
    return etat


def contrat_actif(etat: EtatPds) -> Contrat | None:
    """The contract currently in force on the PDS, if any."""
    return next((c for c in etat.contrats if c.etat in ACTIFS), None)


def contrats_visibles(etat: EtatPds, fournisseur: str) -> list[Contrat]:
    """The contracts a supplier may consult: those it holds, held or is subscribing."""
    return [c for c in etat.contrats if c.titulaire == fournisseur]


def decider_demande(etat: EtatPds, qualifiee: DemandeQualifieeV1, fournisseur: str, today: date, regles: Regles) -> Decision | Refus | None:
    """Validate a qualified contract demand entirely and decide it; None when the demand type is not ours."""
    modele = _MODELES.get(qualifiee.demande_type)
    if modele is None:
        return None
    try:
        demande = modele.model_validate(qualifiee.demande)
    except ValidationError as exc:
        champs = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        return Refus("MESSAGE_INVALIDE", f"La demande est incomplète ou invalide ({champs}) : corrigez-la et renvoyez-la.")
    etat = etat.model_copy(deep=True)
    if etat.segment is None:
        etat.segment = qualifiee.contexte.segment
    if isinstance(demande, DemandeChangementFournisseurV1):
        return _changement_fournisseur(etat, demande, qualifiee, fournisseur, today, regles)
    if isinstance(demande, DemandeMiseEnServiceV1):
        return _mise_en_service(etat, demande, qualifiee, fournisseur, today, regles)
    if isinstance(demande, DemandeModificationREV1):
        return _modification_re(etat, demande, qualifiee, fournisseur, today, regles)
    if isinstance(demande, DemandeModificationContratV1):
        return _modification_contrat(etat, demande, qualifiee, fournisseur, today, regles)
    assert isinstance(demande, DemandeCessationV1)
    return _cessation(etat, demande, qualifiee, fournisseur, today, regles)


def verifier_date_effet(date_effet: date, today: date, regles: Regles, *, cf: bool = False) -> Refus | None:
    """Date d'effet policy: not in the past, within the horizon (and, only when configured, a cap for a CF)."""
    if date_effet < today:
        return Refus(
            "DATE_EFFET_PASSEE",
            f"La date d'effet {date_effet:%d/%m/%Y} est passée : indiquez une date à partir d'aujourd'hui ({today:%d/%m/%Y}).",
        )
    if cf and regles.delai_cf_jours is not None and date_effet > today + timedelta(days=regles.delai_cf_jours):
        limite = today + timedelta(days=regles.delai_cf_jours)
        return Refus(
            "DATE_EFFET_CF_HORS_DELAI",
            f"Un changement de fournisseur prend effet sous {regles.delai_cf_jours} jours (Code de la consommation "
            f"L224-14) : indiquez une date d'effet au plus tard le {limite:%d/%m/%Y}.",
        )
    if date_effet > today + timedelta(days=regles.horizon_jours):
        limite = today + timedelta(days=regles.horizon_jours)
        return Refus(
            "DATE_EFFET_TROP_LOINTAINE",
            f"La date d'effet {date_effet:%d/%m/%Y} est trop lointaine : indiquez une date au plus tard le {limite:%d/%m/%Y}.",
        )
    return None


def verifier_re(re_code: str, segment: Segment | None, regles: Regles) -> Refus | None:
    """The RE must be known and its suffix must match the segment (C1 for > 36 kVA, C2 for C5)."""
    if re_code not in regles.res_connus:
        return Refus("RE_INCONNU", f"Le responsable d'équilibre {re_code} est inconnu du GRD : choisissez un RE de la liste.")
    attendu = suffixe_re(segment)
    if not re_code.endswith(attendu):
        return Refus(
            "RE_SEGMENT_INCOMPATIBLE",
            f"Le responsable d'équilibre {re_code} ne correspond pas au segment du PDS ({segment}) : "
            f"choisissez un RE dont le code se termine par « {attendu} ».",
        )
    return None


def suffixe_re(segment: Segment | None) -> str:
    """RE suffix expected for a segment: C2 for C5 customers (≤ 36 kVA), C1 for the others."""
    return "C2" if segment in (Segment.C5, None) else "C1"


def verifier_releve(demande: Contractuelle, segment: Segment | None) -> Refus | None:
    """Autorelève is for C5 only and needs the index and its date."""
    if demande.choix_releve != ChoixReleve.AUTORELEVE:
        return None
    if segment != Segment.C5:
        return Refus(
            "AUTORELEVE_HORS_C5",
            "L'autorelève n'est possible que pour les clients C5 (≤ 36 kVA) : choisissez l'estimation ou une relève spéciale.",
        )
    if not demande.index_autoreleve or demande.date_autoreleve is None:
        return Refus(
            "AUTORELEVE_INDEX_MANQUANT",
            "Pour une autorelève, indiquez l'index relevé chez le client et la date de cette relève.",
        )
    return None


def besoin_intervention(
    operation: OperationTechnique,
    choix: ChoixReleve,
    contexte: ContextePds,
    date_souhaitee: date,
    regles: Regles,
    *,
    equipement_change: bool = False,
    augmentation_kva: float = 0.0,
    puissance_cible_kva: float | None = None,
    etude_technique: bool = False,
    modalite: ModaliteIntervention | None = None,
    configuration: str | None = None,
) -> BesoinIntervention | None:
    """The "next step" logic: which intervention, if any, the change needs on the installation."""
    compteur = contexte.compteur
    duree = regles.durees_minutes.get(operation.value, 30)
    en_service = contexte.etat == "en_service"
    libre_service = planification_libre_service(contexte.segment)
    releve_seule = not (equipement_change or etude_technique or (operation == OperationTechnique.MISE_EN_SERVICE and not en_service))
    rendez_vous = mode_rendez_vous(en_service=en_service, compteur=compteur, releve_seule=releve_seule)
    commun: dict[str, Any] = {
        "operation": operation,
        "date_souhaitee": date_souhaitee,
        "planification_grd": not libre_service,
        "modalite": modalite,
        "configuration": configuration,
    }
    teleoperable = compteur.amm and compteur.teleoperable and libre_service
    # A power change on a communicating meter is a new breaker setting sent by tele-operation (the most common Linky
    # TO), unless it needs a technical study or new equipment on site.
    changement_puissance_a_distance = (
        operation == OperationTechnique.MODIFICATION and puissance_cible_kva is not None and not etude_technique and not equipement_change
    )
    if teleoperable and (
        changement_puissance_a_distance
        or operation in (OperationTechnique.CHANGEMENT_FOURNISSEUR, OperationTechnique.MISE_EN_SERVICE, OperationTechnique.CESSATION)
    ):
        return BesoinIntervention(
            mode=ModeIntervention.TELEOPERATION, duree_minutes=0, mode_repli=rendez_vous, puissance_cible_kva=puissance_cible_kva, **commun
        )
    necessaire = (
        choix == ChoixReleve.RELEVE_SPECIALE
        or (operation == OperationTechnique.MISE_EN_SERVICE and not en_service)
        or equipement_change
        or etude_technique
    )
    if not necessaire:
        return None
    return BesoinIntervention(
        mode=rendez_vous,
        duree_minutes=duree,
        augmentation_puissance_kva=max(0.0, augmentation_kva),
        puissance_cible_kva=puissance_cible_kva,
        etude_technique_requise=etude_technique,
        **commun,
    )


def verifier_demandeur(demandeur: Contact | None) -> Refus | None:
    """The guide's « impératif »: the requester's full contact data, so the GRD's account manager can reach him."""
    if demandeur is None:
        return Refus(
            "DEMANDEUR_MANQUANT",
            "Les coordonnées du demandeur (nom, prénom, téléphone) sont obligatoires : complétez le champ « demandeur » "
            "et renvoyez la demande.",
        )
    return None


def verifier_teleoperation(besoin: BesoinIntervention | None, d: Contractuelle, *, cf: bool) -> Refus | None:
    """On an AMM meter done by tele-operation the supplier chooses « standard ou urgent » (and, for a CF, the configuration)."""
    if besoin is None or besoin.mode != ModeIntervention.TELEOPERATION:
        return None
    if d.modalite_intervention is None:
        return Refus(
            "MODALITE_INTERVENTION_MANQUANTE",
            "Ce compteur communicant est télé-opéré : indiquez la modalité d'intervention « standard » ou « urgent ».",
        )
    if cf and d.configuration_demandee is None:
        return Refus(
            "CONFIGURATION_MANQUANTE",
            "Pour un changement de fournisseur par télé-opération, indiquez la configuration demandée du compteur.",
        )
    return None


def _niveau_insuffisant(niveau: NiveauAcces) -> Refus | None:
    if _NIVEAUX.index(niveau) < _NIVEAUX.index(NiveauAcces.CONTRAT_CONCLU):
        return Refus(
            "NIVEAU_ACCES_INSUFFISANT",
            "La souscription exige le niveau « contrat conclu » : déclarez le contrat signé avec le client (référence et date).",
        )
    return None


def _souscription_en_cours(etat: EtatPds) -> Refus | None:
    if any(c.etat == EtatContrat.EN_COURS_DE_SOUSCRIPTION for c in etat.contrats):
        return Refus(
            "SOUSCRIPTION_EN_COURS",
            "Une souscription est déjà en cours sur ce PDS : attendez son aboutissement ou son annulation avant d'en demander une autre.",
        )
    return None


def _releve_autoreleve(demande: Contractuelle) -> Releve | None:
    if demande.choix_releve != ChoixReleve.AUTORELEVE or not demande.index_autoreleve or demande.date_autoreleve is None:
        return None
    return Releve(date_releve=demande.date_autoreleve, index=demande.index_autoreleve, nature=NatureReleve.AUTORELEVE)


def _premier(*refus: Refus | None) -> Refus | None:
    return next((r for r in refus if r is not None), None)


def _nouvel_id(etat: EtatPds) -> str:
    return f"CT-{etat.pds}-{len(etat.contrats) + 1}"


def _planifier(
    etat: EtatPds,
    q: DemandeQualifieeV1,
    d: Contractuelle,
    type_affaire: TypeAffaire,
    operation: OperationTechnique,
    contrat: Contrat,
    besoin: BesoinIntervention | None,
    resume: str,
    **changement: Any,
) -> Decision:
    """Record a change waiting for its date d'effet (or its intervention), and open its affaire."""
    ref = reference_affaire(q.demande_message_id)
    etat.changements.append(
        Changement(
            reference_affaire=ref,
            operation=operation,
            contrat_id=contrat.id,
            date_effet=d.date_effet_souhaitee,
            avec_intervention=besoin is not None,
            demande_message_id=q.demande_message_id,
            releve=_releve_autoreleve(d),
            estimation_base=list(q.contexte.historique_releves) if d.choix_releve == ChoixReleve.ESTIMATION else [],
            **changement,
        )
    )
    _recalculer_echeance(etat)
    return Decision(
        etat,
        [
            _etat_change(etat, contrat, ref, d.date_effet_souhaitee),
            _ouverture(q, type_affaire, contrat.id, besoin, d.date_effet_souhaitee, resume, d.express, d.demandeur),
        ],
    )


def _etat_change(etat: EtatPds, contrat: Contrat, reference: str | None, date_effet: date | None, releve: Releve | None = None) -> Effet:
    evt = ContratEtatChangeV1(
        contrat_id=contrat.id,
        pds=etat.pds,
        titulaire=contrat.titulaire,
        etat=contrat.etat,
        reference_affaire=reference,
        date_effet=date_effet,
        service=contrat.service,
        puissance_souscrite_kva=contrat.puissance_souscrite_kva,
        re_code=contrat.re_code,
        occupant=contrat.occupant,
        releve=releve,
    )
    return evt, contrat.titulaire


def _ouverture(
    qualifiee: DemandeQualifieeV1,
    type_affaire: TypeAffaire,
    contrat_id: str,
    besoin: BesoinIntervention | None,
    date_effet: date,
    resume: str,
    express: bool,
    demandeur: Contact | None = None,
) -> Effet:
    cmd = OuvertureAffaireDemandeeV1(
        reference_affaire=reference_affaire(qualifiee.demande_message_id),
        type_affaire=type_affaire,
        demande_message_id=qualifiee.demande_message_id,
        pds=qualifiee.contexte.pds,
        contrat_id=contrat_id,
        express=express,
        intervention=besoin,
        date_effet=date_effet,
        resume=resume,
        contexte=qualifiee.contexte,
        demandeur=demandeur,
    )
    return cmd, None


def _changement_fournisseur(
    etat: EtatPds,
    d: DemandeChangementFournisseurV1,
    q: DemandeQualifieeV1,
    fournisseur: str,
    today: date,
    regles: Regles,
) -> Decision | Refus:
    actuel = contrat_actif(etat)
    refus = _premier(
        _niveau_insuffisant(q.niveau_acces),
        Refus(
            "CF_CHANGEMENT_OCCUPANT",
            "L'occupant change : un changement de fournisseur n'est pas possible, faites une demande de mise en service.",
        )
        if d.changement_occupant
        else None,
        Refus(
            "CF_DEJA_TITULAIRE",
            "Vous êtes déjà titulaire du contrat de ce PDS : aucun changement de fournisseur n'est nécessaire.",
        )
        if actuel is not None and actuel.titulaire == fournisseur
        else None,
        Refus(
            "CF_PDS_SANS_CONTRAT",
            "Ce PDS n'a pas de contrat en service : un changement de fournisseur est impossible, faites une mise en service.",
        )
        if actuel is None
        else None,
        _souscription_en_cours(etat),
        verifier_demandeur(d.demandeur),
    )
    if refus:
        return refus
    assert actuel is not None
    non_iso = (d.service is not None and actuel.service is not None and d.service != actuel.service) or (
        d.puissance_souscrite_kva is not None
        and actuel.puissance_souscrite_kva is not None
        and d.puissance_souscrite_kva != actuel.puissance_souscrite_kva
    )
    re_code = d.re_code or _re_defaut(fournisseur, etat.segment, regles)
    refus = _premier(
        Refus(
            "CF_NON_ISO",
            f"Un changement de fournisseur reprend le service ({actuel.service}) et la puissance souscrite "
            f"({actuel.puissance_souscrite_kva} kVA) du contrat en cours : un changement de puissance ou de tarif est une "
            "seconde demande, acceptée une fois l'affaire de changement de fournisseur soldée.",
        )
        if non_iso
        else None,
        _parametres_manquants(etat.segment, d.parametres_bt_plus),
        # « Pour les contrats BT+ et HTA, indiquer en plus … le Responsable d'Equilibre »: no default RE above 36 kVA.
        Refus(
            "RE_MANQUANT",
            "Pour un contrat BT > 36 kVA ou HTA, indiquez le responsable d'équilibre (code se terminant par « C1 »).",
        )
        if d.re_code is None and suffixe_re(etat.segment) == "C1"
        else None,
        verifier_re(re_code, etat.segment, regles)
        if re_code
        else Refus("RE_INCONNU", "Aucun responsable d'équilibre connu pour ce fournisseur : indiquez-en un."),
        verifier_date_effet(d.date_effet_souhaitee, today, regles, cf=True),
        verifier_releve(d, etat.segment),
    )
    if refus:
        return refus
    besoin = besoin_intervention(
        OperationTechnique.CHANGEMENT_FOURNISSEUR,
        d.choix_releve,
        q.contexte,
        d.date_effet_souhaitee,
        regles,
        modalite=d.modalite_intervention,
        configuration=d.configuration_demandee,
    )
    refus = verifier_teleoperation(besoin, d, cf=True)
    if refus:
        return refus
    ref = reference_affaire(q.demande_message_id)
    occupant_base = actuel.occupant or q.contexte.occupant
    occupant = occupant_base.model_copy(update={"telephone": d.telephones[0]}) if occupant_base else None
    nouveau = Contrat(
        id=_nouvel_id(etat),
        titulaire=fournisseur,
        etat=EtatContrat.EN_COURS_DE_SOUSCRIPTION,
        service=actuel.service,
        puissance_souscrite_kva=actuel.puissance_souscrite_kva,
        usage=actuel.usage,
        re_code=re_code,
        parametres_bt_plus=d.parametres_bt_plus or actuel.parametres_bt_plus,
        occupant=occupant,
        contrat_conclu=d.contrat_conclu,
        references_affaires=[ref],
    )
    etat.contrats.append(nouveau)
    etat.cf_non_soldees[ref] = fournisseur
    resume = f"Changement de fournisseur au {d.date_effet_souhaitee:%d/%m/%Y} ({actuel.titulaire} → {fournisseur})"
    return _planifier(
        etat,
        q,
        d,
        TypeAffaire.CHANGEMENT_FOURNISSEUR,
        OperationTechnique.CHANGEMENT_FOURNISSEUR,
        nouveau,
        besoin,
        resume,
        contrat_precedent_id=actuel.id,
    )


def _re_defaut(fournisseur: str, segment: Segment | None, regles: Regles) -> str | None:
    res = regles.re_par_defaut.get(fournisseur)
    if res is None:
        return None
    return res[1] if suffixe_re(segment) == "C2" else res[0]


def _parametres_manquants(segment: Segment | None, parametres: ParametresBtPlus | None) -> Refus | None:
    if segment not in (Segment.C5, None) and parametres is None:
        return Refus(
            "PARAMETRES_BT_PLUS_MANQUANTS",
            "Pour un contrat BT > 36 kVA ou HTA, indiquez la version, le type de tension et le type de redevance de comptage.",
        )
    return None


def _puissance_hors_segment(segment: Segment | None, puissance: float | None) -> Refus | None:
    if segment == Segment.C5 and puissance is not None and puissance > SEUIL_BT_KVA:
        return Refus(
            "PUISSANCE_HORS_SEGMENT",
            f"Une puissance de {puissance} kVA dépasse 36 kVA, le maximum d'un point C5 : une étude de raccordement est "
            "nécessaire, contactez le GRD.",
        )
    return None


def _mise_en_service(
    etat: EtatPds,
    d: DemandeMiseEnServiceV1,
    q: DemandeQualifieeV1,
    fournisseur: str,
    today: date,
    regles: Regles,
) -> Decision | Refus:
    refus = _premier(
        _niveau_insuffisant(q.niveau_acces),
        _souscription_en_cours(etat),
        verifier_demandeur(d.demandeur),
        _parametres_manquants(etat.segment, d.parametres_bt_plus),
        _puissance_hors_segment(etat.segment, d.puissance_souscrite_kva),
        verifier_re(d.re_code, etat.segment, regles),
        verifier_date_effet(d.date_effet_souhaitee, today, regles),
        verifier_releve(d, etat.segment),
    )
    if refus:
        return refus
    besoin = besoin_intervention(
        OperationTechnique.MISE_EN_SERVICE,
        d.choix_releve,
        q.contexte,
        d.date_effet_souhaitee,
        regles,
        modalite=d.modalite_intervention,
        configuration=d.configuration_demandee,
    )
    refus = verifier_teleoperation(besoin, d, cf=False)
    if refus:
        return refus
    ref = reference_affaire(q.demande_message_id)
    actuel = contrat_actif(etat)
    nouveau = Contrat(
        id=_nouvel_id(etat),
        titulaire=fournisseur,
        etat=EtatContrat.EN_COURS_DE_SOUSCRIPTION,
        service=d.service,
        puissance_souscrite_kva=d.puissance_souscrite_kva,
        usage=d.usage,
        re_code=d.re_code,
        parametres_bt_plus=d.parametres_bt_plus,
        occupant=d.occupant,
        contrat_conclu=d.contrat_conclu,
        references_affaires=[ref],
    )
    etat.contrats.append(nouveau)
    resume = f"Mise en service au {d.date_effet_souhaitee:%d/%m/%Y} pour {d.occupant.prenom} {d.occupant.nom}"
    return _planifier(
        etat,
        q,
        d,
        TypeAffaire.MISE_EN_SERVICE,
        OperationTechnique.MISE_EN_SERVICE,
        nouveau,
        besoin,
        resume,
        contrat_precedent_id=actuel.id if actuel else None,
    )


def _contrat_du_titulaire(etat: EtatPds, fournisseur: str, *, pendant_un_changement: bool = False) -> Contrat | Refus:
    actuel = contrat_actif(etat)
    if actuel is None or actuel.titulaire != fournisseur:
        if any(c.titulaire == fournisseur and c.etat == EtatContrat.EN_COURS_DE_SOUSCRIPTION for c in etat.contrats):
            return Refus(
                "OPERATION_EN_COURS",
                "Votre contrat sur ce PDS est en cours de souscription : attendez sa mise en service pour le modifier ou le cesser.",
            )
        return Refus("NON_TITULAIRE", "Vous n'êtes pas titulaire du contrat de ce PDS : seul le titulaire peut le modifier ou le cesser.")
    if actuel.etat != EtatContrat.EN_SERVICE and not pendant_un_changement:
        return Refus(
            "OPERATION_EN_COURS",
            "Une modification ou une cessation de ce contrat est déjà en cours : attendez son aboutissement ou annulez-la.",
        )
    return actuel


def _modification_re(
    etat: EtatPds,
    d: DemandeModificationREV1,
    q: DemandeQualifieeV1,
    fournisseur: str,
    today: date,
    regles: Regles,
) -> Decision | Refus:
    # The guide sets no condition on « modifier RE »: it is immediate, even while a modification or cessation waits.
    contrat = _contrat_du_titulaire(etat, fournisseur, pendant_un_changement=True)
    if isinstance(contrat, Refus):
        return contrat
    refus = _premier(
        verifier_re(d.re_code, etat.segment, regles),
        Refus("MODIFICATION_VIDE", f"Le responsable d'équilibre est déjà {d.re_code} : rien à modifier.") if contrat.re_code == d.re_code else None,
    )
    if refus:
        return refus
    ref = reference_affaire(q.demande_message_id)
    ancien = contrat.re_code
    contrat.re_code = d.re_code
    contrat.references_affaires.append(ref)
    resume = f"Changement de responsable d'équilibre ({ancien or 'non renseigné'} → {d.re_code})"
    return Decision(
        etat,
        [
            _etat_change(etat, contrat, ref, today),
            _ouverture(q, TypeAffaire.MODIFICATION_RE, contrat.id, None, today, resume, False),
        ],
    )


def _modification_contrat(
    etat: EtatPds,
    d: DemandeModificationContratV1,
    q: DemandeQualifieeV1,
    fournisseur: str,
    today: date,
    regles: Regles,
) -> Decision | Refus:
    contrat = _contrat_du_titulaire(etat, fournisseur)
    if isinstance(contrat, Refus):
        return contrat
    cf_en_cours = [r for r, t in etat.cf_non_soldees.items() if t == fournisseur]
    change_service = d.service is not None and d.service != contrat.service
    change_puissance = d.puissance_souscrite_kva is not None and d.puissance_souscrite_kva != contrat.puissance_souscrite_kva
    change_usage = d.usage is not None and d.usage != contrat.usage
    # Version, type de tension or redevance de comptage alone is a change of the contract's parameters too.
    change_parametres = d.parametres_bt_plus is not None and d.parametres_bt_plus != contrat.parametres_bt_plus
    refus = _premier(
        verifier_demandeur(d.demandeur),
        Refus(
            "MODIFICATION_AVANT_SOLDE_CF",
            f"L'affaire de changement de fournisseur {cf_en_cours[0]} n'est pas soldée : la modification de puissance ou "
            "de tarif sera acceptée une fois cette affaire soldée.",
        )
        if cf_en_cours
        else None,
        Refus(
            "MODIFICATION_VIDE",
            "La demande ne change ni le service, ni la puissance souscrite, ni l'usage, ni les paramètres BT > 36 kVA "
            "(version, type de tension, redevance de comptage) : indiquez au moins une nouvelle valeur.",
        )
        if not (change_service or change_puissance or change_usage or change_parametres)
        else None,
        _puissance_hors_segment(etat.segment, d.puissance_souscrite_kva),
        _parametres_manquants(etat.segment, d.parametres_bt_plus or contrat.parametres_bt_plus) if change_service else None,
        verifier_date_effet(d.date_effet_souhaitee, today, regles),
        verifier_releve(d, etat.segment),
    )
    if refus:
        return refus
    ref = reference_affaire(q.demande_message_id)
    ancienne = contrat.puissance_souscrite_kva or 0.0
    augmentation = (d.puissance_souscrite_kva - ancienne) if change_puissance and d.puissance_souscrite_kva else 0.0
    compteur = q.contexte.compteur
    etude = change_puissance and etude_technique_requise(contrat.puissance_souscrite_kva, d.puissance_souscrite_kva)
    # A new power means a new breaker setting: on site for a classic meter (an AMM meter is set remotely).
    equipement = change_puissance and not compteur.amm
    besoin = besoin_intervention(
        OperationTechnique.MODIFICATION,
        d.choix_releve,
        q.contexte,
        d.date_effet_souhaitee,
        regles,
        equipement_change=equipement,
        augmentation_kva=augmentation,
        puissance_cible_kva=d.puissance_souscrite_kva if change_puissance else None,
        etude_technique=etude,
    )
    contrat.etat = EtatContrat.EN_COURS_DE_MODIFICATION
    contrat.references_affaires.append(ref)
    morceaux = []
    if change_service:
        morceaux.append(f"service {contrat.service} → {d.service}")
    if change_puissance:
        morceaux.append(f"puissance {contrat.puissance_souscrite_kva} → {d.puissance_souscrite_kva} kVA")
    if change_usage:
        morceaux.append(f"usage {contrat.usage} → {d.usage}")
    if change_parametres and d.parametres_bt_plus is not None:
        p = d.parametres_bt_plus
        morceaux.append(f"paramètres version {p.version}, tension {p.type_tension}, redevance {p.type_redevance_comptage}")
    resume = f"Modification de contrat au {d.date_effet_souhaitee:%d/%m/%Y} : {', '.join(morceaux)}"
    return _planifier(
        etat,
        q,
        d,
        TypeAffaire.MODIFICATION_CONTRAT,
        OperationTechnique.MODIFICATION,
        contrat,
        besoin,
        resume,
        service=d.service if change_service else None,
        puissance_souscrite_kva=d.puissance_souscrite_kva if change_puissance else None,
        usage=d.usage if change_usage else None,
        parametres_bt_plus=d.parametres_bt_plus,
    )


def _cessation(
    etat: EtatPds,
    d: DemandeCessationV1,
    q: DemandeQualifieeV1,
    fournisseur: str,
    today: date,
    regles: Regles,
) -> Decision | Refus:
    contrat = _contrat_du_titulaire(etat, fournisseur)
    if isinstance(contrat, Refus):
        return contrat
    refus = _premier(
        verifier_demandeur(d.demandeur), verifier_date_effet(d.date_effet_souhaitee, today, regles), verifier_releve(d, etat.segment)
    )
    if refus:
        return refus
    besoin = besoin_intervention(
        OperationTechnique.CESSATION,
        d.choix_releve,
        q.contexte,
        d.date_effet_souhaitee,
        regles,
        modalite=d.modalite_intervention,
        configuration=d.configuration_demandee,
    )
    refus = verifier_teleoperation(besoin, d, cf=False)
    if refus:
        return refus
    ref = reference_affaire(q.demande_message_id)
    contrat.etat = EtatContrat.EN_COURS_DE_CESSATION
    contrat.references_affaires.append(ref)
    resume = f"Cessation au {d.date_effet_souhaitee:%d/%m/%Y} (motif : {d.motif})"
    return _planifier(etat, q, d, TypeAffaire.CESSATION, OperationTechnique.CESSATION, contrat, besoin, resume)


def _recalculer_echeance(etat: EtatPds) -> None:
    dates = [c.date_effet for c in etat.changements if not c.avec_intervention]
    etat.prochaine_echeance = min(dates) if dates else None


def _contrat(etat: EtatPds, contrat_id: str | None) -> Contrat | None:
    return next((c for c in etat.contrats if c.id == contrat_id), None)


def _changement(etat: EtatPds, reference: str) -> Changement | None:
    return next((c for c in etat.changements if c.reference_affaire == reference), None)


def _flux(etat: EtatPds, evenement: str, contrat: Contrat, reference: str, date_effet: date, avant: Releve | None, apres: Releve | None) -> Effet:
    flux = FluxC15V1(
        pds=etat.pds,
        evenement=evenement,
        fournisseur=contrat.titulaire,
        re_code=contrat.re_code,
        reference_affaire=reference,
        date_effet=date_effet,
        segment=etat.segment,
        puissance_souscrite_kva=contrat.puissance_souscrite_kva,
        releve_avant=avant,
        releve_apres=apres,
    )
    return flux, contrat.titulaire


def realiser(etat: EtatPds, reference: str, date_effet: date | None, releve: Releve | None) -> Decision | None:
    """Make a pending change effective (intervention done or date d'effet reached); None when nothing is pending for it."""
    changement = _changement(etat, reference)
    if changement is None:
        return None
    etat = etat.model_copy(deep=True)
    changement = _changement(etat, reference)
    assert changement is not None
    quand = date_effet or changement.date_effet
    releve = releve or changement.releve or estimer_index(changement.estimation_base, quand)
    avant = etat.derniere_releve
    etat.changements = [c for c in etat.changements if c.reference_affaire != reference]
    contrat = _contrat(etat, changement.contrat_id)
    effets: list[Effet] = []
    if contrat is None:
        _recalculer_echeance(etat)
        return Decision(etat, effets)
    op = changement.operation
    if op in (OperationTechnique.CHANGEMENT_FOURNISSEUR, OperationTechnique.MISE_EN_SERVICE):
        precedent = _contrat(etat, changement.contrat_precedent_id) if op == OperationTechnique.CHANGEMENT_FOURNISSEUR else None
        if op == OperationTechnique.MISE_EN_SERVICE:
            # The occupant changes: whoever is in force now (even a contract subscribed since the demand) ends that day.
            precedent = next((c for c in etat.contrats if c.etat in ACTIFS and c.id != contrat.id), None)
        contrat.etat = EtatContrat.EN_SERVICE
        contrat.date_debut = quand
        effets.append(_etat_change(etat, contrat, reference, quand, releve))
        entree = "CFNE" if op == OperationTechnique.CHANGEMENT_FOURNISSEUR else "MES"
        effets.append(_flux(etat, entree, contrat, reference, quand, avant, releve))
        if precedent is not None and precedent.etat in ACTIFS:
            precedent.etat = EtatContrat.CESSE
            precedent.date_fin = quand
            # Pending changes of the ended contract can no longer happen.
            etat.changements = [c for c in etat.changements if c.contrat_id != precedent.id]
            effets.append(_etat_change(etat, precedent, reference, quand, releve))
            sortie = "CFNS" if op == OperationTechnique.CHANGEMENT_FOURNISSEUR else "RES"
            effets.append(_flux(etat, sortie, precedent, reference, quand, avant, releve))
    elif op == OperationTechnique.CESSATION:
        contrat.etat = EtatContrat.CESSE
        contrat.date_fin = quand
        effets.append(_etat_change(etat, contrat, reference, quand, releve))
        effets.append(_flux(etat, "RES", contrat, reference, quand, avant, releve))
    else:
        contrat.etat = EtatContrat.EN_SERVICE
        contrat.service = changement.service or contrat.service
        contrat.puissance_souscrite_kva = changement.puissance_souscrite_kva or contrat.puissance_souscrite_kva
        contrat.usage = changement.usage or contrat.usage
        contrat.parametres_bt_plus = changement.parametres_bt_plus or contrat.parametres_bt_plus
        effets.append(_etat_change(etat, contrat, reference, quand, releve))
    if releve is not None:
        etat.derniere_releve = releve
    _recalculer_echeance(etat)
    return Decision(etat, effets)


def estimer_index(historique: list[Releve], jour: date) -> Releve | None:
    """The index estimated at `jour` from real readings: the last one plus the daily use between the last two, per cadran."""
    reelles = sorted((r for r in historique if r.nature == NatureReleve.REELLE), key=lambda r: r.date_releve)
    if not reelles:
        return None
    derniere = reelles[-1]
    precedente = next((r for r in reversed(reelles[:-1]) if r.date_releve < derniere.date_releve), None)
    avant = {i.cadran: i.valeur for i in precedente.index} if precedente else {}
    jours_base = (derniere.date_releve - precedente.date_releve).days if precedente else 0
    jours = max(0, (jour - derniere.date_releve).days)
    index = []
    for i in derniere.index:
        par_jour = max(0, i.valeur - avant.get(i.cadran, i.valeur)) / jours_base if jours_base else 0.0
        index.append(IndexCadran(cadran=i.cadran, valeur=i.valeur + round(par_jour * jours)))
    return Releve(date_releve=jour, index=tuple(index), nature=NatureReleve.ESTIMEE)


def differer(etat: EtatPds, reference: str, jour: date, releve: Releve | None) -> Decision | None:
    """A realisation reported for a future day is not applied early: the change waits for that day (the due job applies
    it with its reading); None when nothing is pending for the affaire."""
    changement = _changement(etat, reference)
    if changement is None:
        return None
    etat = etat.model_copy(deep=True)
    etat.changements = [
        c.model_copy(update={"date_effet": jour, "avec_intervention": False, "releve": releve or c.releve}) if c.reference_affaire == reference else c
        for c in etat.changements
    ]
    _recalculer_echeance(etat)
    return Decision(etat, [])


def echeance_due(etat: EtatPds, today: date) -> Changement | None:
    """The first change without intervention whose date d'effet has come."""
    dues = sorted((c for c in etat.changements if not c.avec_intervention and c.date_effet <= today), key=lambda c: c.date_effet)
    return dues[0] if dues else None


def annuler(etat: EtatPds, reference: str) -> Decision | None:
    """The affaire was cancelled: drop its pending change (a subscription is annulée, a modification/cessation undone)."""
    changement = _changement(etat, reference)
    if changement is None and reference not in etat.cf_non_soldees:
        return None
    etat = etat.model_copy(deep=True)
    etat.cf_non_soldees.pop(reference, None)
    etat.changements = [c for c in etat.changements if c.reference_affaire != reference]
    _recalculer_echeance(etat)
    effets: list[Effet] = []
    contrat = _contrat(etat, changement.contrat_id) if changement else None
    if changement is not None and contrat is not None:
        if contrat.etat == EtatContrat.EN_COURS_DE_SOUSCRIPTION:
            contrat.etat = EtatContrat.ANNULE
            effets.append(_etat_change(etat, contrat, reference, None))
        elif contrat.etat in (EtatContrat.EN_COURS_DE_MODIFICATION, EtatContrat.EN_COURS_DE_CESSATION):
            contrat.etat = EtatContrat.EN_SERVICE
            effets.append(_etat_change(etat, contrat, reference, None))
    return Decision(etat, effets)


def solder(etat: EtatPds, reference: str) -> Decision | None:
    """The affaire is terminée: a CF affaire becomes soldée, so power or tariff changes are accepted again."""
    if reference not in etat.cf_non_soldees:
        return None
    etat = etat.model_copy(deep=True)
    etat.cf_non_soldees.pop(reference)
    return Decision(etat, [])


def vue_contrat(contrat: Contrat) -> dict[str, Any]:
    """What the holder sees of a contract: généralités, paramètres, interventions, occupant."""
    return {
        "generalites": {
            "id": contrat.id,
            "titulaire": contrat.titulaire,
            "etat": contrat.etat.value,
            "date_debut": contrat.date_debut.isoformat() if contrat.date_debut else None,
            "date_fin": contrat.date_fin.isoformat() if contrat.date_fin else None,
            "contrat_conclu": contrat.contrat_conclu.model_dump(mode="json") if contrat.contrat_conclu else None,
        },
        "parametres": {
            "service": contrat.service,
            "puissance_souscrite_kva": contrat.puissance_souscrite_kva,
            "usage": contrat.usage,
            "re_code": contrat.re_code,
            "parametres_bt_plus": contrat.parametres_bt_plus.model_dump(mode="json") if contrat.parametres_bt_plus else None,
        },
        "interventions": list(contrat.references_affaires),
        "occupant": contrat.occupant.model_dump(mode="json") if contrat.occupant else None,
    }


#: Columns of a supplier's contract list (JSON lines and CSV).
COLONNES_CONTRATS = (
    "id", "pds", "etat", "service", "puissance_souscrite_kva", "usage", "re_code", "date_debut", "date_fin", "segment",
)  # fmt: skip


def contrats_par_fournisseur(etat: EtatPds) -> dict[str, dict[str, dict[str, Any]]]:
    """The list line of every contract of the PDS, grouped by holder: what the per-supplier contract index keeps."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for c in etat.contrats:
        out.setdefault(c.titulaire, {})[c.id] = {
            "id": c.id,
            "pds": etat.pds,
            "etat": c.etat.value,
            "service": c.service,
            "puissance_souscrite_kva": c.puissance_souscrite_kva,
            "usage": c.usage,
            "re_code": c.re_code,
            "date_debut": c.date_debut.isoformat() if c.date_debut else None,
            "date_fin": c.date_fin.isoformat() if c.date_fin else None,
            "segment": etat.segment.value if etat.segment else None,
        }
    return out
