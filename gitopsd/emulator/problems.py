"""ApiError answers: the one exception every emulator rule raises, and its JSON body.

Owns the error codes the emulator speaks and the ApiError shape (error, errorCode, detail,
reason, parameters). It knows nothing about HTTP transport or state.
"""

from __future__ import annotations

import http

# Atlas error codes the emulator answers with (docs/emulator.md lists when each is sent).
VALIDATION_ERROR = "VALIDATION_ERROR"
INVALID_ATTRIBUTE = "INVALID_ATTRIBUTE"
MISSING_ATTRIBUTE = "MISSING_ATTRIBUTE"
INVALID_ENUM_VALUE = "INVALID_ENUM_VALUE"
INVALID_JSON_ATTRIBUTE = "INVALID_JSON_ATTRIBUTE"
ATTRIBUTE_READ_ONLY = "ATTRIBUTE_READ_ONLY"
INVALID_JSON = "INVALID_JSON"
INVALID_QUERY_PARAMETER = "INVALID_QUERY_PARAMETER"
INVALID_GROUP_ID = "INVALID_GROUP_ID"
UNAUTHORIZED = "UNAUTHORIZED"
TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 - an error code, not a secret
GROUP_NOT_FOUND = "GROUP_NOT_FOUND"
GROUP_NAME_NOT_FOUND = "GROUP_NAME_NOT_FOUND"
CLUSTER_NOT_FOUND = "CLUSTER_NOT_FOUND"
RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
CANNOT_UPDATE_PAUSED_CLUSTER = "CANNOT_UPDATE_PAUSED_CLUSTER"
CLUSTER_NOT_IDLE = "CLUSTER_NOT_IDLE"
BACKUP_NOT_ENABLED = "CLUSTER_BACKUP_NOT_ENABLED"
TENANT_BACKUP_UNSUPPORTED = "TENANT_CLUSTER_BACKUP_UNSUPPORTED"
FLEX_BACKUP_UNSUPPORTED = "FLEX_CLUSTER_BACKUP_UNSUPPORTED"
PIT_REQUIRES_BACKUP = "PIT_REQUIRES_CLOUD_BACKUP"
RATE_LIMITED = "RATE_LIMITED"
VERSION_GONE = "VERSION_GONE"
UNEXPECTED_ERROR = "UNEXPECTED_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"

_CODE_BY_STATUS = {
    400: VALIDATION_ERROR,
    401: UNAUTHORIZED,
    404: RESOURCE_NOT_FOUND,
    410: VERSION_GONE,
    429: RATE_LIMITED,
    500: UNEXPECTED_ERROR,
    503: SERVICE_UNAVAILABLE,
}


class ApiProblemError(Exception):
    """An answer other than success, carried up to the HTTP layer as an ApiError body."""

    def __init__(
        self,
        status: int,
        error_code: str,
        detail: str,
        *,
        parameters: tuple[object, ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(f"{status} {error_code}: {detail}")
        self.status = status
        self.error_code = error_code
        self.detail = detail
        self.parameters = parameters
        self.headers = headers

    def body(self) -> dict[str, object]:
        """The ApiError JSON document."""
        body: dict[str, object] = {
            "error": self.status,
            "errorCode": self.error_code,
            "detail": self.detail,
            "reason": reason(self.status),
            "parameters": [],
        }
        if self.parameters:
            # The spec types ApiError.parameters as objects; field names go in badRequestDetail.
            fields = [{"field": str(p), "description": self.detail} for p in self.parameters]
            body["badRequestDetail"] = {"fields": fields}
        return body


def reason(status: int) -> str:
    """The HTTP reason phrase Atlas puts in ApiError.reason."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def default_code(status: int) -> str:
    """The error code a bare injected status answers with."""
    return _CODE_BY_STATUS.get(status, "UNEXPECTED_ERROR" if status >= 500 else "INVALID_REQUEST")


def invalid(detail: str, *parameters: object) -> ApiProblemError:
    """A 400 VALIDATION_ERROR naming the offending field(s)."""
    return ApiProblemError(400, VALIDATION_ERROR, detail, parameters=parameters)
