"""The wire contracts stay backward compatible with their published JSON Schema snapshots."""

import json
from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel

from contracts.catalogue import CATALOGUE
from contracts.common import EtatAffaire, EtatContractuelPds, EvenementC15, MotifReleve
from contracts.evenements import AffaireStatutChangeV1, DemandeQualifieeV1, DemandeRefuseeV1, FluxC15V1, FluxR15V1, ReleveEnregistreeV1
from contracts.refus import CodeRefus, Etape
from contracts.schemas import SNAPSHOT_DIR, current_schemas, snapshot_name


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return _resolve(schema, schema["$defs"][ref.split("/")[-1]])
    return node


def _types(schema: dict[str, Any], node: dict[str, Any]) -> set[str]:
    node = _resolve(schema, node)
    if "anyOf" in node:
        return set().union(*(_types(schema, n) for n in node["anyOf"]))
    if "enum" in node:
        return {f"enum:{v}" for v in node["enum"]}
    if "const" in node:
        return {f"enum:{node['const']}"}
    return {str(node.get("type", "object"))}


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """What a consumer written against `old` would no longer accept or find in `new`."""
    problems = []
    old_props = old.get("properties", {})
    new_props = new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"{path}{name}: field removed")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{path}{name}: field became required")
    for name, old_node in old_props.items():
        if name not in new_props:
            continue
        old_t, new_t = _types(old, old_node), _types(new, new_props[name])
        if not old_t <= new_t:
            problems.append(f"{path}{name}: type narrowed {sorted(old_t)} -> {sorted(new_t)}")
        o, n = _resolve(old, old_node), _resolve(new, new_props[name])
        if "properties" in o and "properties" in n:
            problems += breaking_changes({**o, "$defs": old.get("$defs", {})}, {**n, "$defs": new.get("$defs", {})}, f"{path}{name}.")
    return problems


@pytest.mark.parametrize("name", sorted(current_schemas()))
def test_message_schema_has_no_breaking_change_against_its_snapshot(name: str) -> None:
    path = SNAPSHOT_DIR / name
    assert path.exists(), f"no snapshot for {name}: run `python -m contracts.schemas write` and commit it"
    old = json.loads(path.read_text())
    assert breaking_changes(old, current_schemas()[name]) == []


def test_breaking_change_detector_flags_removed_required_and_narrowed_fields() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    new = {"properties": {"a": {"type": "integer"}, "c": {"type": "string"}}, "required": ["a", "c"]}
    assert sorted(breaking_changes(old, new)) == [
        "a: type narrowed ['string'] -> ['integer']",
        "b: field removed",
        "c: field became required",
    ]


def test_adding_an_optional_field_is_not_breaking() -> None:
    old = {"properties": {"a": {"type": "string"}}, "required": ["a"]}
    new = {"properties": {"a": {"type": "string"}, "b": {"anyOf": [{"type": "string"}, {"type": "null"}]}}, "required": ["a"]}
    assert breaking_changes(old, new) == []


def test_every_catalogue_entry_is_versioned_and_every_field_described() -> None:
    for spec in CATALOGUE:
        assert spec.model.__name__.endswith(f"V{spec.version}")
        for field_name, field in spec.model.model_fields.items():
            assert field.description, f"{spec.model.__name__}.{field_name} has no description"


def test_snapshot_names_cover_the_catalogue() -> None:
    assert {snapshot_name(s) for s in CATALOGUE} <= set(current_schemas())


def test_a_string_field_turned_enumeration_is_flagged_as_narrowed() -> None:
    old = {"properties": {"etat": {"type": "string"}}, "required": ["etat"]}
    new = {"properties": {"etat": {"enum": ["creee", "soldee"], "type": "string"}}, "required": ["etat"]}
    assert breaking_changes(old, new) == ["etat: type narrowed ['string'] -> ['enum:creee', 'enum:soldee']"]


def test_an_enumeration_value_removed_is_flagged_as_narrowed() -> None:
    old = {"properties": {"statut": {"$ref": "#/$defs/S"}}, "$defs": {"S": {"enum": ["a", "b"]}}}
    new = {"properties": {"statut": {"$ref": "#/$defs/S"}}, "$defs": {"S": {"enum": ["a"]}}}
    assert breaking_changes(old, new) == ["statut: type narrowed ['enum:a', 'enum:b'] -> ['enum:a']"]


def test_examples_and_descriptions_added_to_a_string_field_are_not_breaking() -> None:
    old = {"properties": {"code": {"type": "string", "description": "code"}}, "required": ["code"]}
    new = {"properties": {"code": {"type": "string", "description": "code (see CodeRefus)", "examples": ["PDS_INCONNU"]}}, "required": ["code"]}
    assert breaking_changes(old, new) == []


def test_refusal_code_and_step_stay_open_strings_listing_every_known_value() -> None:
    schema = DemandeRefuseeV1.model_json_schema()["properties"]
    assert schema["code"]["type"] == "string" and "enum" not in schema["code"]
    assert schema["code"]["examples"] == [c.value for c in CodeRefus]
    assert schema["etape"]["type"] == "string" and schema["etape"]["examples"] == [e.value for e in Etape]


def test_state_fields_stay_open_strings_listing_their_enumeration() -> None:
    cases: list[tuple[type[BaseModel], str, type[StrEnum]]] = [
        (AffaireStatutChangeV1, "etat", EtatAffaire),
        (FluxC15V1, "evenement", EvenementC15),
        (FluxR15V1, "motif", MotifReleve),
        (ReleveEnregistreeV1, "motif", MotifReleve),
    ]
    for model, field, enum in cases:
        node = model.model_json_schema()["properties"][field]
        assert node["type"] == "string" and node["examples"] == [v.value for v in enum], f"{model.__name__}.{field}"
    contexte = DemandeQualifieeV1.model_json_schema()["$defs"]["ContextePds"]["properties"]["etat"]
    assert contexte["examples"] == [v.value for v in EtatContractuelPds]
