"""HTTP authentication of suppliers and GRD operators: HTTP Basic against PBKDF2 hashes, failing closed.

No account configured means no service (unless demo mode is asked for); hashing runs on a small thread pool, unknown
codes cost the same as known ones, failures are limited per code and per client address (429 + Retry-After), and
recent successes are cached so that a busy, legitimate client does not pay the full hashing cost on every request.
`python -m platform_kit.auth hash` / `account` / `secret` create what GRD_API_ACCOUNTS holds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from fastapi import HTTPException, Request, status

if TYPE_CHECKING:
    from platform_kit.settings import KitSettings

ALGORITHM = "pbkdf2_sha256"
#: OWASP's 2023 figure for PBKDF2-HMAC-SHA256; configured hashes below it are refused at start.
ITERATIONS = 600_000
OPERATEUR = "operateur"
FOURNISSEUR = "fournisseur"
ROLES = (OPERATEUR, FOURNISSEUR)

#: Verified against when the code is unknown, so that an unknown code costs what a wrong secret costs.
DUMMY_HASH = f"{ALGORITHM}${ITERATIONS}${'00' * 16}${'00' * 32}"

_DEMO_SALT = "64656d6f2d66697865642d73616c7421"  # b"demo-fixed-salt!": the demo accounts are public anyway
#: The demo accounts (demo_data.reference's secrets), hashed once here so that a demo start does not spend 3 s hashing.
DEMO_ACCOUNTS = ",".join(
    f"{code}={role}:{ALGORITHM}${ITERATIONS}${_DEMO_SALT}${digest}"
    for code, role, digest in (
        ("ELEC_AZUR", FOURNISSEUR, "125ebb60df9fc11837439fc6136e528a857e7b5610aff844cb57ba4a08517f44"),
        ("VOLTA", FOURNISSEUR, "56ab97ae510d78855ed4a898879f16433690df3599d570422db974c6c71016ed"),
        ("LUMEN", FOURNISSEUR, "52fcd6a03a8663b22989775b479d15702ccc44f6e80049c94e71b0973f044e12"),
        ("WATTPLUS", FOURNISSEUR, "5d8f6ef8513809fcb05c3061e4e12ece6b3f81e8f4f5787b22c4301ee2a7182d"),
        ("GRD", OPERATEUR, "f31530040a99279eb116e6a764f1a06e0810ffe7c3f47bed1a1c43e3c862b6b2"),
    )
)

#: Called on every failed authentication: (claimed code or None, client address or None, reason, details).
FailureSink = Callable[[str | None, str | None, str, dict[str, object]], Awaitable[None]]


class AuthConfigurationError(ValueError):
    """The accounts configuration is missing or unsafe: the service must not start."""


def hash_secret(secret: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """Hash a secret as `pbkdf2_sha256$iterations$salt$hash` (what the configuration stores)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Check a secret against its stored hash in constant time (CPU-bound: call it off the event loop)."""
    try:
        algo, iterations, salt, digest = stored.split("$")
        computed = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return algo == ALGORITHM and hmac.compare_digest(computed.hex(), digest)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a supplier (by code) or a GRD operator, and from which client address."""

    code: str
    role: str
    adresse: str | None = None


@dataclass(frozen=True)
class Account:
    """One configured account."""

    role: str
    hashed: str


def parse_accounts(spec: str) -> dict[str, Account]:
    """Parse `CODE=role:hash,...`, refusing unknown roles, malformed hashes and hashes below the current work factor."""
    accounts: dict[str, Account] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        code, _, rest = item.partition("=")
        role, _, hashed = rest.partition(":")
        code, role, hashed = code.strip(), role.strip(), hashed.strip()
        parts = hashed.split("$")
        if not code or role not in ROLES:
            raise AuthConfigurationError(f"GRD_API_ACCOUNTS: account {code!r} needs a role among {ROLES}")
        if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isdigit():
            raise AuthConfigurationError(f"GRD_API_ACCOUNTS: the hash of {code} is not `{ALGORITHM}$iterations$salt$hash`")
        if int(parts[1]) < ITERATIONS:
            raise AuthConfigurationError(
                f"GRD_API_ACCOUNTS: the hash of {code} uses {parts[1]} iterations, below {ITERATIONS}: "
                "rehash it with `python -m platform_kit.auth hash`"
            )
        accounts[code] = Account(role, hashed)
    if not accounts:
        raise AuthConfigurationError(
            "No HTTP account configured (GRD_API_ACCOUNTS is empty): the service refuses to start. Set GRD_API_ACCOUNTS "
            "(see `python -m platform_kit.auth account --help`), or GRD_DEMO_MODE=1 for the published demo accounts."
        )
    return accounts


