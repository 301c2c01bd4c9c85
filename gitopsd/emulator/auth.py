"""Who may call the emulated Atlas: OAuth2 client-credential tokens and HTTP Digest API keys.

Owns the accepted credentials, the issued bearer tokens with their expiry, the digest nonces,
and the check run on every /api/atlas/v2 request. It must not touch cluster state. Callers
hold the emulator's lock around every method.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable

from gitopsd.emulator import problems

REALM = "MMS Public API"
_MAX_NONCES = 1024


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """The one service account and the one API key the emulator accepts."""

    client_id: str = "mdb_sa_id_gitopsd_emulator"
    client_secret: str = "mdb_sa_sk_gitopsd_emulator_secret"  # noqa: S105 - a published test credential
    public_key: str = "emulatorpub"
    private_key: str = "00000000-0000-4000-8000-emulatorpriv"

    def as_json(self) -> dict[str, str]:
        """The credentials as printed by the CLI and returned by the admin API."""
        return {
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "publicKey": self.public_key,
            "privateKey": self.private_key,
        }


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _parse_digest(header: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    rest = header.strip()
    while rest:
        key, sep, rest = rest.partition("=")
        if not sep:
            break
        rest = rest.lstrip()
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
            value = value.strip()
        fields[key.strip().lower()] = value
        rest = rest.lstrip().removeprefix(",").lstrip()
    return fields


def _basic_refused(detail: str) -> problems.ApiProblemError:
    challenge = f'Basic realm="{REALM}"'
    return problems.ApiProblemError(
        401, problems.UNAUTHORIZED, detail, headers=(("WWW-Authenticate", challenge),)
    )


class Authenticator:
    """Issues tokens and checks the Authorization header of API requests."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        token_lifetime_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.credentials = credentials
        self.token_lifetime_s = token_lifetime_s
        self._clock = clock
        self._tokens: dict[str, float] = {}
        self._nonces: OrderedDict[str, None] = OrderedDict()

    def issue_token(self, authorization: str | None) -> dict[str, object]:
        """Exchange HTTP Basic client_id:client_secret for a bearer token."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            raise _basic_refused("client credentials must be sent with HTTP Basic")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _basic_refused("malformed HTTP Basic credentials") from None
        client_id, _, client_secret = decoded.partition(":")
        wanted = self.credentials
        if not (
            hmac.compare_digest(client_id, wanted.client_id)
            and hmac.compare_digest(client_secret, wanted.client_secret)
        ):
            raise _basic_refused("unknown client id or wrong client secret")
        token = secrets.token_urlsafe(32)
        now = self._clock()
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        self._tokens[token] = now + self.token_lifetime_s
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.token_lifetime_s),
        }

    def check(self, method: str, target: str, authorization: str | None) -> str:
        """Return the scheme that authenticated the request, or raise a 401 problem."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            expires_at = self._tokens.get(value.strip())
            if expires_at is None:
                raise self._refused("unknown bearer token")
            if self._clock() >= expires_at:
                raise problems.ApiProblemError(
                    401, problems.TOKEN_EXPIRED, "the access token has expired"
                )
            return "bearer"
        if scheme.lower() == "digest":
            self._check_digest(method, target, _parse_digest(value))
            return "digest"
        raise self._refused("authentication required")

    def _check_digest(self, method: str, target: str, fields: dict[str, str]) -> None:
        wanted = self.credentials
        if fields.get("nonce") not in self._nonces:
            raise self._refused("unknown or stale digest nonce", stale=True)
        if fields.get("qop", "auth") != "auth" or fields.get("algorithm", "MD5") != "MD5":
            raise self._refused("only qop=auth with algorithm MD5 is supported")
        if fields.get("uri") != target:
            raise self._refused("digest uri does not match the request")
        ha1 = _md5(f"{wanted.public_key}:{REALM}:{wanted.private_key}")
        ha2 = _md5(f"{method}:{target}")
        parts = (ha1, fields["nonce"], fields.get("nc", ""), fields.get("cnonce", ""), "auth", ha2)
        expected = _md5(":".join(parts))
        if not (
            hmac.compare_digest(fields.get("username", ""), wanted.public_key)
            and hmac.compare_digest(fields.get("response", ""), expected)
        ):
            raise self._refused("wrong API key or digest response")

    def _refused(self, detail: str, *, stale: bool = False) -> problems.ApiProblemError:
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = None
        while len(self._nonces) > _MAX_NONCES:
            self._nonces.popitem(last=False)
        challenge = (
            f'Digest realm="{REALM}", domain="", nonce="{nonce}", algorithm=MD5, '
            f'qop="auth", stale={"true" if stale else "false"}'
        )
        return problems.ApiProblemError(
            401, problems.UNAUTHORIZED, detail, headers=(("WWW-Authenticate", challenge),)
        )
