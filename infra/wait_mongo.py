"""Wait until a MongoDB-compatible server (FerretDB locally) answers a ping (infra/ferretdb.sh readiness)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from pymongo import MongoClient
from pymongo.errors import PyMongoError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/"))
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds")
    parser.add_argument("--pid", type=int, default=None, help="give up early if this process dies")
    args = parser.parse_args()

    deadline = time.monotonic() + args.timeout
    last_error = "no attempt made"
    while time.monotonic() < deadline:
        if args.pid is not None:
            try:
                os.kill(args.pid, 0)
            except ProcessLookupError:
                print(f"wait_mongo: server process {args.pid} exited before becoming ready", file=sys.stderr)
                return 2
        try:
            with MongoClient(args.url, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000) as client:
                client.admin.command("ping")
                version = client.server_info().get("version", "?")
            print(f"wait_mongo: ready at {args.url} (server version {version})")
            return 0
        except PyMongoError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.3)
    print(f"wait_mongo: not ready after {args.timeout:.0f}s at {args.url}: {last_error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
