"""Local SMTP sink (aiosmtpd): accepts every mail and stores it as one .eml file, for development and tests.

Run: python infra/smtp_sink.py --host 127.0.0.1 --port 1025 --dir .data/mail

Each accepted mail becomes <UTC timestamp>-<counter>-<sanitized Message-ID>.eml in --dir, written
to a hidden temp file, fsynced, then renamed: a reader globbing *.eml never sees a partial file.
The server answers 250 only once the file is durable, and 451 (the client retries) if it cannot
write it, so a mail is never silently dropped. The SMTP envelope is kept as the first two
headers, X-Envelope-From and X-Envelope-To (Bcc recipients only exist there). Any AUTH is
accepted (without TLS), so senders configured with credentials work against the sink.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import logging
import os
import re
import signal
import sys
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

log = logging.getLogger("smtp_sink")

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]+")


def sanitize_message_id(raw: str | None) -> str:
    """A file-name-safe, bounded form of a Message-ID ("no-message-id" when absent)."""
    if not raw:
        return "no-message-id"
    cleaned = _UNSAFE.sub("_", raw.strip().strip("<>")).strip("._")
    return cleaned[:100] or "no-message-id"


class EmlStore:
    """aiosmtpd handler writing each message atomically as an .eml file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        mail_from = envelope.mail_from or ""
        rcpt_tos = list(envelope.rcpt_tos)
        try:
            headers = BytesHeaderParser().parsebytes(content)
            message_id = headers.get("Message-ID")
        except Exception:
            message_id = None
        now = dt.datetime.now(dt.UTC)
        name = f"{now:%Y%m%dT%H%M%S.%fZ}-{next(self._counter):06d}-{sanitize_message_id(message_id)}.eml"
        prefix = f"X-Envelope-From: <{mail_from}>\r\nX-Envelope-To: {', '.join(rcpt_tos)}\r\n".encode("utf-8", "surrogateescape")
        try:
            path = await asyncio.to_thread(self._write, name, prefix + content)
        except OSError as exc:
            log.error("FAILED to store mail from=<%s> to=%s message_id=%s: %s", mail_from, rcpt_tos, message_id, exc)
            return "451 4.3.0 Requested action aborted: local error in processing"
        log.info(
            "stored %s from=<%s> to=%s message_id=%s bytes=%d",
            path.name,
            mail_from,
            ",".join(rcpt_tos),
            message_id,
            len(content),
        )
        return "250 2.0.0 OK: message stored"

    def _write(self, name: str, data: bytes) -> Path:
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        return final


def _accept_any_auth(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object) -> AuthResult:
    return AuthResult(success=True)


async def serve(host: str, port: int, directory: Path) -> None:
    handler = EmlStore(directory)
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="smtp-sink.local",  # avoids a slow socket.getfqdn() per connection
            enable_SMTPUTF8=True,
            authenticator=_accept_any_auth,
            auth_require_tls=False,
            data_size_limit=50 * 1024 * 1024,
        )

    server = await loop.create_server(factory, host=host, port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("smtp sink listening on %s:%d, storing mails in %s", host, port, directory)
    await stop.wait()
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), timeout=5)
    except TimeoutError:
        log.warning("smtp sink: some client connections were still open at shutdown")
    log.info("smtp sink stopped")


def main() -> int:
    parser = argparse.ArgumentParser(description="Local SMTP sink storing every mail as an .eml file.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SMTP_SINK_PORT", "1025")))
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("SMTP_SINK_DIR", Path(__file__).resolve().parent.parent / ".data" / "mail")),
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    # aiosmtpd's per-command chatter, and its "login_data is deprecated" warning on every AUTH.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(serve(args.host, args.port, args.dir.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
