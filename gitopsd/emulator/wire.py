"""The emulator's inside: the Hub (all state behind one lock) and transport-neutral values.

Request and Response are what the HTTP layer translates to and from. This module owns the
lock, the request log and JSON encoding of answers. It does not parse HTTP or decide Atlas
rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping

from gitopsd.emulator import auth, faults, problems, state

ERROR_MEDIA_TYPE = "application/json"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One HTTP request, already read off the socket."""

    method: str
    target: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""
    version: str = ""  # the media-type version negotiated for the answer, once routed

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """One answer: status, headers, body; or a dropped connection; after a delay."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    drop: bool = False
    delay_s: float = 0.0

    @property
    def media_type(self) -> str | None:
        """The Content-Type this answer carries, if any."""
        return next((v for k, v in self.headers if k.lower() == "content-type"), None)


def json_response(
    status: int,
    document: object,
    media_type: str = ERROR_MEDIA_TYPE,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """A JSON answer with its media type."""
    body = json.dumps(document, indent=None, sort_keys=False).encode()
    return Response(status=status, headers=(("Content-Type", media_type), *headers), body=body)


def problem_response(
    problem: problems.ApiProblemError, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """An ApiError answer."""
    return json_response(problem.status, problem.body(), headers=(*problem.headers, *headers))


def json_body(request: Request) -> dict[str, object]:
    """The request body as a JSON object, or a 400 problem."""
    try:
        document = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise problems.ApiProblemError(
            400, problems.INVALID_JSON, f"the request body is not valid JSON: {exc}"
        ) from None
    if not isinstance(document, dict):
        raise problems.ApiProblemError(
            400, problems.INVALID_JSON, "the request body must be a JSON object"
        )
    return document


class Hub:
    """Everything the emulator knows, guarded by `lock` (take it for every read or write)."""

    def __init__(
        self,
        *,
        credentials: auth.Credentials,
        token_lifetime_s: float,
        updating_s: float,
        clock: Callable[[], float],
        seed: int,
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.base_url = ""
        self.world = state.World(clock=clock, seed=seed)
        self.world.updating_s = updating_s
        self.auth = auth.Authenticator(credentials, token_lifetime_s=token_lifetime_s, clock=clock)
        self.faults = faults.FaultPlan()
        self.limiter: faults.TokenBucket | None = None
        self.log: list[dict[str, object]] = []

    def record(self, request: Request, response: Response, scheme: str | None) -> None:
        """Append one line to the request log."""
        self.log.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "status": None if response.drop else response.status,
                "dropped": response.drop,
                "accept": request.header("accept"),
                "contentType": request.header("content-type"),
                "mediaType": None if response.drop else response.media_type,
                "auth": scheme,
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            }
        )
