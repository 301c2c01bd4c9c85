"""Request-body validation against the spec's schemas, as Atlas refuses a malformed body.

Owns reading `request_schemas.json` (made from the official spec by
scripts/emulator_schemas.py) and checking one body against one operation's schema for one
media-type version: types, required, enums, bounds, array sizes, patterns, read-only fields
sent and unknown fields. The first problem found is raised as a 400 ApiError naming the
field. Atlas's own rules beyond the schema (intervals per frequency, retention order) live in
`schedules` and `state`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path

from gitopsd.emulator import problems

Schema = Mapping[str, object]
SCHEMAS_FILE = Path(__file__).with_name("request_schemas.json")
_COMBINERS = ("allOf", "oneOf", "anyOf", "discriminator", "$ref")
_INDEX = re.compile(r"\[\d+\]")
# Read-only in the spec, yet Atlas takes it in a PATCH to say which item is being updated
# (the emulator keeps that item's id).
_ACCEPTED_READ_ONLY = frozenset({"policies[].policyItems[].id"})
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


@functools.cache
def _document() -> Mapping[str, Mapping[str, object]]:
    document = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def versions(operation: str) -> tuple[str, ...]:
    """The media-type versions the spec lists for an operation's request body."""
    found = _document()["operations"].get(operation, {})
    assert isinstance(found, dict)
    return tuple(sorted(found))


def check(operation: str, version: str, body: object) -> None:
    """Raise a 400 ApiError for the first way ``body`` breaks the operation's schema."""
    by_version = _document()["operations"][operation]
    assert isinstance(by_version, dict)
    _check(by_version[version], body, "")


def _schemas() -> Mapping[str, Schema]:
    schemas = _document()["schemas"]
    assert isinstance(schemas, dict)
    return schemas


