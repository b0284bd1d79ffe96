"""Run the référentiel service: `python -m services.referentiel`."""

import uvicorn

from services.referentiel.app import create_app
from services.referentiel.settings import Settings


def main() -> None:
    """Serve the app on the configured host and port."""
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)


if __name__ == "__main__":
    main()
