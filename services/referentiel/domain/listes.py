"""The reference lists a supplier's demand forms need (the portal's drop-down lists): the wire vocabulary and the GRD's REs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import listes
from contracts.common import ChoixReleve, ModaliteIntervention, ModeIntervention, NiveauAcces, TypeAffaire
from contracts.programmation import SEUIL_ETUDE_TECHNIQUE_KVA
from contracts.topics import QUALIFIEES_PAR_TYPE

LIBELLES_MODES = {
    ModeIntervention.CRENEAU: "Sur créneau horaire (présence du client obligatoire)",
    ModeIntervention.PRESENCE_NON_OBLIGATOIRE: "Présence non obligatoire (demi-journée)",
    ModeIntervention.TELEOPERATION: "Télé-opération (compteur communicant, sans déplacement)",
}


def listes_de_reference(res_par_segment: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Every list, with the values the demand messages carry; the REs are the GRD's, by segment (its reference data)."""
    return {
        "responsables_equilibre": {
            "C1": {"segments": ["C1", "C2", "C3", "C4"], "description": "Clients > 36 kVA", "codes": list(res_par_segment["C1"])},
            "C2": {"segments": ["C5"], "description": "Clients ≤ 36 kVA", "codes": list(res_par_segment["C2"])},
        },
        "types_demande": sorted([*QUALIFIEES_PAR_TYPE, "DeclarationAcces", "DemandeSansPds"]),
        "types_affaire": [t.value for t in TypeAffaire],
        "sous_types": {
            "reclamation": list(listes.SOUS_TYPES_RECLAMATION),
            "demande_diverse": list(listes.SOUS_TYPES_DEMANDE_DIVERSE),
            "intervention_technique": [{"code": code, "releve_seule": releve} for code, releve in listes.SOUS_TYPES_INTERVENTION_TECHNIQUE.items()],
        },
        "natures_reclamation": list(listes.NATURES_RECLAMATION),
        "motifs_cessation": list(listes.MOTIFS_CESSATION),
        "services": list(listes.SERVICES),
        "usages": list(listes.USAGES),
        "parametres_bt_plus": {
            "versions": list(listes.VERSIONS_BT_PLUS),
            "types_tension": list(listes.TYPES_TENSION),
            "types_redevance_comptage": list(listes.TYPES_REDEVANCE_COMPTAGE),
        },
        "choix_releve": [c.value for c in ChoixReleve],
        "modalites_intervention": [m.value for m in ModaliteIntervention],
        "modes_rendez_vous": [{"code": m.value, "libelle": LIBELLES_MODES[m]} for m in ModeIntervention],
        "niveaux_acces": [n.value for n in NiveauAcces],
        "seuil_etude_technique_kva": SEUIL_ETUDE_TECHNIQUE_KVA,
    }
