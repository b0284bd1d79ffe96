"""HTTP authentication of suppliers and GRD operators: HTTP Basic, secrets stored as PBKDF2 hashes, configurable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

ITERATIONS = 100_000
OPERATEUR = "operateur"
FOURNISSEUR = "fournisseur"


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """Hash a secret as `pbkdf2_sha256$iterations$salt$hash` (what the configuration stores)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, ITERATIONS)
    return f"pbkdf2_sha256${ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Check a secret against its stored hash in constant time."""
    try:
        algo, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "pbkdf2_sha256":
        return False
    computed = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(computed.hex(), digest)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a supplier (by code) or a GRD operator."""

    code: str
    role: str


class Authenticator:
    """Verifies HTTP Basic credentials against hashed secrets: `{code: (role, hash)}`."""

    def __init__(self, accounts: dict[str, tuple[str, str]]) -> None:
        self.accounts = accounts
        self._cache: dict[tuple[str, str], bool] = {}

    @classmethod
    def from_spec(cls, spec: str) -> Authenticator:
        """Parse `CODE=role:hash,CODE=role:hash` (the GRD_API_ACCOUNTS variable)."""
        accounts: dict[str, tuple[str, str]] = {}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            code, _, rest = item.partition("=")
            role, _, hashed = rest.partition(":")
            accounts[code.strip()] = (role.strip(), hashed.strip())
        return cls(accounts)

    def check(self, code: str, secret: str) -> Principal | None:
        """Return the principal when the secret is right."""
        account = self.accounts.get(code)
        if account is None:
            return None
        key = (code, hashlib.sha256(secret.encode()).hexdigest())
        ok = self._cache.get(key)
        if ok is None:
            ok = verify_secret(secret, account[1])
            if ok:
                # Only successes are cached, so a wrong secret always pays the full hashing cost.
                self._cache[key] = True
        return Principal(code, account[0]) if ok else None

    async def __call__(self, request: Request) -> Principal:
        """FastAPI dependency: the authenticated caller, or 401."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        principal = None
        if scheme.lower() == "basic" and value:
            try:
                code, _, secret = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                code, secret = "", ""
            principal = self.check(code, secret)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="Authentification requise : identifiant fournisseur et secret (HTTP Basic).",
                headers={"WWW-Authenticate": 'Basic realm="grd"'},
            )
        return principal


def demo_accounts_spec() -> str:
    """The demo accounts (each demo supplier and the GRD operator), hashed; used when GRD_API_ACCOUNTS is not set."""
    from demo_data.reference import FOURNISSEURS, GRD_OPERATEUR_SECRET_DEMO

    salt = b"demo-fixed-salt!"
    parts = [f"{f.code}={FOURNISSEUR}:{hash_secret(f.secret_demo, salt)}" for f in FOURNISSEURS]
    parts.append(f"GRD={OPERATEUR}:{hash_secret(GRD_OPERATEUR_SECRET_DEMO, salt)}")
    return ",".join(parts)


def authenticator_from_settings(spec: str) -> Authenticator:
    """The authenticator configured by GRD_API_ACCOUNTS, or the demo accounts when it is empty."""
    return Authenticator.from_spec(spec or demo_accounts_spec())
