"""Who may read the monitoring API: Bearer tokens and HTTP Basic users.

Both schemes are accepted at once, since seed 000's JavaScript client sends
``Authorization: Bearer <token>`` and its Python client HTTP Basic
credentials. The operator configures them explicitly or from the environment:

======================= ===================================================
JOBLANE_API_TOKENS      Bearer tokens, comma-separated
JOBLANE_API_USERS       Basic credentials, ``user:password,user2:password2``
======================= ===================================================

A password may contain ``:`` (the first one ends the user name) but, in the
environment variable, not ``,``. Secrets are kept only as SHA-256 digests and
compared with :func:`hmac.compare_digest` against every configured one, so
neither a secret's content nor its position in the list shows in the time a
check takes. With no credentials at all the API refuses to start, unless
authentication is switched off explicitly with :meth:`Auth.disabled`
(``joblane serve --no-auth``), for an API behind a proxy that authenticates.
``--no-auth`` with credentials, from the options or the environment, is
refused: one of the two is a mistake.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from enum import Enum

from joblane.errors import ConfigurationError

ENV_TOKENS = "JOBLANE_API_TOKENS"
ENV_USERS = "JOBLANE_API_USERS"
REALM = "joblane"

# RFC 6750's b64token: what a Bearer token may be made of.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")


class Verdict(Enum):
    ALLOWED = "allowed"
    MISSING = "missing"
    INVALID = "invalid"


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def _matches(given: bytes, digests: Iterable[bytes]) -> bool:
    wanted = _digest(given)
    found = False
    for digest in digests:  # no early exit: every check costs the same
        found |= hmac.compare_digest(wanted, digest)
    return found


def parse_users(text: str, *, source: str = ENV_USERS) -> list[tuple[str, str]]:
    """``"admin:secret,ops:pw"`` → ``[("admin", "secret"), ("ops", "pw")]``."""
    return [parse_user(item.strip(), source=source) for item in text.split(",") if item.strip()]


def parse_user(item: str, *, source: str = "a user") -> tuple[str, str]:
    """``"admin:secret"`` → ``("admin", "secret")``; the message never shows the secret."""
    user, sep, password = item.partition(":")
    if not sep or not user or not password:
        raise ConfigurationError(
            f"{source}: expected user:password with a non-empty user and password "
            f"(got an entry for user {user!r})"
        )
    return user, password


def parse_tokens(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def credentials_in_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The variables among JOBLANE_API_TOKENS and JOBLANE_API_USERS that hold
    credentials (anything but blanks and commas), valid or not."""
    env = os.environ if env is None else env
    return tuple(name for name in (ENV_TOKENS, ENV_USERS) if parse_tokens(env.get(name, "")))


class Auth:
    """The credentials the API accepts; build with :meth:`from_env` or directly.

    ``Auth(tokens=["..."], users=[("admin", "...")])``; ``Auth.disabled()`` lets
    every request in (say so explicitly: there is no silent default).
    """

    __slots__ = ("_token_digests", "_user_digests", "enabled")

    def __init__(
        self,
        tokens: Iterable[str] = (),
        users: Iterable[tuple[str, str]] = (),
        *,
        enabled: bool = True,
    ) -> None:
        tokens = list(tokens)
        users = list(users)
        for token in tokens:
            if not isinstance(token, str) or not _TOKEN.fullmatch(token):
                raise ConfigurationError(
                    "a Bearer token must be made of A-Z a-z 0-9 - . _ ~ + / "
                    "(optionally ending in =)"
                )
        for user, password in users:
            if not user or ":" in user or not password:
                raise ConfigurationError(
                    f"invalid Basic credentials for user {user!r}: the user needs a "
                    "non-empty name without ':' and a non-empty password"
                )
        if not enabled and (tokens or users):
            raise ConfigurationError("authentication is disabled but credentials were given")
        self.enabled = enabled
        self._token_digests = tuple(_digest(t.encode()) for t in tokens)
        self._user_digests = tuple(_digest(f"{u}:{p}".encode()) for u, p in users)

    def __repr__(self) -> str:
        if not self.enabled:
            return "Auth.disabled()"
        return f"<Auth {'+'.join(self.schemes) or 'without credentials'}>"

    @classmethod
    def disabled(cls) -> Auth:
        """No authentication: every request is let in."""
        return cls(enabled=False)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        tokens: Iterable[str] = (),
        users: Iterable[tuple[str, str]] = (),
    ) -> Auth:
        """*tokens* and *users* plus those of JOBLANE_API_TOKENS and JOBLANE_API_USERS."""
        env = os.environ if env is None else env
        return cls(
            tokens=[*tokens, *parse_tokens(env.get(ENV_TOKENS, ""))],
            users=[*users, *parse_users(env.get(ENV_USERS, ""))],
        )

    @property
    def has_credentials(self) -> bool:
        return bool(self._token_digests or self._user_digests)

    @property
    def schemes(self) -> tuple[str, ...]:
        """The schemes a client may use: ``("Bearer", "Basic")`` or a part of it."""
        return tuple(
            name
            for name, digests in (("Bearer", self._token_digests), ("Basic", self._user_digests))
            if digests
        )

    def challenges(self) -> list[str]:
        """The ``WWW-Authenticate`` values of a 401 answer, one per scheme."""
        values = {
            "Bearer": f'Bearer realm="{REALM}"',
            "Basic": f'Basic realm="{REALM}", charset="UTF-8"',
        }
        return [values[scheme] for scheme in self.schemes]

    def check(self, authorization: str | None) -> Verdict:
        """Judge an ``Authorization`` header value (None when absent)."""
        if not self.enabled:
            return Verdict.ALLOWED
        if not authorization or not authorization.strip():
            return Verdict.MISSING
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        scheme = scheme.lower()
        if scheme == "bearer" and value:
            ok = _matches(value.encode("utf-8", "surrogateescape"), self._token_digests)
        elif scheme == "basic" and value:
            ok = self._check_basic(value)
        else:
            return Verdict.INVALID
        return Verdict.ALLOWED if ok else Verdict.INVALID

    def _check_basic(self, value: str) -> bool:
        try:
            pair = base64.b64decode(value.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            return False
        return b":" in pair and _matches(pair, self._user_digests)
