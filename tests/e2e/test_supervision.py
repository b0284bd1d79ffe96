"""The supervision page in a real headless Chromium against the platform's processes: a demand just sent shows up, a
poison message's dead letter is listed and shown, and a redrive takes a dead letter off the list and to its consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import pytest
from playwright.async_api import Browser, HttpCredentials, Page, async_playwright, expect
from typer.testing import CliRunner, Result

from contracts.demandes import DemandeDiverseV1
from contracts.envelope import new_envelope
from contracts.topics import DEMANDES, DEMANDES_RESULTATS, DLQ
from devtools import ops
from devtools.processes import Platform
from platform_kit.clock import aujourdhui_reel
from platform_kit.messaging import dead_letter_headers
from tests.e2e.test_walking_skeleton import by_demande
from tests.support import Bus, wait_for_messages

pytestmark = pytest.mark.e2e
T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
OPERATEUR: HttpCredentials = {"username": "GRD", "password": "demo-operateur-grd"}
# Waits of the page's own refresh (every few seconds) and of the platform's work: generous, never asserted on.
ATTENTE_MS = 60_000


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, driven by playwright (no browser download)."""
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        await b.close()


@pytest.fixture
async def page(platform: Platform, browser: Browser) -> AsyncIterator[Page]:
    """The supervision page, opened by an operator (HTTP Basic)."""
    context = await browser.new_context(http_credentials=OPERATEUR)
    p = await context.new_page()
    reponse = await p.goto(f"http://127.0.0.1:{platform['supervision'].port}/")
    assert reponse is not None and reponse.status == 200
    yield p
    await context.close()


def demande_diverse(pds: str) -> DemandeDiverseV1:
    """A demande diverse on a PDS the référentiel does not know: it is refused at once (an outcome all the same)."""
    return DemandeDiverseV1(
        pds=pds, sous_type="Autre", observations="Demande envoyée par le test de supervision.", date_souhaitee=aujourdhui_reel() + timedelta(days=5)
    )


async def test_the_page_shows_a_demand_just_sent_without_reloading(page: Page, bus: Bus) -> None:
    await expect(page.locator("#sante tr[data-partie='kafka'] td.ok")).to_have_text("OK", timeout=ATTENTE_MS)
    env = await bus.send(demande_diverse(f"SUP{uuid.uuid4().hex[:10].upper()}"), fournisseur="LUMEN")

    ligne = page.locator(f"#dernieres tr[data-demande='{env.message_id}']")
    await expect(ligne).to_be_visible(timeout=ATTENTE_MS)  # brought by the page's own refresh
    await expect(ligne).to_contain_text("DemandeDiverse")
    await expect(ligne).to_contain_text("refusée")
    await expect(page.locator("#flux tr[data-type='DemandeDiverse'] td.recues")).not_to_have_text("0")


async def test_a_poison_message_is_listed_shown_and_discarded(page: Page, bus: Bus) -> None:
    marque = f"POISON-{uuid.uuid4().hex[:8]}"
    await bus.send_raw(DEMANDES.name, f"{{pas du json {marque}".encode(), marque.encode())

    ligne = page.locator("#lettres-mortes tr.lettre", has=page.locator("td.cle", has_text=marque))
    await expect(ligne).to_be_visible(timeout=ATTENTE_MS)
    await expect(ligne).to_contain_text(f"{DEMANDES.name}/")
    await expect(ligne).to_contain_text("referentiel.")  # the consumer group that gave up
    await expect(ligne).to_contain_text("message illisible")

    await ligne.get_by_role("link", name="Voir").click()
    await expect(page.locator("#contenu-lettre")).to_contain_text(marque)
    await page.go_back()

    ligne = page.locator("#lettres-mortes tr.lettre", has=page.locator("td.cle", has_text=marque))
    await ligne.get_by_role("button", name="Écarter").click()
    await expect(ligne).to_have_count(0, timeout=ATTENTE_MS)
    await expect(page.locator("#message-action")).to_contain_text("ecartee")


