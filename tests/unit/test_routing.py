"""Each qualified demand goes to the topic of the one service whose process handles its type, and to no other."""

from types import SimpleNamespace

from contracts import demandes as d
from contracts import topics as t
from contracts.catalogue import spec_for_model
from contracts.evenements import DemandeQualifieeV1
from services.affaires.domain import DEMANDES_TRAITEES
from services.contrats.domain import TYPES_TRAITES
from services.planification import domain as planification
from services.referentiel.domain.acces import NIVEAU_REQUIS


def test_every_qualified_type_has_exactly_one_destination_matching_its_service() -> None:
    qualifies = {spec_for_model(m).type for m in NIVEAU_REQUIS}
    assert qualifies == set(t.QUALIFIEES_PAR_TYPE)
    par_topic = {topic: {ty for ty, tp in t.QUALIFIEES_PAR_TYPE.items() if tp == topic} for topic in set(t.QUALIFIEES_PAR_TYPE.values())}
    assert par_topic == {
        t.QUALIFIEES_CONTRATS: set(TYPES_TRAITES),
        t.QUALIFIEES_AFFAIRES: set(DEMANDES_TRAITEES),
        t.QUALIFIEES_PLANIFICATION: set(planification.DEMANDES_TRAITEES),
    }


def test_catalogue_routes_a_qualified_demand_by_its_type() -> None:
    spec = spec_for_model(DemandeQualifieeV1)
    assert set(spec.topics) == {t.QUALIFIEES_CONTRATS, t.QUALIFIEES_AFFAIRES, t.QUALIFIEES_PLANIFICATION}
    assert all(topic in t.ALL_TOPICS for topic in spec.topics)
    for demande_type, attendu in (("DemandeDiverse", t.QUALIFIEES_AFFAIRES), ("DemandeCessation", t.QUALIFIEES_CONTRATS),
                                  ("Deplanification", t.QUALIFIEES_PLANIFICATION)):  # fmt: skip
        assert spec.route is not None and spec.route(SimpleNamespace(demande_type=demande_type)) is attendu
    assert spec_for_model(d.DemandeDiverseV1).topics == (t.DEMANDES,)
