"""Wire types shared by every service and by upstream/downstream systems: envelope, messages, topics."""

from contracts.catalogue import CATALOGUE, MessageSpec, payload_model, spec_for
from contracts.envelope import Envelope, new_envelope
from contracts.references import event_id, reference_affaire

__all__ = [
    "CATALOGUE",
    "Envelope",
    "MessageSpec",
    "event_id",
    "new_envelope",
    "payload_model",
    "reference_affaire",
    "spec_for",
]
