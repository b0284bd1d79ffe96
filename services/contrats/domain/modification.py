"""PROCESSUS DE MODIFICATION DE CONTRAT (titulaire uniquement): « modifier RE » (immediate) and « modifier service »
(service, puissance souscrite, usage, BT > 36 kVA parameters, at a date d'effet with a relève choice)."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.common import EtatContrat, OperationTechnique, TypeAffaire
from contracts.demandes import DemandeModificationContratV1, DemandeModificationREV1
from contracts.programmation import etude_technique_requise
from contracts.refus import CodeRefus, Refus
from services.contrats.domain.commun import Contrat, Decision, EtatPds, Regles, premier
from services.contrats.domain.contexte import ContexteDemande
from services.contrats.domain.date_effet import verifier_date_effet
from services.contrats.domain.echeances import planifier
from services.contrats.domain.evenements import etat_change, ouverture_affaire
from services.contrats.domain.intervention import besoin_intervention, verifier_demandeur
from services.contrats.domain.parametres import verifier_parametres_bt_plus, verifier_puissance_du_segment, verifier_re
from services.contrats.domain.releve import verifier_releve
from services.contrats.domain.titulaire import contrat_du_titulaire


def verifier_nouveau_re(contrat: Contrat, re_code: str) -> Refus | None:
    """MODIFICATION_VIDE: a change of RE names another RE than the contract's."""
    if contrat.re_code == re_code:
        return Refus(CodeRefus.MODIFICATION_VIDE, f"Le responsable d'équilibre est déjà {re_code} : rien à modifier.")
    return None


def modification_re(etat: EtatPds, ctx: ContexteDemande[DemandeModificationREV1], regles: Regles) -> Decision | Refus:
    """Decide a change of RE: immediate (today), segment-checked, without intervention; its affaire opens for the record."""
    d = ctx.demande
    # The guide sets no condition on « modifier RE »: it is immediate, even while a modification or cessation waits.
    contrat = contrat_du_titulaire(etat, ctx.fournisseur, pendant_un_changement=True)
    if isinstance(contrat, Refus):
        return contrat
    refus = premier(verifier_re(d.re_code, etat.segment, regles), verifier_nouveau_re(contrat, d.re_code))
    if refus:
        return refus
    ancien = contrat.re_code
    contrat.re_code = d.re_code
    contrat.references_affaires.append(ctx.reference)
    resume = f"Changement de responsable d'équilibre ({ancien or 'non renseigné'} → {d.re_code})"
    return Decision(
        etat,
        [
            etat_change(etat, contrat, ctx.reference, ctx.jour),
            ouverture_affaire(ctx, TypeAffaire.MODIFICATION_RE, contrat.id, None, ctx.jour, resume, False),
        ],
    )


@dataclass(frozen=True)
class Modifications:
    """What a modification of contract changes, compared with the contract in force."""

    service: bool
    puissance: bool
    usage: bool
    #: Version, type de tension or redevance de comptage alone is a change of the contract's parameters too.
    parametres: bool

    @property
    def vide(self) -> bool:
        """True when nothing changes."""
        return not (self.service or self.puissance or self.usage or self.parametres)


def modifications(d: DemandeModificationContratV1, contrat: Contrat) -> Modifications:
    """Compare the demand's new values (None = unchanged) with the contract's."""
    return Modifications(
        service=d.service is not None and d.service != contrat.service,
        puissance=d.puissance_souscrite_kva is not None and d.puissance_souscrite_kva != contrat.puissance_souscrite_kva,
        usage=d.usage is not None and d.usage != contrat.usage,
        parametres=d.parametres_bt_plus is not None and d.parametres_bt_plus != contrat.parametres_bt_plus,
    )


def verifier_cf_soldee(etat: EtatPds, fournisseur: str) -> Refus | None:
    """MODIFICATION_AVANT_SOLDE_CF: « 1 demande de changement de FR puis, une fois cette demande soldée, 1 demande de
    modification de PS »."""
    cf_en_cours = [r for r, t in etat.cf_non_soldees.items() if t == fournisseur]
    if cf_en_cours:
        return Refus(
            CodeRefus.MODIFICATION_AVANT_SOLDE_CF,
            f"L'affaire de changement de fournisseur {cf_en_cours[0]} n'est pas soldée : la modification de puissance ou "
            "de tarif sera acceptée une fois cette affaire soldée.",
        )
    return None


