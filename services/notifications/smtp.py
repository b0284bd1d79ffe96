"""SMTP adapter: hands one message to the relay and sorts failures into temporary (retry) and permanent (give up)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

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


class SmtpSender:
    """Sends messages through the configured relay, one connection per message."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> Envoi:
        """Send one message; raise SmtpIndisponible (retry) or SmtpRefus (permanent)."""
        s = self.settings
        try:
            errors, _response = await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_starttls,
                use_tls=False,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if any(400 <= c < 500 for c in codes):
                raise SmtpIndisponible(str(exc)) from exc
            raise SmtpRefus(max(codes, default=550), "; ".join(f"{r.recipient}: {r.message}" for r in exc.recipients)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise SmtpRefus(exc.code, exc.message) from exc
            raise SmtpIndisponible(f"{exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SmtpIndisponible(repr(exc)) from exc
        return Envoi(refuses={rcpt: f"{r.code} {r.message}" for rcpt, r in errors.items()})
