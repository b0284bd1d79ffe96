"""Wait until an SMTP server accepts a connection and answers EHLO (infra/smtp.sh readiness)."""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("SMTP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SMTP_PORT", "1025")))
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds")
    parser.add_argument("--pid", type=int, default=None, help="give up early if this process dies")
    args = parser.parse_args()

    deadline = time.monotonic() + args.timeout
    last_error = "no attempt made"
    while time.monotonic() < deadline:
        if args.pid is not None:
            try:
                os.kill(args.pid, 0)
            except ProcessLookupError:
                print(f"wait_smtp: server process {args.pid} exited before becoming ready", file=sys.stderr)
                return 2
        try:
            with smtplib.SMTP(args.host, args.port, local_hostname="infra-wait", timeout=2) as smtp:
                code, _ = smtp.ehlo()
                if code == 250:
                    print(f"wait_smtp: ready at {args.host}:{args.port}")
                    return 0
                last_error = f"EHLO answered {code}"
        except (OSError, smtplib.SMTPException) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    print(f"wait_smtp: not ready after {args.timeout:.0f}s at {args.host}:{args.port}: {last_error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
