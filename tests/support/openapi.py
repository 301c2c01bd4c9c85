r"""Validate HTTP exchanges against the Atlas mock OpenAPI document, ``atlas-backup-mock.yaml``.

The document lives in ``../shared/reference/atlas-openapi/`` next to the repository, or under
``$GITOPSD_REFERENCE_DIR``; without it callers skip, except in CI (``CI=true``) where they fail.

    validate_response("GET", "/api/atlas/v2/groups/.../backup/schedule", 200, headers, body)

raises ``AssertionError`` listing every schema error (``policies[0].policyItems[0].frequencyType:
'fortnightly' is not one of [...]``). The document is loaded and checked once per process.

Changes made to the loaded copy (the file itself is untouched):

- ``servers`` becomes ``/``, so only the path is matched: requests to ``http://127.0.0.1:<port>``
  resolve like requests to ``https://cloud.mongodb.com``.
- ``\p{L}\p{N}`` in a ``pattern`` (the group name) becomes ``\w``: Python's ``re`` has no
  Unicode property classes, and openapi-spec-validator rejects the document without this.
- The dated ``application/vnd.atlas.<date>+json`` media types are registered as JSON; openapi-core
  knows only ``application/json`` and would check the raw bytes against the schema.

``strict=True`` treats every schema without ``additionalProperties`` as closed, so an emulator
that invents or misspells a field fails. Use it for the backup schedule (its examples pass), not
for clusters: OpenAPI 3.0 has no ``unevaluatedProperties``, so a closed ``allOf`` branch rejects its
siblings' fields, and the cluster examples' ``regionConfigs`` fail. Request validation checks
parameters and body only: openapi-core cannot check OAuth2 (Prism does).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.validators import (
    V30RequestBodyValidator,
    V30RequestParametersValidator,
)
from openapi_core.validation.response.validators import V30ResponseValidator
from ruamel.yaml import YAML

from gitopsd.adapters.http_transport import StdlibTransport
from gitopsd.emulator import Emulator

REFERENCE_ENV = "GITOPSD_REFERENCE_DIR"
DEFAULT_REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
MOCK_SPEC = Path("atlas-openapi") / "atlas-backup-mock.yaml"
SUBSET_SPEC = "atlas-backup-subset.yaml"

# Any host: only the path is matched.
HOST_URL = "http://127.0.0.1"
# Python's re has no \p{..}; inside a character class \w is letters, digits and underscore.
PATTERN_REWRITES = {r"\p{L}\p{N}": r"\w"}
MAX_ALTERNATIVES = 3

Document = dict[str, Any]


def in_ci() -> bool:
    """Whether this run is CI, where missing reference material fails instead of skipping."""
    return os.environ.get("CI") == "true"


def skip_or_fail(message: str) -> NoReturn:
    """Skip the test locally; fail it in CI, where the contract tests must run."""
    if in_ci():
        pytest.fail(f"{message}; CI must run the contract tests", pytrace=False)
    pytest.skip(message)


def mock_spec_path() -> Path:
    """The path of ``atlas-backup-mock.yaml``; skip (fail in CI) when it is absent."""
    reference = Path(os.environ.get(REFERENCE_ENV) or DEFAULT_REFERENCE)
    path = reference / MOCK_SPEC
    if not path.is_file():
        skip_or_fail(
            f"Atlas mock OpenAPI document not found: {path} (the reference directory defaults"
            f" to {DEFAULT_REFERENCE}; {REFERENCE_ENV} overrides it)"
        )
    return path


@functools.cache
def _raw_document(path: Path) -> Document:
    document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path}: not a YAML mapping"
    return document


def document() -> Document:
    """The mock document as published (parsed once); do not mutate it."""
    return _raw_document(mock_spec_path())


def example(method: str, path_template: str, status: int = 200) -> Any:
    """The mock's own example body for one response, e.g. ``example("GET", SCHEDULE_PATH)``."""
    responses = document()["paths"][path_template][method.lower()]["responses"]
    (media,) = responses[str(status)]["content"].values()
    return media["example"]


