"""Run the contrats service: `python -m services.contrats`."""

import uvicorn

from services.contrats.app import create_app
from services.contrats.settings import Settings


def main() -> None:
    """Serve the app on the configured host and port."""
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)


if __name__ == "__main__":
    main()
