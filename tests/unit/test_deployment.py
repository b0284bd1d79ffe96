"""docker-compose.yml parses and gives every service the variables its settings read."""

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = {
    "referentiel": "services.referentiel.settings",
    "contrats": "services.contrats.settings",
    "affaires": "services.affaires.settings",
    "planification": "services.planification.settings",
    "notifications": "services.notifications.settings",
    "si_comptage": "simulators.si_comptage.settings",
}


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def env_names(settings_cls: type[BaseSettings]) -> tuple[set[str], set[str]]:
    """(every variable the settings read, the infrastructure ones that have no safe default in a container)."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    infra: set[str] = set()
    for name, field in settings_cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            upper = {str(c) for c in alias.choices if isinstance(c, str) and c.isupper()}
            names |= upper
            infra |= upper
        else:
            names.add(f"{prefix}{name}".upper())
    return names, infra


def test_compose_parses_and_declares_every_service() -> None:
    services = compose()["services"]
    assert {"kafka", "mongo", "smtp", "topics", *APP_SERVICES} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["mongo"]["image"].startswith("mongo:")
    for name in APP_SERVICES:
        assert services[name]["command"][-1].endswith(name), name


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_every_service_gets_the_variables_its_settings_read(name: str) -> None:
    settings_cls = importlib.import_module(APP_SERVICES[name]).Settings
    env = {str(k) for k in compose()["services"][name]["environment"]}
    names, infra = env_names(settings_cls)
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    required = infra | {f"{prefix}HTTP_HOST", f"{prefix}HTTP_PORT"}
    assert required - env == set(), f"{name} misses {sorted(required - env)}"
    assert env - names == set(), f"{name} sets variables nothing reads: {sorted(env - names)}"


def test_services_with_http_have_a_healthcheck_on_their_port() -> None:
    services = compose()["services"]
    for name in ("referentiel", "contrats", "affaires", "planification", "notifications"):
        port = services[name]["environment"][f"{name.upper()}_HTTP_PORT"]
        assert f":{port}/health" in " ".join(services[name]["healthcheck"]["test"]), name
