"""What a pure decision returns, for domain modules: no I/O here (contracts and the standard library only).

A rule gets a state and answers `Decided(new state, events)`, a `contracts.refus.Refus`, or None (nothing to do).
`platform_kit.handling.decide` loads the aggregate, calls the rule and commits what it decided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from contracts.base import WireModel
from contracts.evenements import DemandeQualifieeV1
from contracts.refus import Etape, Refus, demande_refusee


class _Same(Enum):
    SAME = "same"


#: `Emission.fournisseur` default: the causing message's supplier.
SAME = _Same.SAME


@dataclass(frozen=True)
class Emission:
    """An event with its routing: `key` (default: the causing message's key) and `fournisseur` (default: SAME)."""

    payload: WireModel
    key: str | None = None
    fournisseur: str | _Same | None = SAME


@dataclass(frozen=True)
class Decided:
    """An accepted decision: the aggregate's new state (JSON-ready) and the events it causes, in publishing order."""

    state: Mapping[str, Any]
    events: Sequence[WireModel | Emission] = ()


Verdict = Decided | Refus | None
Refusal = Callable[[Refus], WireModel]


class Outcome(StrEnum):
    """What `handling.decide` did with a message."""

    ALREADY_APPLIED = "already_applied"  # the aggregate records the message: nothing decided, nothing written
    ABSENT = "absent"  # `only_existing` and the aggregate does not exist: nothing written
    NOTHING = "nothing"  # the decide function returned None: nothing written
    COMMITTED = "committed"  # new state and events committed
    REFUSED = "refused"  # the message recorded, the refusal published


def refusal_of(q: DemandeQualifieeV1, etape: Etape) -> Refusal:
    """How a refusal of a qualified demand goes on the wire: its DemandeRefusee from the one builder."""
    return lambda refus: demande_refusee(q.demande_message_id, q.demande_type, q.contexte.pds, refus, etape)
