"""The envelope around every message on every topic."""

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from contracts.base import WireModel


class Envelope(WireModel):
    """Metadata common to every message; `payload` is validated against the model named by (type, version)."""

    message_id: uuid.UUID = Field(description="Unique id of this message; consumers deduplicate on it.")
    type: str = Field(description="Message type name, e.g. DemandeChangementFournisseur.", min_length=1, max_length=64)
    version: int = Field(default=1, ge=1, description="Version of the message type (breaking change = new version).")
    occurred_at: datetime = Field(description="When the fact happened or the command was issued (UTC).")
    correlation_id: uuid.UUID = Field(description="Id shared by every message of one business flow (the original demand's id).")
    causation_id: uuid.UUID | None = Field(default=None, description="Id of the message that directly caused this one.")
    fournisseur: str | None = Field(
        default=None, description="Code of the supplier acting or concerned, when there is one.", min_length=1, max_length=32
    )
    key: str = Field(
        description="Partitioning key: the full PDS reference (or a stable surrogate when there is no PDS); for a demand, its PDS.",
        min_length=1,
        max_length=64,
    )
    payload: dict[str, Any] = Field(description="The message body, validated against the catalogue's model for (type, version).")


def new_envelope(
    payload: WireModel,
    *,
    key: str,
    fournisseur: str | None,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Wrap a payload in an envelope, looking its type and version up in the catalogue."""
    from contracts.catalogue import spec_for_model

    spec = spec_for_model(type(payload))
    mid = message_id or uuid.uuid4()
    return Envelope(
        message_id=mid,
        type=spec.type,
        version=spec.version,
        occurred_at=occurred_at or datetime.now(UTC),
        correlation_id=correlation_id or mid,
        causation_id=causation_id,
        fournisseur=fournisseur,
        key=key,
        payload=payload.model_dump(mode="json"),
    )
