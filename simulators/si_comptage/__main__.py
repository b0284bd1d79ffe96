"""Run the meter head-end simulator: `python -m simulators.si_comptage`."""

import uvicorn

from simulators.si_comptage.app import create_app
from simulators.si_comptage.settings import Settings


def main() -> None:
    """Start the HTTP app (which starts the consumer) on the configured address."""
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)


if __name__ == "__main__":
    main()
