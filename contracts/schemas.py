"""JSON Schema snapshots of every message: `python -m contracts.schemas write` refreshes contracts/schemas/*.json.

A snapshot is the published contract of one (type, version). The compatibility test compares the current models
with the snapshots and fails on a breaking change (a removed field, a new required field, a changed type):
such a change must be a new `…V2` model beside the `…V1` one.
"""

import json
import sys
from pathlib import Path
from typing import Any

from contracts.catalogue import CATALOGUE, MessageSpec
from contracts.envelope import Envelope

SNAPSHOT_DIR = Path(__file__).parent / "schemas"


def snapshot_name(spec: MessageSpec) -> str:
    """File name of a message's snapshot."""
    return f"{spec.type}.v{spec.version}.json"


def current_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every catalogue message and of the envelope, by snapshot file name."""
    out = {snapshot_name(s): s.model.model_json_schema() for s in CATALOGUE}
    out["Envelope.json"] = Envelope.model_json_schema()
    return out


def write() -> None:
    """Rewrite every snapshot from the current models."""
    SNAPSHOT_DIR.mkdir(exist_ok=True)
    for name, schema in current_schemas().items():
        (SNAPSHOT_DIR / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["write"]:
        write()
    else:
        print("usage: python -m contracts.schemas write")
