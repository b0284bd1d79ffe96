"""Pure decisions of the contract processes (CF, MES, modifications, cessation) and of their completion.

One module per process of the guide, each rule a small named check (`verifier_…`, docstring citing the guide):

- `demandes`: the entry point, `decider_demande` (reads the demand into `contexte.ContexteDemande`, runs its process);
- `changement_fournisseur`, `mise_en_service`, `modification` (RE and contract), `cessation`: the processes;
- `souscription` (what CF and MES share), `titulaire` (what modification and cessation share);
- `parametres` (RE, BT > 36 kVA parameters, power of a C5 point), `date_effet`, `releve` (autorelève, estimation),
  `intervention` (the "next step", tele-operation, the requester);
- `echeances` (changes waiting for their date d'effet), `suivi` (réalisée, annulée, soldée), `evenements`, `vues`;
- `commun`: the aggregate (`EtatPds`, `Contrat`, `Changement`), `Refus`, `Regles`, `Decision`.
"""

from contracts.refus import Refus
from services.contrats.domain.commun import (
    ACTIFS,
    Changement,
    Contractuelle,
    Contrat,
    Decision,
    Effet,
    EtatPds,
    Regles,
    contrat_actif,
    etat_initial,
)
from services.contrats.domain.contexte import TYPES_TRAITES, ContexteDemande, lire_demande
from services.contrats.domain.date_effet import verifier_date_effet
from services.contrats.domain.demandes import decider, decider_demande
from services.contrats.domain.echeances import differer, echeance_due
from services.contrats.domain.intervention import besoin_intervention, verifier_demandeur, verifier_teleoperation
from services.contrats.domain.parametres import SEUIL_BT_KVA, suffixe_re, verifier_re
from services.contrats.domain.releve import estimer_index, verifier_releve
from services.contrats.domain.suivi import annuler, realiser, solder
from services.contrats.domain.vues import COLONNES_CONTRATS, contrats_par_fournisseur, contrats_visibles, vue_contrat

__all__ = [
    "ACTIFS",
    "COLONNES_CONTRATS",
    "SEUIL_BT_KVA",
    "TYPES_TRAITES",
    "Changement",
    "ContexteDemande",
    "Contractuelle",
    "Contrat",
    "Decision",
    "Effet",
    "EtatPds",
    "Refus",
    "Regles",
    "annuler",
    "besoin_intervention",
    "contrat_actif",
    "contrats_par_fournisseur",
    "contrats_visibles",
    "decider",
    "decider_demande",
    "differer",
    "echeance_due",
    "estimer_index",
    "etat_initial",
    "lire_demande",
    "realiser",
    "solder",
    "suffixe_re",
    "verifier_date_effet",
    "verifier_demandeur",
    "verifier_re",
    "verifier_releve",
    "verifier_teleoperation",
    "vue_contrat",
]
