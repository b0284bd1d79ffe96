"""HTTP authentication: fails closed, hashes off the event loop at a current cost, limits failures, caches successes."""

import asyncio
import threading
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from typer.testing import CliRunner

from demo_data.reference import FOURNISSEURS, GRD_OPERATEUR_SECRET_DEMO
from platform_kit import auth as a
from platform_kit.auth import Account, AuthConfigurationError, Authenticator, Principal
from platform_kit.settings import KitSettings

FAST = 1_000  # tests build accounts directly with a cheap hash; parse_accounts refuses it (see below)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Failures:
    """Collects what the authenticator reports as failed."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None, str, dict[str, object]]] = []

    async def __call__(self, code: str | None, adresse: str | None, reason: str, details: dict[str, object]) -> None:
        self.seen.append((code, adresse, reason, details))


def authenticator(clock: Clock | None = None, failures: Failures | None = None, **kw: float) -> Authenticator:
    accounts = {
        "LUMEN": Account(a.FOURNISSEUR, a.hash_secret("bon-secret", iterations=FAST)),
        "GRD": Account(a.OPERATEUR, a.hash_secret("secret-grd", iterations=FAST)),
    }
    return Authenticator(accounts, clock=clock or Clock(), on_failure=failures, **kw)  # type: ignore[arg-type]


async def status_of(auth: Authenticator, code: str | None, secret: str, adresse: str = "10.0.0.1") -> int:
    try:
        await auth.authenticate(code, secret, adresse)
    except HTTPException as e:
        return e.status_code
    return 200


def test_no_account_configured_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRD_DEMO_MODE", raising=False)
    monkeypatch.delenv("GRD_API_ACCOUNTS", raising=False)
    from services.contrats.app import create_app
    from services.contrats.settings import Settings

    with pytest.raises(AuthConfigurationError, match="GRD_DEMO_MODE"):
        create_app(Settings())


def test_demo_mode_must_be_asked_for_and_gives_the_demo_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRD_API_ACCOUNTS", raising=False)
    monkeypatch.delenv("GRD_DEMO_MODE", raising=False)
    assert KitSettings().api_accounts == ""
    monkeypatch.setenv("GRD_DEMO_MODE", "1")
    assert set(a.parse_accounts(KitSettings().api_accounts)) == {f.code for f in FOURNISSEURS} | {"GRD"}
    monkeypatch.setenv("GRD_API_ACCOUNTS", f"SEUL=fournisseur:{a.hash_secret('x')}")
    assert set(a.parse_accounts(KitSettings().api_accounts)) == {"SEUL"}, "explicit accounts win over demo mode"


def test_the_published_demo_hashes_match_the_demo_secrets() -> None:
    accounts = a.parse_accounts(a.DEMO_ACCOUNTS)
    secrets = {f.code: f.secret_demo for f in FOURNISSEURS} | {"GRD": GRD_OPERATEUR_SECRET_DEMO}
    assert {code: acc.role for code, acc in accounts.items()} == {code: a.OPERATEUR if code == "GRD" else a.FOURNISSEUR for code in secrets}
    assert all(a.verify_secret(secrets[code], acc.hashed) for code, acc in accounts.items())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "refuses to start"),
        (f"LUMEN=fournisseur:{a.hash_secret('x', iterations=100_000)}", "below 600000"),
        (f"LUMEN=admin:{a.hash_secret('x', iterations=FAST)}", "role"),
        ("LUMEN=fournisseur:md5$abc", "not `pbkdf2_sha256"),
    ],
)
def test_unsafe_or_missing_accounts_are_refused(spec: str, message: str) -> None:
    with pytest.raises(AuthConfigurationError, match=message):
        a.parse_accounts(spec)


async def test_right_secret_authenticates_and_wrong_ones_are_reported() -> None:
    failures = Failures()
    auth = authenticator(failures=failures)
    principal = await auth.authenticate("LUMEN", "bon-secret", "10.0.0.1")
    assert principal == Principal("LUMEN", a.FOURNISSEUR, "10.0.0.1")
    assert await status_of(auth, "LUMEN", "mauvais") == 401
    assert await status_of(auth, "INCONNU", "x") == 401
    assert await status_of(auth, None, "") == 401
    assert [(c, r) for c, _, r, _ in failures.seen] == [("LUMEN", "secret_invalide"), ("INCONNU", "code_inconnu"), (None, "identifiants_absents")]


async def test_unknown_code_pays_a_full_verification_on_the_hashing_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    verified: list[tuple[str, str]] = []
    real = a.verify_secret

    def spy(secret: str, stored: str) -> bool:
        verified.append((stored, threading.current_thread().name))
        return real(secret, stored)

    monkeypatch.setattr(a, "verify_secret", spy)
    auth = authenticator()
    assert await status_of(auth, "INCONNU", "x") == 401
    assert await status_of(auth, "LUMEN", "bon-secret") == 200
    (dummy, thread), (_, thread2) = verified
    assert dummy == a.DUMMY_HASH and dummy.split("$")[1] == str(a.ITERATIONS)
    assert thread.startswith("grd-auth") and thread2.startswith("grd-auth"), "PBKDF2 must not run on the event loop's thread"


async def test_failures_are_limited_per_code_then_429_until_the_window_slides() -> None:
    clock = Clock()
    auth = authenticator(clock, max_failures=3, window_s=300)
    assert [await status_of(auth, "LUMEN", "faux", f"10.0.0.{i}") for i in range(3)] == [401, 401, 401]
    clock.t += 100
    with pytest.raises(HTTPException) as blocked:
        await auth.authenticate("LUMEN", "bon-secret", "10.9.9.9")
    assert blocked.value.status_code == 429 and blocked.value.headers == {"Retry-After": "200"}
    assert await status_of(auth, "GRD", "secret-grd", "10.9.9.9") == 200, "another code from a fresh address is not blocked"
    clock.t += 200
    assert await status_of(auth, "LUMEN", "bon-secret", "10.9.9.9") == 200


async def test_failures_are_limited_per_client_address_whatever_the_code() -> None:
    auth = authenticator(max_failures=3)
    assert [await status_of(auth, f"CODE{i}", "x", "10.0.0.7") for i in range(3)] == [401, 401, 401]
    assert await status_of(auth, "GRD", "secret-grd", "10.0.0.7") == 429
    assert await status_of(auth, None, "", "10.0.0.7") == 429
    assert await status_of(auth, "GRD", "secret-grd", "10.0.0.8") == 200


async def test_a_burst_of_parallel_guesses_is_counted_before_the_hashes_finish() -> None:
    auth = authenticator(max_failures=3)
    statuses = await asyncio.gather(*(status_of(auth, "LUMEN", f"essai-{i}") for i in range(10)))
    assert sorted(statuses) == [401] * 3 + [429] * 7
    assert auth.verifications == 3


async def test_successes_are_cached_for_a_short_time_and_failures_never() -> None:
    clock = Clock()
    auth = authenticator(clock, cache_ttl_s=60)
    for _ in range(50):
        assert await status_of(auth, "LUMEN", "bon-secret") == 200
    assert auth.verifications == 1
    assert await status_of(auth, "LUMEN", "faux") == 401
    assert await status_of(auth, "LUMEN", "faux") == 401
    assert auth.verifications == 3
    clock.t += 61
    assert await status_of(auth, "LUMEN", "bon-secret") == 200
    assert auth.verifications == 4


async def test_concurrent_first_requests_of_a_client_share_one_verification() -> None:
    auth = authenticator(max_failures=3)
    statuses = await asyncio.gather(*(status_of(auth, "LUMEN", "bon-secret") for _ in range(20)))
    assert statuses == [200] * 20
    assert auth.verifications == 1


def test_cache_is_bounded() -> None:
    cache = a.SuccessCache(ttl_s=60, max_size=3, clock=Clock())
    keys = [cache.key(f"C{i}", "s") for i in range(5)]
    for key in keys:
        cache.add(key)
    assert [cache.hit(k) for k in keys] == [False, False, True, True, True]


async def test_http_dependency_answers_401_then_429_with_retry_after() -> None:
    auth = authenticator(max_failures=2)
    app = FastAPI()

    @app.get("/moi")
    async def moi(principal: Annotated[Principal, Depends(auth)]) -> dict[str, str | None]:
        return {"code": principal.code, "adresse": principal.adresse}

    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        ok = await http.get("/moi", auth=("GRD", "secret-grd"))
        assert ok.json() == {"code": "GRD", "adresse": "192.0.2.10"}
        first = await http.get("/moi", auth=("GRD", "faux"))
        assert first.status_code == 401 and first.headers["www-authenticate"].startswith("Basic")
        assert (await http.get("/moi", headers={"Authorization": "Basic !!!"})).status_code == 401
        blocked = await http.get("/moi", auth=("GRD", "secret-grd"))
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


def test_hash_command_makes_a_hash_the_configuration_accepts() -> None:
    runner = CliRunner()
    out = runner.invoke(a.cli, ["hash", "--secret", "s3cret"])
    assert out.exit_code == 0, out.output
    assert a.verify_secret("s3cret", out.output.strip())
    account = runner.invoke(a.cli, ["account", "NOVA", "--secret", "s3cret"])
    assert account.exit_code == 0, account.output
    assert a.parse_accounts(account.output.strip())["NOVA"].role == a.FOURNISSEUR
