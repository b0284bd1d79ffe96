"""The programmation rules every producer of a `BesoinIntervention` applies, so that contrats, affaires and
planification agree (the guide's « accès à la planification »): which appointment mode, which power change needs a
technical study, which segment plans by itself. Pure functions over wire types only.
"""

from contracts.common import ModeIntervention, Segment
from contracts.evenements import CompteurInfo

#: « passage à une puissance supérieure à 6 kVA »: the NEW power above this needs a technical study (3 → 9 yes, 3 → 6 no).
SEUIL_ETUDE_TECHNIQUE_KVA = 6.0


def releve_a_distance(compteur: CompteurInfo) -> bool:
    """True when the meter can be read without entering: outdoors, or read remotely (téléreport)."""
    return compteur.localisation == "exterieur" or compteur.mode_releve == "telereleve"


def mode_rendez_vous(*, en_service: bool, compteur: CompteurInfo, releve_seule: bool) -> ModeIntervention:
    """« Présence non obligatoire » (PDS en service, outdoor meter or téléreport, only a reading needed), else « sur créneau horaire »."""
    if en_service and releve_seule and releve_a_distance(compteur):
        return ModeIntervention.PRESENCE_NON_OBLIGATOIRE
    return ModeIntervention.CRENEAU


def etude_technique_requise(puissance_actuelle_kva: float | None, puissance_cible_kva: float | None) -> bool:
    """A power increase whose new power is above 6 kVA cannot be planned directly: the GRD studies it first."""
    if puissance_cible_kva is None:
        return False
    return puissance_cible_kva > (puissance_actuelle_kva or 0.0) and puissance_cible_kva > SEUIL_ETUDE_TECHNIQUE_KVA


def planification_libre_service(segment: Segment | None) -> bool:
    """Self-service planning and tele-operation are for BT ≤ 36 kVA (C5); above, the GRD team plans the intervention."""
    return segment in (Segment.C5, None)
