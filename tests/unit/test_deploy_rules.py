"""deploy/: every metric the alert rules and the Grafana dashboard use is exposed by the services, every expression
parses as PromQL (promql-parser, and promtool too when it is installed), and Prometheus scrapes every service."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
#: Series Prometheus makes itself for every scrape target.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KINDS = {"Counter", "Gauge", "Histogram", "Summary"}


def defined_metrics(paths: list[Path]) -> dict[str, str]:
    """Metric families declared in source (`Counter("name", ...)` etc.): name → kind."""
    out: dict[str, str] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            kind = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0]
            if kind in KINDS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                out[first.value] = kind
    return out


def exposed_series(defined: dict[str, str]) -> set[str]:
    """The series names prometheus_client exposes for those families."""
    out: set[str] = set()
    for name, kind in defined.items():
        if kind == "Counter":
            base = name.removesuffix("_total")
            out |= {f"{base}_total", f"{base}_created"}
        elif kind in ("Histogram", "Summary"):
            out |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created", name}
        else:
            out.add(name)
    return out


def metric_sources() -> list[Path]:
    return [ROOT / "platform_kit" / "metrics.py", *sorted((ROOT / "services").rglob("*.py"))]


def selectors(expr: str) -> list[str]:
    """Metric names an expression selects (parsing it: a syntax error raises ValueError)."""
    names: list[str] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.append(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def rule_files() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in RULES]


def rules() -> list[dict[str, Any]]:
    return [rule for data in rule_files() for group in data["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            exprs += [target["expr"] for target in panel.get("targets", [])]
    return exprs


def test_deploy_holds_rules_and_a_dashboard() -> None:
    assert RULES and DASHBOARDS
    alerts = {rule["alert"] for rule in rules()}
    # The alerts the operations team asked for.
    asked = {"GrdConsumerLagGrowing", "GrdDeadLettersAppearing", "GrdLaneStalled", "GrdOutcomeLatencyP99High", "GrdSmtpFailing", "GrdServiceDown"}
    assert asked <= alerts


@pytest.mark.parametrize("rule", rules(), ids=lambda r: str(r["alert"]))
def test_every_rule_is_well_formed(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule
    promql_parser.parse(rule["expr"])
    if "for" in rule:
        promql_parser.parse_duration(rule["for"])
    assert rule["labels"]["severity"] in {"critical", "warning"}
    assert rule["annotations"]["summary"]


def test_every_metric_used_is_exposed_by_the_services() -> None:
    exposed = exposed_series(defined_metrics(metric_sources())) | SYNTHETIC
    used = {name for rule in rules() for name in selectors(rule["expr"])}
    used |= {name for expr in dashboard_exprs() for name in selectors(expr)}
    assert used, "no metric found in the rules and dashboard"
    assert used <= exposed, f"not exposed by any service: {sorted(used - exposed)}"


def test_the_check_catches_an_unknown_metric_and_a_syntax_error() -> None:
    exposed = exposed_series(defined_metrics(metric_sources()))
    assert "grd_lane_stalled" in exposed and "grd_messages_total" in exposed and "grd_outcome_latency_seconds_bucket" in exposed
    assert "grd_messages" not in exposed  # a counter is exposed with its _total suffix only
    assert set(selectors("rate(grd_messages_totl[5m])")) - exposed == {"grd_messages_totl"}
    with pytest.raises(ValueError):
        selectors("sum(rate(grd_messages_total[5m])")
    with pytest.raises(ValueError):
        selectors("rte(grd_messages_total[5m])")


def test_prometheus_scrapes_every_http_service_of_the_compose_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    expected = set()
    for name, service in compose.items():
        command = service.get("command") or []
        if len(command) == 3 and command[:2] == ["python", "-m"] and command[2].startswith("services."):
            expected.add(f"{name}:{service['environment'][f'{name.upper()}_HTTP_PORT']}")
    assert "supervision:8006" in expected
    assert expected <= targets, f"not scraped: {sorted(expected - targets)}"


def test_dashboard_panels_use_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == uid, panel["title"]


def test_promtool_accepts_the_rules_when_installed() -> None:
    """promtool is the reference; where it is installed (deploy images, an operator's machine) it must agree."""
    promtool = shutil.which("promtool")
    if promtool is None:
        # promql-parser above is the gate in CI; nothing more to run here.
        return
    result = subprocess.run([promtool, "check", "rules", *map(str, RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
