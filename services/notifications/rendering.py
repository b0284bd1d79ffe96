"""Rendering of the planned e-mails: Jinja2 text templates and the RFC 5322 message handed to SMTP."""

from __future__ import annotations

import base64
import binascii
import functools
import re
from datetime import datetime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.notifications.domain import MailPrevu

TEMPLATES = Path(__file__).parent / "templates"

#: Line ends in a text (as email.generator splits a body).
FIN_DE_LIGNE = re.compile(r"\r\n|\r|\n")

#: RFC 5322's recommended line length: a header line or 7bit body line this long goes out as is.
LIGNE_MAX = 78
#: UTF-8 bytes per RFC 2047 encoded-word: "=?utf-8?b?" + 56 base64 characters + "?=" is 68 characters, so the first
#: line of a Subject ("Subject: " + word) stays within LIGNE_MAX (RFC 2047 allows 75 per word).
OCTETS_PAR_MOT = 42


class EnTetesPrets(EmailPolicy):
    """The default policy (`email.policy.default`), except that a header value already in wire form is stored as given.

    Assigning a header under the default policy parses it into a structured header object (email.headerregistry):
    most of the CPU of an e-mail. The renderer writes its values ready for the wire (ASCII, non-ASCII text as RFC 2047
    encoded-words, folded lines of at most LIGNE_MAX characters), so they are stored unparsed and generated as they
    are; reading one back (`msg["Subject"]`) parses it as the default policy does. Any other value (non-ASCII, a line
    too long, a control character, a line break that is not a fold) is parsed as usual (and refused on CR/LF).
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        """Store a wire-ready value as given, parse any other (see the class)."""
        if isinstance(value, str) and pret(name, value):
            return (name, value)
        return super().header_store_parse(name, value)

    def header_max_count(self, name: str) -> int | None:
        """As the default policy (at most one Subject, ...), without building a header class per assignment."""
        return _max_count(name.lower())


@functools.lru_cache(maxsize=256)
def _max_count(name: str) -> int | None:
    # The default policy asks its header registry, which creates a new class on every lookup.
    return EmailPolicy.header_max_count(PRETS, name)


def pret(name: str, value: str) -> bool:
    """True when a header value can go on the wire as written: ASCII, printable, folded lines ("\n" + space) of at
    most LIGNE_MAX characters (the first one after "Name: "). Non-ASCII text must already be RFC 2047-encoded."""
    if not value.isascii():
        return False
    lines = value.split("\n")
    if len(lines[0]) + len(name) + 2 > LIGNE_MAX or not lines[0].isprintable():
        return False
    return all(line.startswith(" ") and line.strip() and len(line) <= LIGNE_MAX and line.isprintable() for line in lines[1:])


#: The policy of the messages built here (one instance: policies are immutable).
PRETS = EnTetesPrets()

#: The body's Content-Transfer-Encoding headers, parsed once: reading the body (`get_payload`) looks this header up.
_ENCODAGES = {cte: PRETS.header_factory("Content-Transfer-Encoding", cte) for cte in ("7bit", "quoted-printable", "base64")}


def texte_entete(texte: str, nom: str) -> str:
    """An unstructured header value (a Subject) in wire form: as is when it is short ASCII, otherwise RFC 2047 base64
    encoded-words of UTF-8 (never splitting a character), one per folded line. Decoded, it reads `texte` again.
    A line break is refused (ValueError), as the default policy does."""
    if "\r" in texte or "\n" in texte:
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    if texte.isascii() and len(texte) + len(nom) + 2 <= LIGNE_MAX and texte.isprintable() and "=?" not in texte:
        return texte
    octets = texte.encode()
    mots: list[bytes] = []
    while octets:
        coupe = min(len(octets), OCTETS_PAR_MOT)
        while coupe < len(octets) and octets[coupe] & 0xC0 == 0x80:  # never inside a character's UTF-8 sequence
            coupe -= 1
        mots.append(octets[:coupe])
        octets = octets[coupe:]
    return "\n ".join(f"=?utf-8?b?{binascii.b2a_base64(mot, newline=False).decode('ascii')}?=" for mot in mots)


def corps_texte(texte: str) -> tuple[str, str]:
    """The body's Content-Transfer-Encoding and its encoded text, line ends as "\n" (7-bit clean, so no relay needs
    8BITMIME): 7bit when it is ASCII in short lines, else quoted-printable or base64, whichever is shorter (as the
    default policy chooses: quoted-printable for French text). Like the default policy, a lone CR is a line end."""
    lignes = FIN_DE_LIGNE.split(texte)
    texte = "\n".join(lignes)
    if texte.isascii() and max(map(len, lignes)) <= LIGNE_MAX:
        return "7bit", texte
    octets = texte.encode()
    qp = binascii.b2a_qp(octets, istext=True)
    b64 = base64.encodebytes(octets)
    if len(qp) > len(b64):
        return "base64", b64.decode("ascii")
    return "quoted-printable", qp.decode("ascii")


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
            auto_reload=False,  # packaged templates: no modification check on every render
        )

    def body(self, mail: MailPrevu) -> str:
        """The French text of the e-mail."""
        return self.env.get_template(f"{mail.modele}.txt").render(**mail.contexte)

    def message(self, mail: MailPrevu, *, expediteur: str, message_id: str, now: datetime) -> EmailMessage:
        """The complete e-mail, with the deterministic Message-ID that makes a resend recognisable.

        Headers and body are written in wire form (policy PRETS): the same message as the default policy would build
        (text/plain, UTF-8, the Subject RFC 2047-encoded), without parsing what this code just wrote.
        """
        msg = EmailMessage(policy=PRETS)
        msg["From"] = expediteur
        msg["To"] = ", ".join(mail.destinataires)
        msg["Subject"] = texte_entete(mail.sujet, "Subject")
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = message_id
        msg["X-GRD-Modele"] = mail.modele
        if mail.reference_affaire:
            msg["X-GRD-Reference-Affaire"] = mail.reference_affaire
        encodage, corps = corps_texte(self.body(mail))
        msg["Content-Type"] = 'text/plain; charset="utf-8"'
        msg["Content-Transfer-Encoding"] = _ENCODAGES[encodage]
        msg["MIME-Version"] = "1.0"
        msg.set_payload(corps)
        return msg
