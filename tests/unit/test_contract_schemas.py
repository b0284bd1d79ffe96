"""The wire contracts stay backward compatible with their published JSON Schema snapshots."""

import json
from typing import Any

import pytest

from contracts.catalogue import CATALOGUE
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
