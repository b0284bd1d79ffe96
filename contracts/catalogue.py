"""The message catalogue: every (type, version) with its payload model and the topic it travels on."""

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts import demandes as d
from contracts import evenements as e
from contracts import topics as t
from contracts.base import WireModel


@dataclass(frozen=True)
class MessageSpec:
    """One entry of the catalogue."""

    type: str
    version: int
    model: builtins.type[WireModel]
    #: Every topic this type travels on: one, or several when `route` picks one per message.
    topics: tuple[t.Topic, ...]
    route: Callable[[Any], t.Topic] | None = None

    def topic_for(self, payload: WireModel) -> t.Topic:
        """The topic this payload is published on."""
        return self.route(payload) if self.route is not None else self.topics[0]


def _spec(model: type[WireModel], *topics: t.Topic, route: Callable[[Any], t.Topic] | None = None) -> MessageSpec:
    base, _, version = model.__name__.rpartition("V")
    return MessageSpec(type=base, version=int(version), model=model, topics=topics, route=route)


CATALOGUE: tuple[MessageSpec, ...] = (
    _spec(d.DeclarationAccesV1, t.DEMANDES),
    _spec(d.DemandeChangementFournisseurV1, t.DEMANDES),
    _spec(d.DemandeMiseEnServiceV1, t.DEMANDES),
    _spec(d.DemandeModificationREV1, t.DEMANDES),
    _spec(d.DemandeModificationContratV1, t.DEMANDES),
    _spec(d.DemandeCessationV1, t.DEMANDES),
    _spec(d.DemandeReclamationV1, t.DEMANDES),
    _spec(d.DemandeDiverseV1, t.DEMANDES),
    _spec(d.DemandeAnnulationV1, t.DEMANDES),
    _spec(d.DemandeInterventionTechniqueV1, t.DEMANDES),
    _spec(d.ReservationCreneauV1, t.DEMANDES),
    _spec(d.DeplanificationV1, t.DEMANDES),
    _spec(d.DemandeSansPdsV1, t.DEMANDES),
    _spec(
        e.DemandeQualifieeV1,
        t.QUALIFIEES_CONTRATS,
        t.QUALIFIEES_AFFAIRES,
        t.QUALIFIEES_PLANIFICATION,
        route=lambda q: t.qualifiees_pour(q.demande_type),
    ),
    _spec(e.DemandeAccepteeV1, t.DEMANDES_RESULTATS),
    _spec(e.DemandeRefuseeV1, t.DEMANDES_RESULTATS),
    _spec(e.OuvertureAffaireDemandeeV1, t.AFFAIRES_COMMANDES),
    _spec(e.AffaireStatutChangeV1, t.AFFAIRES_EVENEMENTS),
    _spec(e.ContratEtatChangeV1, t.CONTRATS_EVENEMENTS),
    _spec(e.InterventionDemandeeV1, t.INTERVENTIONS_COMMANDES),
    _spec(e.AnnulationInterventionDemandeeV1, t.INTERVENTIONS_COMMANDES),
    _spec(e.InterventionStatutChangeV1, t.INTERVENTIONS_EVENEMENTS),
    _spec(e.RealisationRefuseeV1, t.INTERVENTIONS_EVENEMENTS),
    _spec(e.TeleOperationDemandeeV1, t.SI_COMMANDES),
    _spec(e.ResultatTeleOperationV1, t.SI_RESULTATS),
    _spec(e.InterventionRealiseeV1, t.SI_RESULTATS),
    _spec(e.InterventionNonRealiseeV1, t.SI_RESULTATS),
    _spec(e.AffaireSoldeeV1, t.SI_RESULTATS),
    _spec(e.EtudeTechniqueConclueV1, t.SI_RESULTATS),
    _spec(e.ReleveEnregistreeV1, t.RELEVES),
    _spec(e.NotificationEnvoyeeV1, t.NOTIFICATIONS),
    _spec(e.FluxC15V1, t.FLUX_C15),
    _spec(e.FluxR15V1, t.FLUX_R15),
)

_BY_KEY = {(s.type, s.version): s for s in CATALOGUE}
_BY_MODEL = {s.model: s for s in CATALOGUE}


def spec_for(type_: str, version: int) -> MessageSpec | None:
    """Return the catalogue entry for (type, version), or None when unknown."""
    return _BY_KEY.get((type_, version))


def spec_for_model(model: type[WireModel]) -> MessageSpec:
    """Return the catalogue entry of a payload model."""
    return _BY_MODEL[model]


def payload_model(type_: str, version: int) -> type[WireModel] | None:
    """Return the payload model for (type, version), or None when unknown."""
    spec = spec_for(type_, version)
    return spec.model if spec else None
