"""Run the passerelle: `python -m services.passerelle`."""

import uvicorn

from services.passerelle.app import create_app
from services.passerelle.settings import Settings


def main() -> None:
    """Start the HTTP app (which starts the consumers) on the configured address."""
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)


if __name__ == "__main__":
    main()
