"""`.env.example` documents every variable the services read, as `python -m devtools.envdoc` renders it."""

from pathlib import Path

from devtools.envdoc import render

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_is_up_to_date() -> None:
    assert (ROOT / ".env.example").read_text() == render(), "run `python -m devtools.envdoc > .env.example`"
