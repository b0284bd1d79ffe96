"""The e-mail as the relay receives it: the renderer's wire-form message read back equals the default-policy one.

The oracle is the construction the service used before (EmailMessage under `email.policy.default`, `set_content`,
flattened by aiosmtplib as `send_message` does); both are parsed back with `email.policy.default`, as a mail client
(or the e2e checks reading the SMTP sink) would.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from services.notifications.domain import Evenement, MailPrevu, SuiviAffaire
from services.notifications.rendering import Renderer, texte_entete
from services.notifications.smtp import SmtpSender
from tests.unit.test_notifications_domain import CASES, CF, accepte, contrat, decide

EXPEDITEUR = "Portail fournisseurs GRD <portail-fournisseurs@grd.example>"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MID = "<0f0e0d0c-0b0a-5908-0706-050403020100@notifications.grd.local>"
CONTEXTE = {"fournisseur": "LUMEN", "demande": "réclamation", "reference_affaire": "A1B2C3D4E", "pds": "30001234567890", "message": "ok"}
ENTETES = ("From", "To", "Subject", "Date", "Message-ID", "X-GRD-Modele", "X-GRD-Reference-Affaire", "MIME-Version")


def oracle(mail: MailPrevu, body: str) -> tuple[str | None, list[str], bytes]:
    """The message built and flattened as before (default policy, aiosmtplib's send_message on an 8BITMIME relay)."""
    msg = EmailMessage()
    msg["From"] = EXPEDITEUR
    msg["To"] = ", ".join(mail.destinataires)
    msg["Subject"] = mail.sujet
    msg["Date"] = email.utils.format_datetime(NOW)
    msg["Message-ID"] = MID
    msg["X-GRD-Modele"] = mail.modele
    if mail.reference_affaire:
        msg["X-GRD-Reference-Affaire"] = mail.reference_affaire
    msg.set_content(body, charset="utf-8")
    return extract_sender(msg), extract_recipients(msg), flatten_message(msg, cte_type="8bit")


def lu(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def assert_same_mail(mail: MailPrevu, renderer: Renderer, *, entetes: tuple[str, ...] = ENTETES) -> bytes:
    """The renderer's message on the wire means what the default-policy one meant; returns its bytes."""
    wire = SmtpSender.wire(renderer.message(mail, expediteur=EXPEDITEUR, message_id=MID, now=NOW))
    assert wire is not None
    sender, recipients, data = wire
    old_sender, old_recipients, old_data = oracle(mail, renderer.body(mail))
    assert (sender, recipients) == (old_sender, old_recipients)
    new, old = lu(data), lu(old_data)
    for name in entetes:
        assert str(new[name]) == str(old[name]), name
    assert (new.get_content_type(), new.get_content_charset()) == (old.get_content_type(), old.get_content_charset()) == ("text/plain", "utf-8")
    # Read from bytes, a quoted-printable body keeps the wire's CRLF: line ends compared as a mail client shows them.
    assert new.get_content().replace("\r\n", "\n") == old.get_content().replace("\r\n", "\n")
    assert new.defects == [] and sorted(new.keys()) == sorted(old.keys())
    # 7-bit clean, CRLF line ends only, no line over 78 characters (RFC 5322's recommendation).
    assert data.isascii() and b"\r\n" in data and not re.search(rb"[^\r]\n|\r[^\n]", data)
    assert max(len(line) for line in data.split(b"\r\n")) <= 78
    return data


@pytest.mark.parametrize(("case", "event", "suivi", "env_fournisseur", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_template_goes_out_as_the_default_policy_would_have_it(
    case: str, event: Evenement, suivi: SuiviAffaire | None, env_fournisseur: str | None, expected: object
) -> None:
    renderer = Renderer()
    for mail in decide(event, suivi, env_fournisseur).mails:
        assert_same_mail(mail, renderer)


@pytest.mark.parametrize(
    "sujet",
    [
        "[GRD] Demande enregistrée – affaire A1B2C3D4E",
        "[GRD] Fin de votre contrat sur le PDS 30001234567890 – changement de fournisseur",  # long, accents
        "[GRD] Demande refusée – NIVEAU_ACCES_INSUFFISANT – PDS 30001234567890",
        "[GRD] short ascii",
        "[GRD] an ASCII subject long enough to need folding when written after its Subject: name",
        "[GRD] looks encoded =?utf-8?q?x?= but is not",
        "é" * 21 + "€" * 30 + "😀",  # multi-byte characters across encoded-word boundaries
        "",
    ],
)
def test_subjects_read_back_as_written(sujet: str) -> None:
    mail = MailPrevu("demande_acceptee", ("gestion@lumen.example",), sujet, {**CONTEXTE}, "A1B2C3D4E")
    # The default policy wrote text that looks like an encoded-word as is: read back, it was decoded (not the text).
    entetes = tuple(h for h in ENTETES if h != "Subject" or "=?" not in sujet)
    data = assert_same_mail(mail, Renderer(), entetes=entetes)
    assert str(lu(data)["Subject"]) == sujet


@pytest.mark.parametrize(
    "message",
    ["ASCII only.", "Ligne\r\nWindows\rMac\nUnix", "=?utf-8?q?x?= and = signs, trailing space ", "tab\there", "x" * 300, "é" * 200],
)
def test_bodies_read_back_as_written(message: str) -> None:
    mail = MailPrevu("demande_acceptee", ("gestion@lumen.example",), "[GRD] Sujet", {**CONTEXTE, "message": message}, "A1B2C3D4E")
    assert_same_mail(mail, Renderer())


def test_a_line_break_in_a_subject_is_refused_as_before() -> None:
    with pytest.raises(ValueError):
        texte_entete("[GRD] a\nBcc: victim@example.com", "Subject")
    mail = MailPrevu("demande_acceptee", ("gestion@lumen.example",), "[GRD] Sujet\r\nBcc: x@y", {**CONTEXTE}, "A1B2C3D4E")
    with pytest.raises(ValueError):
        Renderer().message(mail, expediteur=EXPEDITEUR, message_id=MID, now=NOW)


def test_several_recipients_and_a_sender_with_accents() -> None:
    renderer = Renderer()
    destinataires = tuple(f"destinataire-numero-{i}@fournisseur.example" for i in range(4))
    mail = MailPrevu("demande_acceptee", destinataires, "[GRD] Sujet", {**CONTEXTE}, "A1B2C3D4E")
    assert_same_mail(mail, renderer)
    msg = renderer.message(mail, expediteur="Équipe acheminement GRD <acheminement@grd.example>", message_id=MID, now=NOW)
    wire = SmtpSender.wire(msg)
    assert wire is not None and wire[0] == "acheminement@grd.example" and wire[1] == list(destinataires)
    assert str(lu(wire[2])["From"]) == "Équipe acheminement GRD <acheminement@grd.example>" and wire[2].isascii()


def test_what_the_renderer_did_not_build_goes_the_general_way() -> None:
    assert SmtpSender.wire(lu(b"From: a@b.example\r\nTo: c@d.example\r\n\r\nx\r\n")) is None
    mail = MailPrevu("demande_acceptee", ("gérant@lumen.example",), "[GRD] Sujet", {**CONTEXTE}, "A1B2C3D4E")
    assert SmtpSender.wire(Renderer().message(mail, expediteur=EXPEDITEUR, message_id=MID, now=NOW)) is None  # SMTPUTF8


def test_the_message_reads_like_the_default_policy_one() -> None:
    [mail] = decide(accepte(), None, "LUMEN").mails
    msg = Renderer().message(mail, expediteur=EXPEDITEUR, message_id=MID, now=NOW)
    assert str(msg["Subject"]) == mail.sujet and msg["To"] == "gestion@lumen.example" and msg["Message-ID"] == MID
    assert msg.get_content() == Renderer().body(mail)


def test_cf_loss_goes_out_too() -> None:
    [mail] = decide(contrat(), CF, "VOLTA").mails
    assert_same_mail(mail, Renderer())
