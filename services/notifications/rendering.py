"""Rendering of the planned e-mails: Jinja2 text templates and the RFC 5322 message handed to SMTP."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.notifications.domain import MailPrevu

TEMPLATES = Path(__file__).parent / "templates"


class Renderer:
    """Renders the text body of a planned e-mail from its template (plain text, so no HTML escaping)."""

    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def body(self, mail: MailPrevu) -> str:
        """The French text of the e-mail."""
        return self.env.get_template(f"{mail.modele}.txt").render(**mail.contexte)

    def message(self, mail: MailPrevu, *, expediteur: str, message_id: str, now: datetime) -> EmailMessage:
        """The complete e-mail, with the deterministic Message-ID that makes a resend recognisable."""
        msg = EmailMessage()
        msg["From"] = expediteur
        msg["To"] = ", ".join(mail.destinataires)
        msg["Subject"] = mail.sujet
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = message_id
        msg["X-GRD-Modele"] = mail.modele
        if mail.reference_affaire:
            msg["X-GRD-Reference-Affaire"] = mail.reference_affaire
        msg.set_content(self.body(mail), charset="utf-8")
        return msg
