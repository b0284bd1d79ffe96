"""Micro-benchmark of the CPU an e-mail costs notifications before the network: build it, then serialize it for SMTP.

Run: python scripts/bench_mail_build.py [--count 2000] [--repeat 3]

No store, broker or relay: typical mails (the demand acceptance of a demande diverse, to one of a few suppliers) are
rendered with the service's Renderer and turned into what the relay receives, as SmtpSender does (`SmtpSender.wire`:
envelope sender, recipients, bytes; for a message it does not take, or with `--aiosmtplib`, what aiosmtplib's
`send_message` does: read the envelope from the parsed headers and flatten with its SMTP policy). Prints the process
CPU time per mail (best of `--repeat` runs, so that other processes on the machine count little) for each step and for
both together.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from services.notifications.domain import MailPrevu, message_id_mail
from services.notifications.rendering import Renderer
from services.notifications.smtp import SmtpSender

EXPEDITEUR = "Portail fournisseurs GRD <portail-fournisseurs@grd.example>"
ADRESSES = ("gestion@lumen.example", "operations@volta.example", "backoffice@wattplus.example", "contact@elec-azur.example")


def mails(count: int) -> list[tuple[MailPrevu, str, datetime]]:
    """`count` typical mails: the acceptance of a demande diverse, with its Message-ID and sending instant."""
    out = []
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for i in range(count):
        ref = f"A{i:08X}"
        pds = f"{30001234560000 + i:014d}"
        contexte: dict[str, Any] = {
            "fournisseur": "LUMEN",
            "demande": "demande diverse",
            "reference_affaire": ref,
            "pds": pds,
            "message": f"Votre demande sur le PDS {pds} a été enregistrée sous la référence {ref}.",
        }
        sujet = f"[GRD] Demande enregistrée – affaire {ref}"
        mail = MailPrevu("demande_acceptee", (ADRESSES[i % len(ADRESSES)],), sujet, contexte, ref)
        out.append((mail, message_id_mail(uuid.uuid4(), mail.modele), start + timedelta(seconds=i)))
    return out


def best_us(step: Callable[[], None], count: int, repeat: int) -> float:
    """Best process CPU time of `step` over `repeat` runs, in µs per mail."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        step()
        best = min(best, time.process_time() - t0)
    return best / count * 1e6


def by_aiosmtplib(message: Any) -> tuple[str | None, list[str], bytes]:
    """What aiosmtplib's send_message computes before talking to the relay (8BITMIME relay)."""
    return extract_sender(message), extract_recipients(message), flatten_message(message, cte_type="8bit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--aiosmtplib", action="store_true", help="serialize as aiosmtplib's send_message does")
    args = parser.parse_args()
    wire: Callable[[Any], Any] = getattr(SmtpSender, "wire", None) or by_aiosmtplib

    def serialize_one(message: Any) -> Any:
        return (None if args.aiosmtplib else wire(message)) or by_aiosmtplib(message)

    renderer = Renderer()
    planned = mails(args.count)
    built: list[Any] = []

    def build() -> None:
        built[:] = [renderer.message(m, expediteur=EXPEDITEUR, message_id=mid, now=now) for m, mid, now in planned]

    def serialize() -> None:
        for message in built:
            serialize_one(message)

    def both() -> None:
        for m, mid, now in planned:
            serialize_one(renderer.message(m, expediteur=EXPEDITEUR, message_id=mid, now=now))

    build()
    how = "aiosmtplib send_message" if args.aiosmtplib or wire is by_aiosmtplib else "SmtpSender.wire"
    print(f"{args.count} mails (demande_acceptee), best of {args.repeat}, CPU time; serialized by {how}")
    print(f"  build (template + message)      : {best_us(build, args.count, args.repeat):7.1f} µs/mail")
    print(f"  serialize for SMTP              : {best_us(serialize, args.count, args.repeat):7.1f} µs/mail")
    print(f"  both                            : {best_us(both, args.count, args.repeat):7.1f} µs/mail")


if __name__ == "__main__":
    main()
