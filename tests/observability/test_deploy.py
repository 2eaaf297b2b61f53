"""The monitoring files in deploy/: valid for Prometheus, alerts proven by promtool's rule tests, and every
metric the alerts and the dashboard query is one /metrics exposes."""

import json
import re
import subprocess

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import ROOT

DEPLOY = ROOT / "deploy"
METRIC_NAME = re.compile(r"\b(?:celery|http|app|outbox)_[a-z_]+\b")
SERIES_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True)


def test_prometheus_config_is_valid():
    # Syntax only: the token file it names is written by the compose service at start.
    checked = promtool("check", "config", "--syntax-only", "prometheus.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alert_rules_are_valid_and_pass_their_unit_tests():
    checked = promtool("check", "rules", "alerts.yml")
    tested = promtool("test", "rules", "alerts_test.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.django_db
def test_alerts_and_dashboard_query_only_metrics_that_exist(client, settings):
    settings.METRICS_TOKEN = "token"
    exposition = client.get("/metrics", HTTP_AUTHORIZATION="Bearer token").content.decode()
    families = {family.name for family in text_string_to_metric_families(exposition)}
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "background-work.json").read_text())
    queries = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    queries += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]

    queried = {name for query in queries for name in METRIC_NAME.findall(query)}

    unknown = {name for name in queried if not any(name.removesuffix(s) in families for s in ("", *SERIES_SUFFIXES))}
    assert queried and not unknown
