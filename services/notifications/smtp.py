"""SMTP adapter: hands one message to the relay and sorts failures into temporary (retry) and permanent (give up)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses

import aiosmtplib

from services.notifications.rendering import FIN_DE_LIGNE, PRETS, EnTetesPrets, pret
from services.notifications.settings import Settings

log = logging.getLogger(__name__)


class SmtpIndisponible(Exception):
    """The relay is unreachable or answered with a temporary (4xx) error: try again later."""


class SmtpRefus(Exception):
    """The relay refused the message for good (5xx): retrying would change nothing."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code} {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Envoi:
    """Result of an accepted message: recipients the relay refused individually (the others got it)."""

    refuses: dict[str, str]


class _Connexion:
    """One SMTP session of the pool, with the time it was last used."""

    def __init__(self) -> None:
        self.client: aiosmtplib.SMTP | None = None
        self.last_used = 0.0


class SmtpSender:
    """Sends messages through the configured relay over a few reused connections (reopened when they fail or idle).

    Each message takes one connection of the pool for its whole transaction (`smtp_connexions` of them, so the
    consumer's partitions send in parallel). A connection idle for more than IDLE_CHECK_S is checked with NOOP before
    use (relays close idle sessions), so a message is only ever transmitted once per attempt: any failure during a
    transaction closes that connection and is reported as SmtpIndisponible, and the handler's retry sends it again
    over a fresh one.
    """

    IDLE_CHECK_S = 5.0

    #: How the messages built by the renderer go on the wire: their own policy with SMTP's CRLF line ends.
    POLICY_SMTP = PRETS.clone(linesep="\r\n")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._toutes = [_Connexion() for _ in range(settings.smtp_connexions)]
        self._libres: asyncio.Queue[_Connexion] = asyncio.Queue()
        for connexion in self._toutes:
            self._libres.put_nowait(connexion)

    async def _connection(self, cx: _Connexion) -> aiosmtplib.SMTP:
        s = self.settings
        if cx.client is not None and cx.client.is_connected:
            if time.monotonic() - cx.last_used < self.IDLE_CHECK_S:
                return cx.client
            try:
                await cx.client.noop()
                return cx.client
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                await self._fermer(cx)
        client = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, start_tls=s.smtp_starttls, use_tls=False, timeout=s.smtp_timeout_s)
        await client.connect()
        if s.smtp_user:
            await client.login(s.smtp_user, s.smtp_password.get_secret_value() if s.smtp_password else "")
        cx.client = client
        return client

    async def close(self) -> None:
        """Close every connection (QUIT if possible)."""
        for cx in self._toutes:
            await self._fermer(cx)

    @staticmethod
    async def _fermer(cx: _Connexion) -> None:
        client, cx.client = cx.client, None
        if client is not None:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()

    async def send(self, message: EmailMessage) -> Envoi:
        """Send one message; raise SmtpIndisponible (retry) or SmtpRefus (permanent)."""
        cx = await self._libres.get()
        try:
            try:
                client = await self._connection(cx)
                wire = self.wire(message)
                if wire is None:
                    errors, _response = await client.send_message(message)
                else:
                    errors, _response = await client.sendmail(*wire)
                cx.last_used = time.monotonic()
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await self._reset(cx)
                codes = [r.code for r in exc.recipients]
                if any(400 <= c < 500 for c in codes):
                    raise SmtpIndisponible(str(exc)) from exc
                raise SmtpRefus(max(codes, default=550), "; ".join(f"{r.recipient}: {r.message}" for r in exc.recipients)) from exc
            except aiosmtplib.SMTPResponseException as exc:
                await self._reset(cx)
                if 500 <= exc.code < 600:
                    raise SmtpRefus(exc.code, exc.message) from exc
                raise SmtpIndisponible(f"{exc.code} {exc.message}") from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._fermer(cx)
                raise SmtpIndisponible(repr(exc)) from exc
        finally:
            self._libres.put_nowait(cx)
        return Envoi(refuses={rcpt: f"{r.code} {r.message}" for rcpt, r in errors.items()})

    @classmethod
    def wire(cls, message: EmailMessage) -> tuple[str, list[str], bytes] | None:
        """Envelope sender, recipients and bytes of a message built by the renderer (policy PRETS), or None for any
        other message (aiosmtplib's `send_message` then reads and flattens it).

        The renderer stores its headers in wire form and a 7-bit clean, single-part body, so the message is written as
        stored: each header folded by the policy (a stored value as is), a blank line, the body's lines, all ending in
        CRLF; the envelope is read from the stored From/To/Cc values. A message with a Bcc, or whose addresses are not
        ASCII (SMTPUTF8), or with a Sender or Resent- block goes the general way.
        """
        if not isinstance(message.policy, EnTetesPrets) or any(h in message for h in ("Bcc", "Sender", "Resent-Date")):
            return None
        corps = message.get_payload()
        if not isinstance(corps, str) or not corps.isascii():
            return None
        expediteurs: list[str] = []
        destinataires: list[str] = []
        entetes: list[str] = []
        for nom, valeur in message.raw_items():
            champ = nom.lower()
            if champ == "from":
                expediteurs += _adresses(str(valeur))
            elif champ in ("to", "cc"):
                destinataires += _adresses(str(valeur))
            elif champ == "content-transfer-encoding" and str(valeur).lower() not in ("7bit", "quoted-printable", "base64"):
                return None
            # A header object whose text is in wire form (a token parsed once) is written as that text.
            entetes.append(cls.POLICY_SMTP.fold(nom, str(valeur) if pret(nom, str(valeur)) else valeur))
        if not expediteurs or not destinataires or not "".join((*expediteurs, *destinataires)).isascii():
            return None
        lignes = FIN_DE_LIGNE.split(corps)
        if lignes[-1] == "":
            lignes.pop()
        texte = "".join(entetes) + "\r\n" + "".join(f"{ligne}\r\n" for ligne in lignes)
        try:
            return expediteurs[0], destinataires, texte.encode("ascii")
        except UnicodeEncodeError:  # a header the policy had to parse kept non-ASCII text
            return None

    async def _reset(self, cx: _Connexion) -> None:
        """After a refused transaction: RSET keeps the connection usable; if that fails, drop it."""
        if cx.client is None:
            return
        try:
            await cx.client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            await self._fermer(cx)


@functools.lru_cache(maxsize=1024)
def _adresses(valeur: str) -> tuple[str, ...]:
    """The addr-specs of an address header value (a few distinct values: the sender and the suppliers' addresses)."""
    return tuple(adresse for _nom, adresse in getaddresses([valeur]) if adresse)