def verifier_modification_non_vide(m: Modifications) -> Refus | None:
    """MODIFICATION_VIDE: a modification of contract gives at least one new value."""
    if m.vide:
        return Refus(
            CodeRefus.MODIFICATION_VIDE,
            "La demande ne change ni le service, ni la puissance souscrite, ni l'usage, ni les paramètres BT > 36 kVA "
            "(version, type de tension, redevance de comptage) : indiquez au moins une nouvelle valeur.",
        )
    return None


def _resume(d: DemandeModificationContratV1, contrat: Contrat, m: Modifications) -> str:
    morceaux = []
    if m.service:
        morceaux.append(f"service {contrat.service} → {d.service}")
    if m.puissance:
        morceaux.append(f"puissance {contrat.puissance_souscrite_kva} → {d.puissance_souscrite_kva} kVA")
    if m.usage:
        morceaux.append(f"usage {contrat.usage} → {d.usage}")
    if m.parametres and d.parametres_bt_plus is not None:
        p = d.parametres_bt_plus
        morceaux.append(f"paramètres version {p.version}, tension {p.type_tension}, redevance {p.type_redevance_comptage}")
    return f"Modification de contrat au {d.date_effet_souhaitee:%d/%m/%Y} : {', '.join(morceaux)}"


def modification_contrat(etat: EtatPds, ctx: ContexteDemande[DemandeModificationContratV1], regles: Regles) -> Decision | Refus:
    """Decide a modification of service, puissance, usage or BT > 36 kVA parameters at a date d'effet.

    A new power needs a new breaker setting: on site for a classic meter, by TO on an AMM meter, and a technical study
    for a new power above 6 kVA (`contracts.programmation.etude_technique_requise`).
    """
    d = ctx.demande
    contrat = contrat_du_titulaire(etat, ctx.fournisseur)
    if isinstance(contrat, Refus):
        return contrat
    m = modifications(d, contrat)
    refus = premier(
        verifier_demandeur(d.demandeur),
        verifier_cf_soldee(etat, ctx.fournisseur),
        verifier_modification_non_vide(m),
        verifier_puissance_du_segment(etat.segment, d.puissance_souscrite_kva),
        verifier_parametres_bt_plus(etat.segment, d.parametres_bt_plus or contrat.parametres_bt_plus) if m.service else None,
        verifier_date_effet(d.date_effet_souhaitee, ctx.jour, regles),
        verifier_releve(d, etat.segment),
    )
    if refus:
        return refus
    ancienne = contrat.puissance_souscrite_kva or 0.0
    augmentation = (d.puissance_souscrite_kva - ancienne) if m.puissance and d.puissance_souscrite_kva else 0.0
    etude = m.puissance and etude_technique_requise(contrat.puissance_souscrite_kva, d.puissance_souscrite_kva)
    # A new power means a new breaker setting: on site for a classic meter (an AMM meter is set remotely).
    equipement = m.puissance and not ctx.pds.compteur.amm
    besoin = besoin_intervention(
        OperationTechnique.MODIFICATION,
        d.choix_releve,
        ctx.pds,
        d.date_effet_souhaitee,
        regles,
        equipement_change=equipement,
        augmentation_kva=augmentation,
        puissance_cible_kva=d.puissance_souscrite_kva if m.puissance else None,
        etude_technique=etude,
    )
    contrat.etat = EtatContrat.EN_COURS_DE_MODIFICATION
    contrat.references_affaires.append(ctx.reference)
    resume = _resume(d, contrat, m)
    return planifier(
        etat,
        ctx,
        TypeAffaire.MODIFICATION_CONTRAT,
        OperationTechnique.MODIFICATION,
        contrat,
        besoin,
        resume,
        service=d.service if m.service else None,
        puissance_souscrite_kva=d.puissance_souscrite_kva if m.puissance else None,
        usage=d.usage if m.usage else None,
        parametres_bt_plus=d.parametres_bt_plus,
    )