class FailureLimiter:
    """Sliding-window count of failed attempts per key (a code, a client address); bounded in memory."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        horizon = self.clock() - self.window_s
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again, or None when it is not blocked."""
        times = self._recent(key)
        if len(times) < self.max_failures:
            return None
        return max(times[-self.max_failures] + self.window_s - self.clock(), 0.001)

    def attempt(self, key: str) -> float:
        """Count an attempt as failed until `forgive` says otherwise (so a burst of parallel guesses is counted at once)."""
        self._recent(key)
        now = self.clock()
        self._failures.setdefault(key, deque()).append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return now

    def forgive(self, key: str, at: float) -> None:
        """Withdraw an attempt that succeeded."""
        times = self._failures.get(key)
        if times is not None and at in times:
            times.remove(at)

    def failures(self, key: str) -> int:
        """Failed attempts of `key` inside the window."""
        return len(self._recent(key))


class SuccessCache:
    """Recently verified (code, secret) pairs: bounded (LRU) and short-lived, keyed by a per-process keyed hash of the secret."""

    def __init__(self, ttl_s: float, max_size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_size = max_size
        self.clock = clock
        self._pepper = secrets.token_bytes(32)
        self._entries: OrderedDict[tuple[str, bytes], float] = OrderedDict()

    def key(self, code: str, secret: str) -> tuple[str, bytes]:
        """The cache key: the secret itself is never kept, only an HMAC of it under a key that dies with the process."""
        return code, hmac.digest(self._pepper, secret.encode(), "sha256")

    def hit(self, key: tuple[str, bytes]) -> bool:
        """True when this pair was verified less than ttl_s ago."""
        expiry = self._entries.get(key)
        if expiry is None:
            return False
        if expiry <= self.clock():
            del self._entries[key]
            return False
        self._entries.move_to_end(key)
        return True

    def add(self, key: tuple[str, bytes]) -> None:
        """Remember a successful verification."""
        self._entries[key] = self.clock() + self.ttl_s
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)