async def test_a_redrive_takes_the_dead_letter_off_the_list_and_to_its_consumer(page: Page, bus: Bus) -> None:
    pds = f"SUP{uuid.uuid4().hex[:10].upper()}"
    demande = new_envelope(demande_diverse(pds), key=pds, fournisseur="LUMEN")
    # The dead letter the kit writes when the référentiel's handler gave up on this demand (its cause gone since):
    # the original bytes and key, and the kit's own headers.
    headers = dead_letter_headers(f"{DEMANDES.name}/0/0", "referentiel.demandes", "OSError('panne passagère')", 5)
    assert bus.producer is not None
    await bus.producer.send_and_wait(
        DLQ.name, demande.model_dump_json().encode(), key=pds.encode(), headers=[(k, v.encode()) for k, v in headers.items()]
    )

    ligne = page.locator("#lettres-mortes tr.lettre", has=page.locator("td.cle", has_text=pds))
    await expect(ligne).to_be_visible(timeout=ATTENTE_MS)
    await ligne.get_by_role("button", name="Réémettre").click()

    await expect(ligne).to_have_count(0, timeout=ATTENTE_MS)
    await expect(page.locator("#message-action")).to_contain_text("reemise")
    # The référentiel consumed it: the demand has its outcome, once, and the page shows it.
    outcomes = await wait_for_messages(DEMANDES_RESULTATS.name, by_demande(demande.message_id), timeout=60)
    assert len({o["message_id"] for o in outcomes}) == 1
    await expect(page.locator(f"#dernieres tr[data-demande='{demande.message_id}']")).to_be_visible(timeout=ATTENTE_MS)


def grd_ops(platform: Platform, *args: str) -> Result:
    """Run `grd-ops` against the platform's supervision, as an operator."""
    env = {"GRD_OPS_URL": f"http://127.0.0.1:{platform['supervision'].port}", "GRD_OPS_SECRET": OPERATEUR["password"], "COLUMNS": "300"}
    return CliRunner().invoke(ops.app, list(args), env=env)


async def test_grd_ops_lists_shows_and_redrives_a_dead_letter_once(platform: Platform, bus: Bus) -> None:
    pds = f"OPS{uuid.uuid4().hex[:10].upper()}"
    demande = new_envelope(demande_diverse(pds), key=pds, fournisseur="LUMEN")
    headers = dead_letter_headers(f"{DEMANDES.name}/1/0", "referentiel.demandes", "OSError('panne passagère')", 5)
    assert bus.producer is not None
    await bus.producer.send_and_wait(
        DLQ.name, demande.model_dump_json().encode(), key=pds.encode(), headers=[(k, v.encode()) for k, v in headers.items()]
    )

    async def listed() -> str | None:
        result = grd_ops(platform, "dead-letters", "list")
        assert result.exit_code == 0, result.output
        ligne = next((line for line in result.output.splitlines() if pds in line), None)
        return ligne.split("│")[1].strip() if ligne else None

    lettre_id = await eventually(listed, f"dead letter of {pds} listed by grd-ops")
    show = grd_ops(platform, "dead-letters", "show", lettre_id)
    assert show.exit_code == 0 and str(demande.message_id) in show.output and "referentiel.demandes" in show.output

    first = grd_ops(platform, "dead-letters", "redrive", lettre_id)
    assert first.exit_code == 0 and "reemise" in first.output, first.output
    again = grd_ops(platform, "dead-letters", "redrive", lettre_id)
    assert again.exit_code == 1 and "409" in again.output
    outcomes = await wait_for_messages(DEMANDES_RESULTATS.name, by_demande(demande.message_id), timeout=60)
    assert len({o["message_id"] for o in outcomes}) == 1

    lag = grd_ops(platform, "lag", "--all")
    assert lag.exit_code == 0 and "supervision.resultats" in lag.output
    assert grd_ops(platform, "backlog").exit_code == 0


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 60) -> T:
    """Poll until `probe` returns something (fails with `what` after the timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await probe()
        if found is not None:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"not seen after {timeout}s: {what}")