def examples() -> Iterator[tuple[str, str, int, str, Any]]:
    """Every example in the document: (method, path template, status, media type, body)."""
    for template, item in document()["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, response in operation["responses"].items():
                for media_type, media in response.get("content", {}).items():
                    if "example" in media:
                        yield method.upper(), template, int(status), media_type, media["example"]


def _json_media_types(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "content" and isinstance(value, dict):
                yield from (media for media in value if media.endswith("+json"))
            yield from _json_media_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _json_media_types(value)


def _patched(raw: Document) -> Document:
    text = json.dumps(raw, default=str)
    for unsupported, python in PATTERN_REWRITES.items():
        text = text.replace(json.dumps(unsupported)[1:-1], json.dumps(python)[1:-1])
    patched: Document = json.loads(text)
    patched["servers"] = [{"url": "/"}]
    return patched


@functools.cache
def _api(path: Path, *, strict: bool) -> OpenAPI:
    patched = _patched(_raw_document(path))
    config = Config(
        extra_media_type_deserializers=dict.fromkeys(_json_media_types(patched), json.loads),
        additional_properties_default_policy="forbid" if strict else "allow",
    )
    return OpenAPI.from_dict(patched, config=config)  # also validates the document itself


@functools.cache
def _validators(
    path: Path, *, strict: bool
) -> tuple[V30RequestParametersValidator, V30RequestBodyValidator, V30ResponseValidator]:
    api = _api(path, strict=strict)
    options: dict[str, Any] = {
        "extra_media_type_deserializers": api.config.extra_media_type_deserializers,
        "forbid_unspecified_additional_properties": strict,
    }
    return (
        V30RequestParametersValidator(api.spec, **options),
        V30RequestBodyValidator(api.spec, **options),
        V30ResponseValidator(api.spec, **options),
    )


def _location(error: Any) -> str:  # error: a jsonschema ValidationError
    location = ""
    for part in error.absolute_path:
        location += f"[{part}]" if isinstance(part, int) else f".{part}"
    return location.lstrip(".") or "(body)"


def _describe(error: Exception) -> Iterator[str]:
    """Readable lines for one openapi-core error: each schema error with where it is."""
    schema_errors = getattr(error.__cause__, "schema_errors", None) or ()
    if not schema_errors:
        yield f"{type(error).__name__}: {error}"
        return
    for schema_error in schema_errors:
        line = f"{_location(schema_error)}: {schema_error.message}"
        branches = dict.fromkeys(  # anyOf/oneOf: why each alternative failed
            f"{_location(branch)}: {branch.message}" for branch in schema_error.context or ()
        )
        if branches:
            line += " (alternatives: " + "; ".join(list(branches)[:MAX_ALTERNATIVES]) + ")"
        yield line


def _request(method: str, url_path: str, headers: Mapping[str, str], body: bytes) -> MockRequest:
    parts = urlsplit(url_path)
    lowered = {name.lower(): value for name, value in headers.items()}
    return MockRequest(
        HOST_URL,
        method,
        parts.path,
        args=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=dict(headers),
        data=body,
        content_type=lowered.get("content-type", "application/json"),
    )


def _fail(what: str, errors: list[Exception]) -> None:
    if errors:
        described = dict.fromkeys(line for error in errors for line in _describe(error))
        lines = "\n".join(f"  - {line}" for line in described)
        raise AssertionError(f"{what} does not match {MOCK_SPEC.name}:\n{lines}")


def validate_request(
    method: str,
    url_path: str,
    headers: Mapping[str, str],
    body_bytes: bytes = b"",
    *,
    strict: bool = False,
) -> None:
    """Assert that a request's path, query, headers and body match the mock document."""
    request = _request(method, url_path, headers, body_bytes)
    parameters, body, _ = _validators(mock_spec_path(), strict=strict)
    errors = list(parameters.iter_errors(request))
    if body_bytes:
        errors += body.iter_errors(request)
    _fail(f"request {method.upper()} {url_path}", errors)


def validate_response(
    method: str,
    url_path: str,
    status: int,
    headers: Mapping[str, str],
    body_bytes: bytes,
    *,
    strict: bool = False,
) -> None:
    """Assert that a response (status, headers, body) is one the document allows for the request.

    ``url_path`` is the request's path, with or without query and scheme/host.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    response = MockResponse(
        body_bytes,
        status,
        headers=dict(headers),
        content_type=lowered.get("content-type", "application/json"),
    )
    request = _request(method, url_path, {}, b"")
    *_, validator = _validators(mock_spec_path(), strict=strict)
    _fail(
        f"response {status} to {method.upper()} {url_path}",
        list(validator.iter_errors(request, response)),
    )


def validate_httpx_response(response: httpx.Response, *, strict: bool = False) -> None:
    """Validate an ``httpx.Response`` (from the emulator) and the request that produced it."""
    request = response.request
    validate_request(
        request.method, str(request.url), request.headers, request.content, strict=strict
    )
    validate_response(
        request.method,
        str(request.url),
        response.status_code,
        response.headers,
        response.content,
        strict=strict,
    )


@functools.cache
def _api_error_validator() -> Any:
    import jsonschema

    # The root document is the schema; the $ref resolves inside it (draft 7 ignores siblings).
    root = {**document(), "$ref": "#/components/schemas/ApiError"}
    return jsonschema.Draft7Validator(root)


def validate_api_error(body_bytes: bytes) -> None:
    """Assert that a body is an ApiError as the document's components define it.

    For the statuses Atlas can give any operation (406, 410, 415, 429, 5xx) that an operation
    does not list itself.
    """
    errors = list(_api_error_validator().iter_errors(json.loads(body_bytes)))
    _fail("ApiError body", errors)


@contextlib.contextmanager
def checked_client(atlas: Emulator) -> Iterator[httpx.Client]:
    """A digest-auth client of ``atlas`` whose every API response is checked against the spec."""
    auth = httpx.DigestAuth(atlas.credentials.public_key, atlas.credentials.private_key)
    hooks = {"response": [check_emulator_response]}
    with httpx.Client(base_url=atlas.url, auth=auth, timeout=5, event_hooks=hooks) as http:
        yield http


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    """Status, errorCode and named field of an answer that must be a spec-valid ApiError."""
    validate_api_error(response.content)
    error = response.json()
    field = error["badRequestDetail"]["fields"][0]["field"]
    assert field in error["detail"]
    return response.status_code, error["errorCode"], field


@functools.cache
def _component_validators() -> dict[str, Any]:
    from openapi_schema_validator import OAS30ReadValidator

    subset = _patched(_raw_document(mock_spec_path().parent / SUBSET_SPEC))
    names = subset["components"]["schemas"]
    return {
        name: OAS30ReadValidator({**subset, "$ref": f"#/components/schemas/{name}"})
        for name in names
    }


def validate_component(name: str, body: object) -> None:
    """Assert that a response body matches a component of ``atlas-backup-subset.yaml``.

    The verbatim subset keeps every media-type version, so this checks answers in versions
    the mock does not serve. Only for components without discriminator cycles (schedules).
    """
    errors = list(_component_validators()[name].iter_errors(body))
    if errors:
        lines = "\n".join(f"  - {_location(e)}: {e.message}" for e in errors)
        raise AssertionError(f"{name} body does not match {SUBSET_SPEC}:\n{lines}")


# Responses the official document does not list for an operation, on purpose
# (docs/emulator.md): (method, path suffix, status). Their bodies must still be ApiErrors.
UNDOCUMENTED = {("GET", "/clusters", 400)}  # itemsPerPage over 500
# Statuses Atlas gives any operation without each operation listing them.
GENERIC = {406, 410, 415, 429, 500, 502, 503}


def check_emulator_response(response: httpx.Response, request: httpx.Request | None = None) -> None:
    """Every Atlas API response the emulator gives must match the official schema (SPEC §7).

    Admin (``/_emulator/``) and token responses are not part of the document and pass.
    ``request`` is needed where the response is not yet bound to it (inside a transport).
    """
    request = request or response.request
    path = request.url.path
    if not path.startswith("/api/atlas/v2/"):
        return
    response.read()
    if response.status_code in GENERIC or any(
        request.method == method and path.endswith(suffix) and response.status_code == status
        for method, suffix, status in UNDOCUMENTED
    ):
        validate_api_error(response.content)
        return
    headers = dict(response.headers)
    media = response.headers.get("content-type", "")
    other = _other_version(request.method, path, response.status_code, media)
    if other is not None:
        served, component = other
        if served is None:
            validate_component(component, response.json())
            return
        headers["content-type"] = served  # the mock's version, with the same schema
    validate_response(
        request.method, str(request.url), response.status_code, headers, response.content
    )


def _template(url_path: str) -> str | None:
    for template in document()["paths"]:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), url_path):
            return str(template)
    return None


def _other_version(
    method: str, url_path: str, status: int, media: str
) -> tuple[str | None, str] | None:
    """Where to check an answer in a version the mock lacks (None: the mock serves it).

    The mock's media type when the spec gives both the same schema (else None), and the
    component the verbatim subset names for ``media``.
    """
    template = _template(url_path)
    if template is None or not 200 <= status < 300:
        return None
    key = str(status)
    mock = document()["paths"][template][method.lower()]["responses"].get(key, {})
    if media in mock.get("content", {}):
        return None
    subset = _raw_document(mock_spec_path().parent / SUBSET_SPEC)
    content = subset["paths"][template][method.lower()]["responses"][key]["content"]
    wanted = content[media]["schema"]["$ref"]
    same = next(
        (m for m in mock.get("content", {}) if content[m]["schema"]["$ref"] == wanted), None
    )
    return same, wanted.rsplit("/", 1)[-1]


class ConformingTransport(StdlibTransport):
    """An HTTP transport that checks every emulator API response against the document."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send, read, check, and hand the response back."""
        response = super().handle_request(request)
        response.read()
        check_emulator_response(response, request)
        return response