class Authenticator:
    """Verifies HTTP Basic credentials; a FastAPI dependency giving the Principal, or 401 / 429."""

    def __init__(
        self,
        accounts: dict[str, Account],
        *,
        max_failures: int = 10,
        window_s: float = 300.0,
        cache_ttl_s: float = 60.0,
        cache_size: int = 1024,
        hash_threads: int = 2,
        on_failure: FailureSink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not accounts:
            raise AuthConfigurationError("No HTTP account configured: the service refuses to start.")
        self.accounts = accounts
        self.limiter = FailureLimiter(max_failures, window_s, clock)
        self.cache = SuccessCache(cache_ttl_s, cache_size, clock)
        self.on_failure = on_failure
        self.verifications = 0
        self._pool = ThreadPoolExecutor(max_workers=hash_threads, thread_name_prefix="grd-auth")
        self._inflight: dict[tuple[str, bytes], asyncio.Future[bool]] = {}

    @classmethod
    def from_spec(cls, spec: str) -> Authenticator:
        """Parse `CODE=role:hash,CODE=role:hash` (the GRD_API_ACCOUNTS variable) with the default limits."""
        return cls(parse_accounts(spec))

    @classmethod
    def from_settings(cls, settings: KitSettings, on_failure: FailureSink | None = None) -> Authenticator:
        """The authenticator the settings describe (accounts, failure limit, cache, hashing threads)."""
        return cls(
            parse_accounts(settings.api_accounts),
            max_failures=settings.auth_max_echecs,
            window_s=settings.auth_fenetre_echecs_s,
            cache_ttl_s=settings.auth_cache_ttl_s,
            cache_size=settings.auth_cache_taille,
            hash_threads=settings.auth_threads_hachage,
            on_failure=on_failure,
        )

    async def _verify(self, code: str, secret: str, key: tuple[str, bytes]) -> bool:
        """One PBKDF2 verification on the pool, shared by concurrent requests carrying the same credentials."""
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        account = self.accounts.get(code)
        future: asyncio.Future[bool] = asyncio.get_running_loop().run_in_executor(
            self._pool, verify_secret, secret, account.hashed if account else DUMMY_HASH
        )
        self._inflight[key] = future
        self.verifications += 1
        try:
            return await asyncio.shield(future)
        finally:
            self._inflight.pop(key, None)

    def _too_many(self, retry_after: float) -> HTTPException:
        return HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Trop d'échecs d'authentification : réessayez plus tard.",
            headers={"Retry-After": str(math.ceil(retry_after))},
        )

    async def _failed(self, code: str | None, adresse: str | None, reason: str, blocked: bool) -> None:
        if self.on_failure is not None:
            await self.on_failure(code, adresse, reason, {"blocage": blocked})

    async def authenticate(self, code: str | None, secret: str, adresse: str | None) -> Principal:
        """The principal for these credentials; 401 when wrong, 429 while the code or the address has failed too often."""
        par_adresse = f"adresse:{adresse}"
        if not code:
            wait_adresse = self.limiter.retry_after(par_adresse)
            if wait_adresse:
                raise self._too_many(wait_adresse)
            self.limiter.attempt(par_adresse)
            await self._failed(None, adresse, "identifiants_absents", self.limiter.retry_after(par_adresse) is not None)
            raise _unauthorized()
        # Blocked means blocked, even for a cached secret: otherwise the cache would answer guesses without any limit.
        par_code = f"code:{code}"
        wait = max(self.limiter.retry_after(par_code) or 0, self.limiter.retry_after(par_adresse) or 0)
        if wait:
            raise self._too_many(wait)
        key = self.cache.key(code, secret)
        account = self.accounts.get(code)
        if account is not None and self.cache.hit(key):
            return Principal(code, account.role, adresse)
        # A request joining a verification already running for the same credentials is not a new guess.
        joined = key in self._inflight
        if not joined:
            at_code, at_adresse = self.limiter.attempt(par_code), self.limiter.attempt(par_adresse)
        if await self._verify(code, secret, key) and account is not None:
            if not joined:
                self.limiter.forgive(par_code, at_code)
                self.limiter.forgive(par_adresse, at_adresse)
            self.cache.add(key)
            return Principal(code, account.role, adresse)
        blocked = self.limiter.retry_after(par_code) is not None or self.limiter.retry_after(par_adresse) is not None
        await self._failed(code, adresse, "secret_invalide" if account else "code_inconnu", blocked)
        raise _unauthorized()

    async def __call__(self, request: Request) -> Principal:
        """FastAPI dependency: the authenticated caller, or 401 / 429."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        code, secret = "", ""
        if scheme.lower() == "basic" and value:
            try:
                code, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                code, secret = "", ""
        return await self.authenticate(code or None, secret, request.client.host if request.client else None)


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="Authentification requise : identifiant fournisseur et secret (HTTP Basic).",
        headers={"WWW-Authenticate": 'Basic realm="grd"'},
    )


def demo_accounts_spec() -> str:
    """The demo accounts (each demo supplier and the GRD operator), what GRD_DEMO_MODE=1 configures."""
    return DEMO_ACCOUNTS


def authenticator_from_settings(spec: str) -> Authenticator:
    """The authenticator configured by GRD_API_ACCOUNTS; raises AuthConfigurationError when there is none."""
    return Authenticator.from_spec(spec)


cli = typer.Typer(help="Create what GRD_API_ACCOUNTS holds: PBKDF2 hashes of HTTP secrets.", no_args_is_help=True)


@cli.command("hash")
def hash_command(secret: Annotated[str, typer.Option(prompt=True, hide_input=True, help="The secret to hash.")]) -> None:
    """Print the hash of a secret (asked for without echo when not given)."""
    typer.echo(hash_secret(secret))


@cli.command("account")
def account_command(
    code: Annotated[str, typer.Argument(help="Supplier code, or an operator's login.")],
    role: Annotated[str, typer.Option(help=f"One of {ROLES}.")] = FOURNISSEUR,
    secret: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="The secret.")] = "",
) -> None:
    """Print one `CODE=role:hash` item of GRD_API_ACCOUNTS."""
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {ROLES}")
    typer.echo(f"{code}={role}:{hash_secret(secret)}")


@cli.command("secret")
def secret_command(code: Annotated[str, typer.Argument(help="Supplier code.")], role: Annotated[str, typer.Option()] = FOURNISSEUR) -> None:
    """Generate a random secret for an account: prints the secret (give it to the supplier) and the account item."""
    secret = secrets.token_urlsafe(24)
    typer.echo(f"secret: {secret}")
    typer.echo(f"{code}={role}:{hash_secret(secret)}")


if __name__ == "__main__":
    cli()
