"""Identity services: login, token refresh, authentication, users and API keys.

Each function takes a unit of work and owns its transaction; every state change records its
audit event in the same transaction.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from openvpp.core.ids import new_id, new_secret
from openvpp.identity import signatures
from openvpp.identity.model import (
    ApiKey,
    AuthSession,
    Organization,
    Principal,
    RefreshToken,
    Role,
    TokenPair,
    User,
)
from openvpp.identity.passwords import Passwords, check_password_policy
from openvpp.identity.tokens import TokenService, hash_refresh_token, new_refresh_token
from openvpp.ports import RateLimiter, ReplayGuard, UnitOfWork

LOGIN_FAILED = "invalid email or password, or the account is temporarily locked"
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_PRINCIPAL_CACHE_SIZE = 10_000  # tokens; emptied when full


@dataclass(frozen=True)
class IdentityPolicy:
    """Login and token limits (from settings)."""

    refresh_ttl_s: int = 14 * 24 * 3600
    max_failures: int = 5
    lockout_s: int = 900
    login_rate_per_minute: int = 30
    hmac_window_s: int = 30
    principal_cache_s: float = 1.0


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL_PATTERN.match(value):
        raise ValidationFailed(f"email {email!r} is not a valid address", field="email")
    return value


class IdentityService:
    def __init__(
        self,
        *,
        passwords: Passwords,
        tokens: TokenService,
        api_key_box: Fernet,
        replay_guard: ReplayGuard,
        rate_limiter: RateLimiter,
        clock: Clock,
        policy: IdentityPolicy,
    ) -> None:
        self.passwords = passwords
        self.tokens = tokens
        self._box = api_key_box
        self._replay = replay_guard
        self._limiter = rate_limiter
        self._clock = clock
        self.policy = policy
        # access token -> (valid until, principal): authenticate_bearer's session read, which
        # every request makes, done once a second per token (see authenticate_bearer)
        self._principals: dict[str, tuple[datetime, Principal]] = {}
        self._generation = 0

    # -- organizations and users -------------------------------------------------------------

    def create_organization(self, uow: UnitOfWork, name: str, slug: str) -> Organization:
        if not SLUG_PATTERN.match(slug):
            raise ValidationFailed(
                "slug must be 2-63 lower-case letters, digits or '-'", field="slug"
            )
        with uow:
            if uow.organizations.get_by_slug(slug):
                raise Conflict(f"organization {slug!r} exists already", field="slug")
            org = Organization(id=new_id(), name=name, slug=slug, created_at=self._clock.now())
            uow.organizations.add(org)
            uow.record(
                AuditEvent(
                    "organization.create",
                    "organization",
                    org.id,
                    after={"name": name, "slug": slug},
                )
            )
            uow.commit()
        return org

    @staticmethod
    def get_organization(uow: UnitOfWork, organization_id: str) -> Organization:
        with uow:
            org = uow.organizations.get(organization_id)
        if org is None:
            raise NotFound(f"organization {organization_id!r} not found", field="organization_id")
        return org

    @staticmethod
    def organization_by_slug(uow: UnitOfWork, slug: str) -> Organization:
        with uow:
            org = uow.organizations.get_by_slug(slug)
        if org is None:
            raise NotFound(f"no organization with slug {slug!r}", field="slug")
        return org

    def create_user(
        self,
        uow: UnitOfWork,
        *,
        organization_id: str,
        email: str,
        password: str,
        display_name: str,
        roles: frozenset[Role],
    ) -> User:
        email = normalise_email(email)
        check_password_policy(password)
        if not roles:
            raise ValidationFailed("a user needs at least one role", field="roles")
        now = self._clock.now()
        user = User(
            id=new_id(),
            organization_id=organization_id,
            email=email,
            display_name=display_name,
            password_hash=self.passwords.hash(password),
            roles=roles,
            is_active=True,
            failed_logins=0,
            locked_until=None,
            created_at=now,
            updated_at=now,
        )
        with uow:
            if uow.organizations.get(organization_id) is None:
                raise NotFound("organization not found", field="organization_id")
            if uow.users.get_by_email(email) is not None:
                raise Conflict(f"a user with email {email!r} exists already", field="email")
            uow.users.add(user)
            uow.record(AuditEvent("user.create", "user", user.id, after=user.audit_view()))
            uow.commit()
        return user

    def get_user(self, uow: UnitOfWork, principal: Principal, user_id: str) -> User:
        with uow:
            return self._user_in_org(uow, principal, user_id)

    def list_users(
        self, uow: UnitOfWork, principal: Principal, limit: int, offset: int
    ) -> list[User]:
        with uow:
            return uow.users.list(principal.organization_id, limit, offset)

    def update_user(
        self,
        uow: UnitOfWork,
        principal: Principal,
        user_id: str,
        *,
        display_name: str | None = None,
        roles: frozenset[Role] | None = None,
        is_active: bool | None = None,
    ) -> User:
        if roles is not None and not roles:
            raise ValidationFailed("a user needs at least one role", field="roles")
        with uow:
            self._user_in_org(uow, principal, user_id)
            # Re-read locked: the whole row is written back, so nothing may change meanwhile.
            user = uow.users.get_for_update(user_id)
            assert user is not None
            before = user.audit_view()
            updated = replace(
                user,
                display_name=display_name if display_name is not None else user.display_name,
                roles=roles if roles is not None else user.roles,
                is_active=is_active if is_active is not None else user.is_active,
                updated_at=self._clock.now(),
            )
            self._keep_an_admin(uow, user, updated)
            uow.users.update(updated)
            if not updated.is_active or updated.roles != user.roles:
                # Roles live in access tokens: end the sessions so new tokens carry new roles.
                uow.sessions.revoke_for_user(user.id, self._clock.now(), "user changed")
            uow.record(
                AuditEvent(
                    "user.update", "user", user.id, before=before, after=updated.audit_view()
                )
            )
            uow.commit()
        self.forget_principals()
        return updated

    @staticmethod
    def _keep_an_admin(uow: UnitOfWork, old: User, new: User) -> None:
        was_admin = old.is_active and Role.ADMIN in old.roles
        is_admin = new.is_active and Role.ADMIN in new.roles
        if was_admin and not is_admin and uow.users.count_active_admins(old.organization_id) <= 1:
            raise Conflict(
                "the organization's last active admin cannot lose the admin role", field="roles"
            )

    def change_password(
        self, uow: UnitOfWork, principal: Principal, current: str, new: str
    ) -> None:
        """Verify the current password and store the new one (hashing outside the transaction);
        every session of the user ends."""
        check_password_policy(new, field="new_password")
        with uow:
            user = self._user_in_org(uow, principal, principal.user_id)
        if not self.passwords.verify(user.password_hash, current):
            raise ValidationFailed("current password is wrong", field="current_password")
        new_hash = self.passwords.hash(new)
        with uow:
            fresh = uow.users.get_for_update(user.id)
            if fresh is None or fresh.password_hash != user.password_hash:
                raise Conflict("the password was changed meanwhile; try again", field="password")
            now = self._clock.now()
            uow.users.update(replace(fresh, password_hash=new_hash, updated_at=now))
            uow.sessions.revoke_for_user(user.id, now, "password changed")
            uow.record(AuditEvent("user.password_change", "user", user.id))
            uow.commit()
        self.forget_principals()

    @staticmethod
    def _user_in_org(uow: UnitOfWork, principal: Principal, user_id: str) -> User:
        user = uow.users.get(principal.organization_id, user_id)
        if user is None:
            raise NotFound(f"user {user_id!r} not found", field="user_id")
        return user

    # -- login, refresh, logout --------------------------------------------------------------

    def login(self, uow: UnitOfWork, email: str, password: str, client: str) -> TokenPair:
        """Check the password and open a session.

        The argon2 work happens between two short transactions, never inside one: holding a
        write transaction for tens of milliseconds would serialize every login on SQLite.
        """
        retry = self._limiter.hit(f"login:{client}", self.policy.login_rate_per_minute, 60)
        if retry is not None:
            raise RateLimited("too many login attempts; retry later", retry_after=retry)
        email = email.strip().lower()
        now = self._clock.now()
        with uow:
            user = uow.users.get_by_email(email)
        refusal = self._login_refusal(user, now)
        if refusal is not None:
            self.passwords.verify_dummy(password)
            with uow:
                self._deny_login(uow, user, refusal)
        assert user is not None
        correct = self.passwords.verify(user.password_hash, password)
        new_hash = (
            self.passwords.hash(password)
            if correct and self.passwords.needs_rehash(user.password_hash)
            else None
        )
        with uow:
            current = uow.users.get_for_update(user.id)  # fresh, and locked until commit
            if current is None or current.password_hash != user.password_hash:
                self._deny_login(uow, current, "account changed during login")
            assert current is not None
            refusal = self._login_refusal(current, now)
            if refusal is not None:
                self._deny_login(uow, current, refusal)
            if not correct:
                failures = current.failed_logins + 1
                lock = failures >= self.policy.max_failures
                uow.users.update(
                    replace(
                        current,
                        failed_logins=0 if lock else failures,
                        locked_until=now + timedelta(seconds=self.policy.lockout_s)
                        if lock
                        else None,
                    )
                )
                self._deny_login(
                    uow, current, "locked after repeated failures" if lock else "wrong password"
                )
            current = replace(
                current,
                password_hash=new_hash or current.password_hash,
                failed_logins=0,
                locked_until=None,
            )
            uow.users.update(current)
            session = AuthSession(id=new_id(), user_id=current.id, created_at=now)
            uow.sessions.add(session)
            pair = self._issue(uow, current, session.id, now)
            uow.record(
                AuditEvent(
                    "auth.login", "user", current.id, organization_id=current.organization_id
                )
            )
            uow.commit()
        return pair

    @staticmethod
    def _login_refusal(user: User | None, now: datetime) -> str | None:
        if user is None:
            return "unknown user"
        if user.locked_until is not None and user.locked_until > now:
            return "locked"
        if not user.is_active:
            return "inactive"
        return None

    @staticmethod
    def _deny_login(uow: UnitOfWork, user: User | None, reason: str) -> None:
        uow.record(
            AuditEvent(
                "auth.login",
                "user",
                user.id if user else None,
                after={"reason": reason},
                outcome="denied",
                status_code=401,
                organization_id=user.organization_id if user else None,
            )
        )
        uow.commit()
        raise AuthenticationFailed(LOGIN_FAILED)

    def _issue(self, uow: UnitOfWork, user: User, session_id: str, now: datetime) -> TokenPair:
        access, access_exp = self.tokens.issue_access(
            user_id=user.id,
            organization_id=user.organization_id,
            session_id=session_id,
            roles=user.roles,
        )
        raw, digest = new_refresh_token()
        refresh_exp = now + timedelta(seconds=self.policy.refresh_ttl_s)
        uow.refresh_tokens.add(
            RefreshToken(
                id=new_id(),
                session_id=session_id,
                user_id=user.id,
                token_hash=digest,
                issued_at=now,
                expires_at=refresh_exp,
            )
        )
        return TokenPair(access, access_exp, raw, refresh_exp)

    def refresh(self, uow: UnitOfWork, raw_token: str) -> TokenPair:
        """Rotate a refresh token. Presenting a used one revokes its whole family (session)."""
        try:
            return self._refresh(uow, raw_token)
        finally:  # the session may have been revoked (reuse)
            self.forget_principals()

    def _refresh(self, uow: UnitOfWork, raw_token: str) -> TokenPair:
        now = self._clock.now()
        with uow:
            token = uow.refresh_tokens.get_by_hash(hash_refresh_token(raw_token))
            if token is None:
                self._deny(uow, "auth.refresh", None, "unknown refresh token")
            assert token is not None
            session = uow.sessions.get(token.session_id)
            if session is None or session.revoked_at is not None:
                self._deny(uow, "auth.refresh", token.session_id, "session revoked")
            if not uow.refresh_tokens.mark_used(token.id, now):
                uow.sessions.revoke(token.session_id, now, "refresh token reuse")
                self._deny(
                    uow, "auth.refresh", token.session_id, "refresh token reused: session revoked"
                )
            if token.expires_at <= now:
                self._deny(uow, "auth.refresh", token.session_id, "refresh token expired")
            user = uow.users.principal_row(token.user_id, token.session_id)
            if user is None or not user[0].is_active:
                self._deny(uow, "auth.refresh", token.session_id, "user inactive")
            assert user is not None
            pair = self._issue(uow, user[0], token.session_id, now)
            uow.record(AuditEvent("auth.refresh", "session", token.session_id))
            uow.commit()
        return pair

    @staticmethod
    def _deny(uow: UnitOfWork, action: str, object_id: str | None, reason: str) -> None:
        uow.record(
            AuditEvent(
                action,
                "session",
                object_id,
                after={"reason": reason},
                outcome="denied",
                status_code=401,
            )
        )
        uow.commit()
        raise AuthenticationFailed(reason)

    def logout(self, uow: UnitOfWork, principal: Principal) -> None:
        if principal.session_id is None:
            raise ValidationFailed("API keys have no session to log out of", field="session")
        with uow:
            uow.sessions.revoke(principal.session_id, self._clock.now(), "logout")
            uow.record(AuditEvent("auth.logout", "session", principal.session_id))
            uow.commit()
        self.forget_principals()

    # -- authentication of requests -----------------------------------------------------------

    def authenticate_bearer(self, uow: UnitOfWork, token: str) -> Principal:
        """The principal of an access token: its signature and expiry checked every time, its
        session and user read from the database at most once per ``principal_cache_s``
        (default 1 s) per token. A session ended or a user changed through this process is
        refused at once (the cache is emptied); through another process (a second API worker,
        the command line), within ``principal_cache_s``. ``0`` reads every time."""
        claims = self.tokens.decode_access(token)
        now = self._clock.now()
        cached = self._principals.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        generation = self._generation
        with uow:
            row = uow.users.principal_row(claims.subject, claims.session_id)
        if row is None:
            raise AuthenticationFailed("access token refers to an unknown session")
        user, session = row
        if session.revoked_at is not None:
            raise AuthenticationFailed("session has been revoked")
        if not user.is_active or user.organization_id != claims.organization_id:
            raise AuthenticationFailed("user is inactive")
        principal = Principal(
            kind="user",
            id=user.id,
            organization_id=user.organization_id,
            roles=user.roles,
            user_id=user.id,
            session_id=session.id,
        )
        ttl = self.policy.principal_cache_s
        # Not kept when a change was committed since the read began: it may predate it.
        if ttl > 0 and generation == self._generation:
            if len(self._principals) >= _PRINCIPAL_CACHE_SIZE:
                self._principals.clear()
            self._principals[token] = (now + timedelta(seconds=ttl), principal)
        return principal

    def forget_principals(self) -> None:
        """Empty the principal cache (a session ended, a user changed)."""
        self._generation += 1
        self._principals.clear()

    def authenticate_signature(
        self,
        uow: UnitOfWork,
        *,
        headers: Mapping[str, str],
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        body: bytes,
    ) -> Principal:
        key_id = headers.get(signatures.HEADER_KEY, "")
        stamp = headers.get(signatures.HEADER_TIMESTAMP, "")
        nonce = headers.get(signatures.HEADER_NONCE, "")
        signature = headers.get(signatures.HEADER_SIGNATURE, "")
        if not (key_id and stamp and nonce and signature):
            raise AuthenticationFailed("signed requests need key, timestamp, nonce and signature")
        if (
            not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12)
            or abs(int(stamp) - self._clock.now().timestamp()) > self.policy.hmac_window_s
        ):
            raise AuthenticationFailed(
                f"timestamp outside the ±{self.policy.hmac_window_s} s window"
            )
        if not signatures.NONCE_PATTERN.match(nonce):
            raise AuthenticationFailed("nonce must be 16-64 characters of [A-Za-z0-9_-]")
        if not signatures.SIGNATURE_PATTERN.match(signature):
            raise AuthenticationFailed("signature must be 64 hexadecimal characters")
        with uow:  # the key and its creator in one visit to the database
            key = uow.api_keys.get(key_id)
            creator = uow.users.get(key.organization_id, key.created_by) if key else None
        now = self._clock.now()
        if (
            key is None
            or key.revoked_at is not None
            or (key.expires_at is not None and key.expires_at <= now)
        ):
            raise AuthenticationFailed("API key is unknown, revoked or expired")
        try:
            signing_key = self._box.decrypt(key.signing_key_enc.encode())
        except InvalidToken as exc:
            raise AuthenticationFailed("API key cannot be verified") from exc
        message = signatures.canonical_request(
            method=method,
            path=path,
            query=query,
            body=body,
            timestamp=stamp,
            nonce=nonce,
            key_id=key_id,
        )
        if not signatures.signature_matches(signing_key, message, signature):
            raise AuthenticationFailed("signature does not match the request")
        roles = key.roles
        if creator is not None and Role.ADMIN not in creator.roles:
            roles = roles & creator.roles
        if creator is None or not creator.is_active or not roles:
            raise AuthenticationFailed("API key's creator is inactive or lost its roles")
        # Only after the signature holds, so that nobody can burn another client's nonces.
        if not self._replay.first_use(f"hmac:{key_id}", nonce, 2 * self.policy.hmac_window_s + 1):
            raise AuthenticationFailed("nonce has been used already (replay)")
        return Principal(
            kind="api_key",
            id=key.id,
            organization_id=key.organization_id,
            roles=roles,
            user_id=key.created_by,
        )

    # -- API keys -----------------------------------------------------------------------------

    def create_api_key(
        self,
        uow: UnitOfWork,
        principal: Principal,
        *,
        name: str,
        roles: frozenset[Role],
        expires_at: datetime | None,
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it with its secret, which is shown this once only."""
        if not roles:
            raise ValidationFailed("an API key needs at least one role", field="roles")
        if Role.ADMIN not in principal.roles and not roles <= principal.roles:
            raise PermissionDenied("an API key cannot have roles its creator lacks")
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise ValidationFailed("expires_at must be in the future", field="expires_at")
        secret = new_secret(32)
        key = ApiKey(
            id="ak_" + secrets.token_hex(12),
            organization_id=principal.organization_id,
            created_by=principal.user_id,
            name=name,
            roles=roles,
            signing_key_enc=self._box.encrypt(signatures.signing_key_from_secret(secret)).decode(),
            created_at=now,
            expires_at=expires_at,
        )
        with uow:
            uow.api_keys.add(key)
            uow.record(AuditEvent("api_key.create", "api_key", key.id, after=key.audit_view()))
            uow.commit()
        return key, secret

    def list_api_keys(
        self, uow: UnitOfWork, principal: Principal, limit: int, offset: int
    ) -> list[ApiKey]:
        with uow:
            return uow.api_keys.list(principal.organization_id, limit, offset)

    def revoke_api_key(self, uow: UnitOfWork, principal: Principal, key_id: str) -> ApiKey:
        with uow:
            key = uow.api_keys.get(key_id)
            if key is None or key.organization_id != principal.organization_id:
                raise NotFound(f"API key {key_id!r} not found", field="key_id")
            if key.revoked_at is not None:
                raise Conflict("API key is revoked already", field="key_id")
            revoked = replace(key, revoked_at=self._clock.now())
            uow.api_keys.update(revoked)
            uow.record(
                AuditEvent(
                    "api_key.revoke",
                    "api_key",
                    key.id,
                    before=key.audit_view(),
                    after=revoked.audit_view(),
                )
            )
            uow.commit()
        return revoked
