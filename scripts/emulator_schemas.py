"""Write gitopsd/emulator/request_schemas.json: the request-body schemas the emulator checks.

The emulator runs on the standard library only, so it cannot read the 4 MB OpenAPI document at
run time. This build-time script takes, from the official spec, the request body schema of every
write operation the emulator serves, for every media-type version the spec lists, with every
component it references. Only validation keywords are kept (no descriptions or examples), and
`$ref`s become bare component names. tests/contract/test_emulator_schemas.py regenerates it in
memory and compares.

    python scripts/emulator_schemas.py [SPEC] [OUT]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = ROOT.parent / "shared" / "reference" / "atlas-openapi" / "atlas-api-v2.yaml"
OUT = ROOT / "gitopsd" / "emulator" / "request_schemas.json"
PREFIX = "#/components/schemas/"
MEDIA_PREFIX, MEDIA_SUFFIX = "application/vnd.atlas.", "+json"
# The write operations the emulator serves (gitopsd/emulator/routes.py).
OPERATIONS = (
    ("PATCH", "/api/atlas/v2/groups/{groupId}/clusters/{clusterName}"),
    ("PATCH", "/api/atlas/v2/groups/{groupId}/clusters/{clusterName}/backup/schedule"),
)
KEPT = frozenset(
    {"type", "properties", "required", "items", "enum", "nullable", "readOnly", "writeOnly"}
    | {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems"}
    | {"minLength", "maxLength", "pattern", "additionalProperties", "allOf", "oneOf", "anyOf"}
    | {"discriminator", "$ref"}
)

Json = dict[str, object]


def _name(ref: object) -> str:
    if not isinstance(ref, str) or not ref.startswith(PREFIX):
        raise ValueError(f"unsupported $ref {ref!r}")
    return ref.removeprefix(PREFIX)


def _compact(node: object, wanted: list[str]) -> object:
    """``node`` with only validation keywords, `$ref`s as names (appended to ``wanted``)."""
    if isinstance(node, list):
        return [_compact(item, wanted) for item in node]
    if not isinstance(node, dict):
        return node
    out: Json = {}
    for key, value in node.items():
        if key not in KEPT:
            continue
        if key == "$ref":
            out[key] = _name(value)
            wanted.append(_name(value))
        elif key == "properties":
            assert isinstance(value, dict)
            out[key] = {k: _compact(v, wanted) for k, v in value.items()}
        elif key == "discriminator":
            assert isinstance(value, dict)
            mapping = value.get("mapping", {})
            assert isinstance(mapping, dict)
            wanted.extend(_name(v) for v in mapping.values())
            names = {k: _name(v) for k, v in mapping.items()}
            out[key] = {"propertyName": value["propertyName"], "mapping": names}
        else:
            out[key] = _compact(value, wanted)
    return out


def generate(spec: Json) -> Json:
    """The request schemas document for ``spec`` (a loaded OpenAPI document)."""
    paths = spec["paths"]
    components = spec["components"]
    assert isinstance(paths, dict)
    assert isinstance(components, dict)
    all_schemas = components["schemas"]
    assert isinstance(all_schemas, dict)
    operations: Json = {}
    wanted: list[str] = []
    for method, path in OPERATIONS:
        content = paths[path][method.lower()]["requestBody"]["content"]
        versions: Json = {}
        for media, body in sorted(content.items()):
            if media.startswith(MEDIA_PREFIX) and media.endswith(MEDIA_SUFFIX):
                version = media.removeprefix(MEDIA_PREFIX).removesuffix(MEDIA_SUFFIX)
                versions[version] = _compact(body["schema"], wanted)
        operations[f"{method} {path}"] = versions
    schemas: Json = {}
    while wanted:
        name = wanted.pop()
        if name not in schemas:
            schemas[name] = _compact(all_schemas[name], wanted)
    return {
        "source": "atlas-api-v2.yaml (MongoDB Atlas Admin API v2); made by"
        " scripts/emulator_schemas.py, do not edit",
        "operations": operations,
        "schemas": dict(sorted(schemas.items())),
    }


def load(path: Path) -> Json:
    """The OpenAPI document at ``path``."""
    with path.open(encoding="utf-8") as stream:
        document = YAML(typ="safe").load(stream)
    assert isinstance(document, dict)
    return document


def render(document: Json) -> str:
    """The file's text: stable, one component per line."""
    lines = ["{"]
    lines.append(f'"source": {json.dumps(document["source"])},')
    lines.append(f'"operations": {json.dumps(document["operations"], sort_keys=True)},')
    lines.append('"schemas": {')
    schemas = document["schemas"]
    assert isinstance(schemas, dict)
    entries = [f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in schemas.items()]
    lines.append(",\n".join(entries))
    lines.append("}}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Regenerate the file from the spec."""
    spec = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    out = Path(argv[2]) if len(argv) > 2 else OUT
    out.write_text(render(generate(load(spec))), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
