"""Pure supervision logic: per-minute flow summaries, latency percentiles, backlog deadlines, dead-letter transitions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contracts.common import EtatAffaire, StatutAffaire, TypeAffaire

#: Upper bounds (seconds) of the latency classes counted per minute; the last class is "more than the last bound".
LATENCE_BORNES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
AU_DELA = "inf"

A_TRAITER = "a_traiter"
REEMISSION = "reemission"
REEMISE = "reemise"
ECARTEE = "ecartee"
#: Dead letters shown in the list: not yet dealt with (or being redriven right now).
OUVERTES = (A_TRAITER, REEMISSION)

#: Statuses of a finished affaire: it leaves the open affaires' read model.
TERMINAUX = (StatutAffaire.TERMINEE, StatutAffaire.ANNULEE)
#: États of an affaire waiting for its intervention or tele-operation's answer.
ATTENTE_INTERVENTION = (EtatAffaire.EN_ATTENTE_INTERVENTION, EtatAffaire.INTERVENTION_PLANIFIEE)


def minute(at: datetime) -> str:
    """The per-minute bucket an instant falls in (`YYYY-MM-DDTHH:MM`, UTC as given)."""
    return at.strftime("%Y-%m-%dT%H:%M")


def libelle(borne: float) -> str:
    """The name of a latency class: its upper bound, without a dot (it is a field name in the store)."""
    return f"{borne:g}".replace(".", "_")


def classe_latence(secondes: float) -> str:
    """The latency class (its upper bound as text) a duration falls in."""
    for borne in LATENCE_BORNES:
        if secondes <= borne:
            return libelle(borne)
    return AU_DELA


def percentile(classes: dict[str, int], q: float) -> float | None:
    """Upper bound of the class holding the q-quantile (None without data; inf when beyond the last bound)."""
    total = sum(classes.values())
    if total == 0:
        return None
    rang = q * total
    cumul = 0
    for borne in LATENCE_BORNES:
        cumul += classes.get(libelle(borne), 0)
        if cumul >= rang:
            return borne
    return float("inf")


@dataclass
class MinuteFlux:
    """Counts of one minute: demands received, accepted, refused, by demand type."""

    minute: str
    recues: dict[str, int] = field(default_factory=dict)
    acceptees: dict[str, int] = field(default_factory=dict)
    refusees: dict[str, int] = field(default_factory=dict)

    def total(self, quoi: str) -> int:
        """Sum over the types of one of the three counts."""
        counts: dict[str, int] = getattr(self, quoi)
        return sum(counts.values())


@dataclass
class ResumeFlux:
    """The flow over a window: per-minute counts, totals by type, top refusal codes, latency percentiles."""

    minutes: list[MinuteFlux]
    par_type: dict[str, dict[str, int]]
    codes: list[tuple[str, int]]
    latence: dict[str, float | None]
    mesures: int


def resumer_flux(buckets: list[dict[str, Any]], maintenant: datetime, fenetre_minutes: int, top: int = 10) -> ResumeFlux:
    """Summarise the per-minute bucket documents of the last `fenetre_minutes` (newest minute first)."""
    par_minute = {str(b["_id"]): b for b in buckets}
    minutes: list[MinuteFlux] = []
    par_type: dict[str, dict[str, int]] = {}
    codes: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    for i in range(fenetre_minutes):
        cle = minute(maintenant - timedelta(minutes=i))
        b = par_minute.get(cle, {})
        m = MinuteFlux(cle, dict(b.get("recues", {})), dict(b.get("acceptees", {})), dict(b.get("refusees", {})))
        minutes.append(m)
        for quoi in ("recues", "acceptees", "refusees"):
            for type_, n in getattr(m, quoi).items():
                par_type.setdefault(type_, {"recues": 0, "acceptees": 0, "refusees": 0})[quoi] += n
        codes.update(b.get("codes", {}))
        classes.update(b.get("latences", {}))
    latence = {f"p{int(q * 100)}": percentile(dict(classes), q) for q in (0.5, 0.95, 0.99)}
    classement = sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return ResumeFlux(minutes, dict(sorted(par_type.items())), classement, latence, sum(classes.values()))


@dataclass(frozen=True)
class Delais:
    """When an open affaire counts as late."""

    cf_jours: int = 21
    intervention_heures: int = 48
    etude_jours: int = 30
    affaire_jours: int = 60


def retard(affaire: dict[str, Any], maintenant: datetime, delais: Delais) -> str | None:
    """Why an open affaire is past its deadline (French), or None when it is not."""
    if affaire.get("statut") != StatutAffaire.EN_COURS:
        return None
    age = maintenant - affaire["cree_le"]
    dans_etat = maintenant - affaire.get("etat_depuis", affaire["cree_le"])
    etat = affaire.get("etat", "")
    if affaire.get("type_affaire") == TypeAffaire.CHANGEMENT_FOURNISSEUR and age > timedelta(days=delais.cf_jours):
        return f"changement de fournisseur non réalisé {delais.cf_jours} jours après la demande"
    if etat in ATTENTE_INTERVENTION and dans_etat > timedelta(hours=delais.intervention_heures):
        return f"intervention ou télé-opération sans réponse depuis plus de {delais.intervention_heures} h"
    if etat == EtatAffaire.ETUDE_TECHNIQUE and dans_etat > timedelta(days=delais.etude_jours):
        return f"étude technique en attente depuis plus de {delais.etude_jours} jours"
    if age > timedelta(days=delais.affaire_jours):
        return f"affaire ouverte depuis plus de {delais.affaire_jours} jours"
    return None


@dataclass
class GroupeBacklog:
    """Open affaires of one type in one state: how many, and the age of the oldest."""

    type_affaire: str
    etat: str
    nombre: int
    plus_ancienne: timedelta


@dataclass
class ResumeBacklog:
    """Open affaires grouped by type and state, and those past their deadline (oldest first)."""

    groupes: list[GroupeBacklog]
    en_retard: list[dict[str, Any]]
    ouvertes: int


def resumer_backlog(affaires: list[dict[str, Any]], maintenant: datetime, delais: Delais, limite_retards: int = 100) -> ResumeBacklog:
    """Group the open affaires of the read model and pick the late ones."""
    groupes: dict[tuple[str, str], GroupeBacklog] = {}
    en_retard: list[dict[str, Any]] = []
    ouvertes = 0
    for a in affaires:
        if a.get("statut") != StatutAffaire.EN_COURS:
            continue
        ouvertes += 1
        age = maintenant - a["cree_le"]
        cle = (str(a.get("type_affaire")), str(a.get("etat")))
        g = groupes.get(cle)
        if g is None:
            groupes[cle] = GroupeBacklog(cle[0], cle[1], 1, age)
        else:
            g.nombre += 1
            g.plus_ancienne = max(g.plus_ancienne, age)
        pourquoi = retard(a, maintenant, delais)
        if pourquoi is not None:
            en_retard.append({**a, "age": age, "retard": pourquoi})
    en_retard.sort(key=lambda a: a["cree_le"])
    return ResumeBacklog(sorted(groupes.values(), key=lambda g: (g.type_affaire, g.etat)), en_retard[:limite_retards], ouvertes)


class TransitionRefusee(Exception):
    """A dead letter cannot go from its current state through this action (already redriven or discarded)."""


ACTIONS: dict[str, tuple[str, str]] = {
    # action: (state it requires, state it leads to)
    "reemettre": (A_TRAITER, REEMISSION),
    "confirmer": (REEMISSION, REEMISE),
    "annuler_reemission": (REEMISSION, A_TRAITER),
    "ecarter": (A_TRAITER, ECARTEE),
}


def transition(etat: str, action: str) -> str:
    """The state a dead letter reaches through an action (TransitionRefusee when its state does not allow it)."""
    avant, apres = ACTIONS[action]
    if etat != avant:
        raise TransitionRefusee(f"lettre morte à l'état {etat} : action {action} impossible")
    return apres


def lire_origine(origine: str) -> tuple[str, int | None, int | None]:
    """Split an `x-origin` header (`topic/partition/offset`) into its parts (None where unreadable)."""
    topic, _, reste = origine.partition("/")
    partition, _, offset = reste.partition("/")
    return topic, int(partition) if partition.isdigit() else None, int(offset) if offset.isdigit() else None


def duree(d: timedelta) -> str:
    """A short French rendering of an age: `3 j 4 h`, `2 h 05 min`, `42 s`."""
    s = int(d.total_seconds())
    if s >= 86400:
        return f"{s // 86400} j {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{max(s, 0)} s"
