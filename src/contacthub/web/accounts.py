"""Users, sessions, API tokens and login throttling for the dashboard and the REST API.

Passwords are kept as argon2id hashes. Session cookies and API tokens are random strings the
server keeps only as SHA-256 hashes: a copy of the database lets nobody sign in. (A fast hash
is enough for them because they carry 256 random bits; only guessable secrets need argon2.)
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from contacthub import names
from contacthub.errors import UserError
from contacthub.store import tables as t
from contacthub.store.repo import now
from contacthub.times import as_utc

SESSION_DAYS = 14
#: the longest ``expires_days`` a token may be given (a century): past Python's year 9999 a
#: date cannot be made at all
MAX_TOKEN_DAYS = 36500
TOKEN_PREFIX = "chub_"
MIN_PASSWORD = 8
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that a wrong email costs as long as a
    wrong password (made on first use: hashing costs start-up time)."""
    return _hasher.hash("contacthub-no-such-user")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    is_admin: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: object) -> User:
    return User(row.id, row.email, bool(row.is_admin))  # type: ignore[attr-defined]


def email_key(email: str) -> str:
    """An email as stored and compared: NFC (``names``: a browser sends ``José`` composed,
    a script may pass it decomposed), without surrounding blanks, in lower case."""
    return names.nfc(email).strip().lower()


def normalize_email(email: str) -> str:
    """``email_key``, refused when it is no address or holds a bidi or zero-width character
    (an address that reads as another's)."""
    email = email_key(email)
    if len(email) > 320 or not _EMAIL.match(email):
        raise UserError(f"{email[:80]!r} is not an email address")
    hidden = names.invisible(email)
    if hidden:
        raise UserError(f"{email[:80]!r} holds an invisible character ({hidden}): type the address plainly")
    return email


def _user_row(conn: Any, email: str) -> Any:
    """The user row of ``email``, also one an older contacthub stored in NFD."""
    key = email_key(email)
    query = select(t.users).where(t.users.c.email.in_(names.spellings(key)))
    rows = {r.email: r for r in conn.execute(query)}
    found = names.pick(rows, key)
    return None if found is None else rows[found]


def add_user(engine: Engine, email: str, password: str, *, admin: bool = False) -> User:
    email = normalize_email(email)
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    try:
        with engine.begin() as conn:
            user_id = conn.execute(
                insert(t.users).values(
                    email=email, password_hash=_hasher.hash(password), is_admin=admin, created_at=now()
                )
            ).inserted_primary_key[0]  # type: ignore[index]
    except IntegrityError:
        raise UserError(f"a user {email} exists already") from None
    return User(int(user_id), email, admin)


def user_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.users)).scalar_one())


def users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(select(t.users).order_by(t.users.c.id))]


def find_user(engine: Engine, email: str) -> User | None:
    with engine.connect() as conn:
        row = _user_row(conn, email)
    return None if row is None else _user(row)


def authenticate(engine: Engine, email: str, password: str) -> User | None:
    """The user when the password is right, else None (the same time either way)."""
    with engine.connect() as conn:
        row = _user_row(conn, email)
    try:
        _hasher.verify(row.password_hash if row else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with engine.begin() as conn:
            conn.execute(
                update(t.users).where(t.users.c.id == row.id).values(password_hash=_hasher.hash(password))
            )
    return _user(row)


# --- sessions -------------------------------------------------------------------------------


def create_session(engine: Engine, user: User) -> tuple[str, str]:
    """A new session: (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(delete(t.sessions).where(t.sessions.c.expires_at < now()))
        conn.execute(
            insert(t.sessions).values(
                id=_digest(token),
                user_id=user.id,
                csrf=csrf,
                created_at=now(),
                expires_at=now() + timedelta(days=SESSION_DAYS),
            )
        )
    return token, csrf


def session_user(engine: Engine, token: str) -> tuple[User, str] | None:
    """The user and CSRF token of a live session, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(t.users, t.sessions.c.csrf, t.sessions.c.expires_at)
            .join(t.sessions, t.sessions.c.user_id == t.users.c.id)
            .where(t.sessions.c.id == _digest(token))
        ).first()
    if row is None:
        return None
    if as_utc(row.expires_at) < now():
        return None
    return _user(row), str(row.csrf)


def end_session(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(t.sessions).where(t.sessions.c.id == _digest(token)))


# --- API tokens -----------------------------------------------------------------------------


