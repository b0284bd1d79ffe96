"""Pure rules of the passerelle: a demand's channel must be its sender's; an outgoing message goes to its supplier only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from contracts import topics as t
from contracts.catalogue import spec_for
from contracts.envelope import Envelope, new_envelope
from contracts.evenements import DemandeRefuseeV1
from contracts.references import event_id
from contracts.refus import CodeRefus, Etape, Refus, demande_refusee

_CANAL = re.compile(r"^grd\.fournisseurs\.([A-Z][A-Z0-9_]{1,31})\.demandes\.v1$")

#: Where each internal topic's messages go for the supplier they concern (the envelope's `fournisseur`): its
#: outcomes, its affaires' events, and the C15/R15 addressed to it (contrats emits one C15 per supplier entering or
#: leaving, referentiel one R15 to the holder, each with that supplier as `fournisseur`).
SORTANTS: dict[str, Callable[[str], t.Topic]] = {
    t.DEMANDES_RESULTATS.name: t.fournisseur_resultats,
    t.AFFAIRES_EVENEMENTS.name: t.fournisseur_affaires,
    t.FLUX_C15.name: t.fournisseur_flux,
    t.FLUX_R15.name: t.fournisseur_flux,
}


def fournisseur_du_canal(topic: str) -> str | None:
    """The supplier whose inbound topic this is (None for any other topic)."""
    m = _CANAL.match(topic)
    return m.group(1) if m else None


def _pds(env: Envelope) -> str | None:
    pds = env.payload.get("pds")
    return pds if isinstance(pds, str) else None


def controle_canal(canal: str, env: Envelope) -> Refus | None:
    """Why a demand received on `canal`'s inbound topic is refused, or None when it may go on to the référentiel."""
    if not env.fournisseur:
        return Refus(
            CodeRefus.FOURNISSEUR_ABSENT,
            "Demande refusée : l'enveloppe ne précise pas le fournisseur émetteur. Renseignez votre code fournisseur "
            f"({canal}) dans le champ « fournisseur » de l'enveloppe et renvoyez la demande.",
        )
    if env.fournisseur != canal:
        return Refus(
            CodeRefus.FOURNISSEUR_NON_CONFORME,
            f"Demande refusée : elle est faite au nom du fournisseur « {env.fournisseur} » mais a été déposée "
            f"sur le canal du fournisseur {canal}. Un fournisseur ne peut agir qu'en son nom propre.",
        )
    spec = spec_for(env.type, env.version)
    if spec is None or t.DEMANDES not in spec.topics:
        return Refus(
            CodeRefus.TYPE_NON_ACCEPTE,
            f"Demande refusée : le type de message « {env.type} » (version {env.version}) n'est pas une demande fournisseur.",
        )
    return None


def controler(canal: str, env: Envelope) -> DemandeRefuseeV1 | None:
    """The DemandeRefusee of a demand received on `canal`'s inbound topic, or None when it may go on to the référentiel."""
    refus = controle_canal(canal, env)
    return None if refus is None else demande_refusee(env.message_id, env.type, _pds(env), refus, Etape.PASSERELLE)


def illisible(detail: str) -> DemandeRefuseeV1:
    """The refusal of a record whose envelope cannot be read."""
    refus = Refus(CodeRefus.MESSAGE_INVALIDE, f"Demande refusée : le message n'est pas une enveloppe lisible ({detail[:200]}).")
    return demande_refusee(None, None, None, refus, Etape.PASSERELLE)


def cause_illisible(topic: str, partition: int, offset: int) -> uuid.UUID:
    """A stable id for an unreadable record (its place in the log), so its refusal is the same on redelivery."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"kafka:{topic}/{partition}/{offset}")


def enveloppe_refus(canal: str, refus: DemandeRefuseeV1, cause: uuid.UUID, key: str, correlation: uuid.UUID | None = None) -> Envelope:
    """The outcome envelope of a refused demand, addressed to the channel's supplier; its id derives from the demand's."""
    return new_envelope(
        refus,
        key=key,
        fournisseur=canal,
        correlation_id=correlation or cause,
        causation_id=cause,
        message_id=event_id(cause, Etape.PASSERELLE.value, "refus"),
    )


def copie_pour_fournisseur(topic_source: str, env: Envelope) -> tuple[str, Envelope] | None:
    """The (topic, envelope) re-published to the supplier concerned, or None when the message concerns no supplier.

    The copy's id derives from the original's and the destination: publishing it again is a duplicate the supplier
    can drop. `causation_id` points at the original.
    """
    destination = SORTANTS.get(topic_source)
    code = env.fournisseur
    if destination is None or not code or not re.fullmatch(t.CODE_FOURNISSEUR_MOTIF, code):
        return None
    topic = destination(code).name
    return topic, env.model_copy(update={"message_id": event_id(env.message_id, Etape.PASSERELLE.value, topic), "causation_id": env.message_id})
