"""Run the supervision service: `python -m services.supervision`."""

import uvicorn

from services.supervision.app import create_app
from services.supervision.settings import Settings


def main() -> None:
    """Start the HTTP app (which starts the consumers and the probes) on the configured address."""
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)


if __name__ == "__main__":
    main()