def create_token(engine: Engine, user: User, name: str = "api", expires_days: int | None = None) -> str:
    """A new API token for ``user``; only its hash is kept, so this is the one time it is seen.
    With ``expires_days``, it is refused from that many days on (a token pasted into a
    script and forgotten should not stay good for ever); without, it never expires."""
    if expires_days is not None and not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise UserError(f"a token expires after 1 to {MAX_TOKEN_DAYS} days, not {expires_days}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    made = now()
    expires = None if expires_days is None else made + timedelta(days=expires_days)
    with engine.begin() as conn:
        conn.execute(
            insert(t.api_tokens).values(
                user_id=user.id,
                name=name[:200],
                token_hash=_digest(token),
                created_at=made,
                expires_at=expires,
            )
        )
    return token


def token_user(engine: Engine, token: str) -> User | None:
    """The user of a live API token, else None: an expired token is refused as an unknown
    one (nothing tells a caller that it existed) and its last use is left as it was."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = _digest(token)
    with engine.begin() as conn:
        row = conn.execute(
            select(t.users, t.api_tokens.c.expires_at)
            .join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id)
            .where(t.api_tokens.c.token_hash == digest)
        ).first()
        if row is None or (row.expires_at is not None and as_utc(row.expires_at) <= now()):
            return None
        conn.execute(
            update(t.api_tokens).where(t.api_tokens.c.token_hash == digest).values(last_used_at=now())
        )
    return _user(row)


def request_user(engine: Engine, authorization: str, session: str | None) -> tuple[User, str | None] | None:
    """Who a request's credentials name, with their session's CSRF token (None for an API
    token, which browsers do not send on their own): ``Authorization: Bearer`` first, else
    the session cookie. For the dashboard and API (``app.caller``) and ``/metrics``."""
    if authorization.lower().startswith("bearer "):
        user = token_user(engine, authorization[7:].strip())
        return None if user is None else (user, None)
    if session:
        return session_user(engine, session)
    return None


def tokens(engine: Engine, user: User | None = None) -> list[dict[str, Any]]:
    """The API tokens (never the tokens themselves: only their hash is kept), of ``user``
    or of everyone: id, whose, label, when made, last used and expires (aware UTC times;
    ``expires_at`` None: never) and whether it has ``expired``. Expired tokens stay listed
    until revoked, so that one can see which script stopped working and why."""
    query = (
        select(
            t.api_tokens.c.id,
            t.users.c.email,
            t.api_tokens.c.name,
            t.api_tokens.c.created_at,
            t.api_tokens.c.last_used_at,
            t.api_tokens.c.expires_at,
        )
        .join(t.users, t.users.c.id == t.api_tokens.c.user_id)
        .order_by(t.api_tokens.c.id)
    )
    if user is not None:
        query = query.where(t.api_tokens.c.user_id == user.id)
    moment = now()
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        for key in ("created_at", "last_used_at", "expires_at"):
            row[key] = row[key] and as_utc(row[key])
        row["expired"] = row["expires_at"] is not None and row["expires_at"] <= moment
    return rows


def revoke_token(engine: Engine, token_id: int) -> bool:
    """Make an API token useless at once (a leaked one, say); False when there is none."""
    with engine.begin() as conn:
        gone = conn.execute(delete(t.api_tokens).where(t.api_tokens.c.id == token_id)).rowcount
    return bool(gone)


def set_password(engine: Engine, email: str, password: str) -> bool:
    """A user's new password, and every session of theirs ended (a leaked password is why
    one changes it); their API tokens stay (revoke those with ``token revoke``). False: no
    such user. Removing and adding the user again was the only way, and it took their
    hubs from them for good (QA)."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    with engine.begin() as conn:
        row = _user_row(conn, normalize_email(email))
        if row is None:
            return False
        conn.execute(
            update(t.users).where(t.users.c.id == row.id).values(password_hash=_hasher.hash(password))
        )
        conn.execute(delete(t.sessions).where(t.sessions.c.user_id == row.id))
    return True


def remove_user(engine: Engine, email: str) -> bool:
    """Remove a user with their sessions (signed out everywhere) and API tokens; their hubs
    stay, seen by admins only (an id reused by a later user must not hand them over)."""
    with engine.begin() as conn:
        row = _user_row(conn, normalize_email(email))
        if row is None:
            return False
        conn.execute(delete(t.sessions).where(t.sessions.c.user_id == row.id))
        conn.execute(delete(t.api_tokens).where(t.api_tokens.c.user_id == row.id))
        conn.execute(update(t.hubs).where(t.hubs.c.owner_id == row.id).values(owner_id=None))
        conn.execute(delete(t.users).where(t.users.c.id == row.id))
    return True


# --- throttling -----------------------------------------------------------------------------


class Throttle:
    """At most ``limit`` failed sign-ins per ``window`` seconds for one email, and for one
    client address. Kept in memory: one ``contacthub serve`` process answers the logins."""

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        #: sign-ins of one email are checked one at a time (``one_at_a_time``); a fixed set
        #: of locks, so a stream of made-up emails cannot grow it
        self._stripes = [threading.Lock() for _ in range(64)]

    def one_at_a_time(self, key: str) -> threading.Lock:
        """The lock under which a sign-in for ``key`` (the email) is begun, checked and
        ended: an attempt counts as failed until it ends (``begin``), so correct sign-ins
        sent at once for one account were refused as if they had failed (3 of 8)."""
        return self._stripes[hash(key) % len(self._stripes)]

    def _recent(self, key: str, moment: float) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        while stamps and stamps[0] <= moment - self.window:
            stamps.popleft()
        return stamps

    def begin(self, *keys: str) -> tuple[float, float | None]:
        """Start a sign-in attempt for these keys: the seconds to wait before one is allowed
        (and ``None``), or 0 and the moment of this attempt, counted at once as a failure
        (``succeeded`` takes it back). Counted only once the slow password check had
        failed, every attempt sent at the same time passed: 17 of 60 were checked, where 5
        per window are allowed."""
        moment = time.monotonic()
        with self._lock:
            waits = [
                stamps[0] + self.window - moment
                for key in keys
                if len(stamps := self._recent(key, moment)) >= self.limit
            ]
            if waits:
                return max(waits), None
            for key in keys:
                self._recent(key, moment).append(moment)
        return 0.0, moment

    def succeeded(
        self, cleared: tuple[str, ...], released: tuple[str, ...] = (), moment: float | None = None
    ) -> None:
        """A sign-in went through: the ``cleared`` keys (the email) forget their failures;
        the ``released`` ones (the address) take back only this attempt's count."""
        with self._lock:
            for key in cleared:
                self._failures.pop(key, None)
            for key in released:
                stamps = self._failures.get(key)
                if stamps is not None and moment is not None and moment in stamps:
                    stamps.remove(moment)