def _resolve(schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = _schemas()[str(schema["$ref"])]
    return schema


def _flatten(schema: Schema) -> dict[str, object]:
    """``schema`` with its allOf parts merged in; a part's own oneOf is not followed."""
    schema = _resolve(schema)
    flat = {k: v for k, v in schema.items() if k not in _COMBINERS}
    properties = dict(_as_map(flat.get("properties")))
    required = set(_as_list(flat.get("required")))
    for part in _as_list(schema.get("allOf")):
        merged = _flatten(_as_map(part))
        properties |= _as_map(merged.pop("properties", {}))
        required |= set(_as_list(merged.pop("required", [])))
        for key, value in merged.items():
            flat.setdefault(key, value)
    flat["properties"], flat["required"] = properties, sorted(str(r) for r in required)
    return flat


def _with(base: Schema, other: Schema) -> dict[str, object]:
    flat = dict(base)
    extra = _flatten(other)
    flat["properties"] = {**_as_map(base.get("properties")), **_as_map(extra["properties"])}
    flat["required"] = sorted(
        {str(r) for r in (*_as_list(base.get("required")), *_as_list(extra["required"]))}
    )
    for key, value in extra.items():
        flat.setdefault(key, value)
    return flat


def _as_map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _field(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _refuse(code: str, field: str, detail: str) -> problems.ApiProblemError:
    return problems.ApiProblemError(400, code, detail, parameters=(field,))


def _check(schema: Schema, value: object, path: str) -> None:
    schema = _resolve(schema)
    base = _flatten(schema)
    discriminator = _as_map(schema.get("discriminator"))
    if discriminator and isinstance(value, dict):
        key = str(discriminator["propertyName"])
        field, chosen = _field(path, key), value.get(key)
        if chosen is None:
            detail = f"The required attribute {field} was not specified."
            raise _refuse(problems.MISSING_ATTRIBUTE, field, detail)
        target = _as_map(discriminator["mapping"]).get(str(chosen))
        if target is None:
            raise _enum_refusal(field, chosen)
        _check_flat(_with(base, {"$ref": target}), value, path)
        return
    branches = _as_list(schema.get("oneOf")) or _as_list(schema.get("anyOf"))
    if not branches:
        _check_flat(base, value, path)
        return
    first: problems.ApiProblemError | None = None
    for branch in branches:
        try:
            _check_flat(_with(base, _as_map(branch)), value, path)
        except problems.ApiProblemError as refusal:
            first = first or refusal
        else:
            return
    assert first is not None
    raise first


def _enum_refusal(field: str, value: object) -> problems.ApiProblemError:
    detail = f"An invalid enumeration value {json.dumps(value)} was specified for {field}."
    return _refuse(problems.INVALID_ENUM_VALUE, field, detail)


def _is_type(value: object, name: str) -> bool:
    if isinstance(value, bool) and name != "boolean":
        return False
    if isinstance(value, float) and name == "integer":
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def _check_flat(schema: Schema, value: object, path: str) -> None:
    field = path or "body"
    if value is None:
        if schema.get("nullable") is True:
            return
        detail = f"Received JSON for the {field} attribute does not match expected format."
        raise _refuse(problems.INVALID_JSON_ATTRIBUTE, field, detail)
    kind = schema.get("type") or ("object" if schema.get("properties") else None)
    if isinstance(kind, str) and not _is_type(value, kind):
        detail = f"Received JSON for the {field} attribute does not match expected format."
        raise _refuse(problems.INVALID_JSON_ATTRIBUTE, field, f"{detail} It must be {kind}.")
    enum = _as_list(schema.get("enum"))
    if enum and value not in enum:
        raise _enum_refusal(field, value)
    _check_bounds(schema, value, field)
    if isinstance(value, list):
        for n, item in enumerate(value):
            _check(_as_map(schema.get("items")), item, f"{path}[{n}]")
    if isinstance(value, dict):
        _check_object(schema, value, path)


def _check_bounds(schema: Schema, value: object, field: str) -> None:
    def too(what: str) -> problems.ApiProblemError:
        return _refuse(problems.VALIDATION_ERROR, field, f"{field} must be {what}.")

    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, int | float) and value < low:
            raise too(f"at least {low}, got {value}")
        if isinstance(high, int | float) and value > high:
            raise too(f"at most {high}, got {value}")
    if isinstance(value, list | str):
        noun = "items" if isinstance(value, list) else "characters"
        low, high = (
            schema.get("minItems", schema.get("minLength")),
            schema.get("maxItems", schema.get("maxLength")),
        )
        if isinstance(low, int) and len(value) < low:
            raise too(f"at least {low} {noun}, got {len(value)}")
        if isinstance(high, int) and len(value) > high:
            raise too(f"at most {high} {noun}, got {len(value)}")
    pattern = schema.get("pattern")
    if isinstance(value, str) and isinstance(pattern, str) and not re.search(pattern, value):
        raise too(f"a string matching {pattern}")


def _check_object(schema: Schema, value: Mapping[str, object], path: str) -> None:
    properties = _as_map(schema.get("properties"))
    extra = schema.get("additionalProperties")
    for key in sorted(value):
        field = _field(path, key)
        if key in properties:
            declared = _as_map(properties[key])
            read_only = declared.get("readOnly") or _resolve(declared).get("readOnly")
            if read_only and _INDEX.sub("[]", field) not in _ACCEPTED_READ_ONLY:
                detail = f"Attribute {field} is read-only and cannot be changed."
                raise _refuse(problems.ATTRIBUTE_READ_ONLY, field, detail)
            _check(declared, value[key], field)
        elif isinstance(extra, dict):
            _check(extra, value[key], field)
        elif extra is not True:
            raise _refuse(
                problems.INVALID_ATTRIBUTE, field, f"Invalid attribute {field} specified."
            )
    for name in _as_list(schema.get("required")):
        if str(name) not in value:
            field = _field(path, str(name))
            detail = f"The required attribute {field} was not specified."
            raise _refuse(problems.MISSING_ATTRIBUTE, field, detail)
