"""ONGLET PARAMETRES of the guide: the RE and its segment suffix, the BT > 36 kVA parameters, the power of a C5 point."""

from __future__ import annotations

from contracts.common import ParametresBtPlus, Segment
from contracts.refus import CodeRefus, Refus
from services.contrats.domain.commun import Regles, premier

#: The highest puissance souscrite of a C5 point (BT ≤ 36 kVA).
SEUIL_BT_KVA = 36.0


def suffixe_re(segment: Segment | None) -> str:
    """RE suffix expected for a segment: C2 for C5 customers (≤ 36 kVA), C1 for the others."""
    return "C2" if segment in (Segment.C5, None) else "C1"


def verifier_re_connu(re_code: str, regles: Regles) -> Refus | None:
    """RE_INCONNU: the RE is chosen from the GRD's list (« affichera les différents RE possibles dans une liste déroulante »)."""
    if re_code not in regles.res_connus:
        return Refus(CodeRefus.RE_INCONNU, f"Le responsable d'équilibre {re_code} est inconnu du GRD : choisissez un RE de la liste.")
    return None


def verifier_re_du_segment(re_code: str, segment: Segment | None) -> Refus | None:
    """RE_SEGMENT_INCOMPATIBLE: « il est très important de choisir le bon segment du RE » (C1 for > 36 kVA, C2 for C5)."""
    attendu = suffixe_re(segment)
    if not re_code.endswith(attendu):
        return Refus(
            CodeRefus.RE_SEGMENT_INCOMPATIBLE,
            f"Le responsable d'équilibre {re_code} ne correspond pas au segment du PDS ({segment}) : "
            f"choisissez un RE dont le code se termine par « {attendu} ».",
        )
    return None


def verifier_re(re_code: str, segment: Segment | None, regles: Regles) -> Refus | None:
    """The RE must be known and its suffix must match the segment (C1 for > 36 kVA, C2 for C5)."""
    return premier(verifier_re_connu(re_code, regles), verifier_re_du_segment(re_code, segment))


def re_par_defaut(fournisseur: str, segment: Segment | None, regles: Regles) -> str | None:
    """The supplier's own RE for the segment of the PDS (what a C5 CF keeps when it names none), if the GRD knows it."""
    res = regles.re_par_defaut.get(fournisseur)
    if res is None:
        return None
    return res[1] if suffixe_re(segment) == "C2" else res[0]


def verifier_re_indique_bt_plus(re_code: str | None, segment: Segment | None) -> Refus | None:
    """RE_MANQUANT: « Pour les contrats BT+ et HTA, indiquer en plus … le Responsable d'Equilibre »: no default above 36 kVA."""
    if re_code is None and suffixe_re(segment) == "C1":
        return Refus(
            CodeRefus.RE_MANQUANT,
            "Pour un contrat BT > 36 kVA ou HTA, indiquez le responsable d'équilibre (code se terminant par « C1 »).",
        )
    return None


def verifier_re_retenu(re_code: str | None, segment: Segment | None, regles: Regles) -> Refus | None:
    """RE_INCONNU when no RE is given nor known for the supplier; otherwise the RE checks of `verifier_re`."""
    if not re_code:
        return Refus(CodeRefus.RE_INCONNU, "Aucun responsable d'équilibre connu pour ce fournisseur : indiquez-en un.")
    return verifier_re(re_code, segment, regles)


def verifier_parametres_bt_plus(segment: Segment | None, parametres: ParametresBtPlus | None) -> Refus | None:
    """PARAMETRES_BT_PLUS_MANQUANTS: « Pour les contrats BT+ et HTA, indiquer en plus : la version, type de tension, type de
    redevance de comptage »."""
    if segment not in (Segment.C5, None) and parametres is None:
        return Refus(
            CodeRefus.PARAMETRES_BT_PLUS_MANQUANTS,
            "Pour un contrat BT > 36 kVA ou HTA, indiquez la version, le type de tension et le type de redevance de comptage.",
        )
    return None


def verifier_puissance_du_segment(segment: Segment | None, puissance: float | None) -> Refus | None:
    """PUISSANCE_HORS_SEGMENT: a C5 point is BT ≤ 36 kVA; more needs a connection study with the GRD."""
    if segment == Segment.C5 and puissance is not None and puissance > SEUIL_BT_KVA:
        return Refus(
            CodeRefus.PUISSANCE_HORS_SEGMENT,
            f"Une puissance de {puissance} kVA dépasse 36 kVA, le maximum d'un point C5 : une étude de raccordement est "
            "nécessaire, contactez le GRD.",
        )
    return None
