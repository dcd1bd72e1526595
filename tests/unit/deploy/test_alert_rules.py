"""The alert rules (deploy/helm/podium/files/alerts.yml, the one copy): each rule complete, each metric it reads
one the platform exports (podium_runtime/metrics.py, Litestar's http_* metrics, Prometheus's `up`), each
expression valid PromQL (checked with the promql-parser package when installed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import prometheus_client
import promql_parser as promql
import pytest
import yaml

from podium_runtime import metrics

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
ALERTS = DEPLOY / "helm" / "podium" / "files" / "alerts.yml"
SEVERITIES = {"critical", "warning", "info"}
# Series a metric family exposes, by its type (the `_created` samples are not for alerting).
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count"), "info": ("_info",)}
# Not ours: Litestar's PrometheusMiddleware (prefix `http`) on the gateway, and Prometheus's scrape health.
FOREIGN = {"http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_sum",
           "http_request_duration_seconds_count", "up"}
# Words of PromQL that look like metric names but are not (functions and aggregations are followed by "(").
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "atan2", "inf", "nan"}


def defined_series() -> set[str]:
    series = set()
    for value in vars(metrics).values():
        if isinstance(value, prometheus_client.metrics.MetricWrapperBase):
            for family in value.describe():
                series |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return series


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers left once strings, label matchers, ranges and
    grouping label lists are removed, other than keywords and function names."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", text):
        if match.group().lower() not in KEYWORDS and not text[match.end():].lstrip().startswith("("):
            names.add(match.group())
    return names


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def test_the_file_is_the_one_copy() -> None:
    """deploy/prometheus/alerts.yml (the path podium_runtime/metrics.py names) is a link to the chart's file."""
    linked = DEPLOY / "prometheus" / "alerts.yml"
    assert linked.is_symlink() and linked.resolve() == ALERTS.resolve()


def test_every_rule_is_complete() -> None:
    names = [rule["alert"] for rule in rules()]
    assert names and len(names) == len(set(names))
    for rule in rules():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"].strip() and rule["annotations"]["description"].strip(), rule["alert"]


def test_every_metric_read_is_one_the_platform_exports() -> None:
    known = defined_series() | FOREIGN
    for rule in rules():
        assert metric_names(rule["expr"]) <= known, (rule["alert"], metric_names(rule["expr"]) - known)


def test_the_alerts_watch_what_the_platform_must_not_miss() -> None:
    read = set().union(*(metric_names(rule["expr"]) for rule in rules()))
    assert {"podium_submissions_oldest_unfinished_age_seconds", "podium_outbox_oldest_unpublished_age_seconds",
            "podium_consumer_pending_messages", "validation_queue_length", "podium_scoring_retries_total",
            "http_requests_total", "up"} <= read
    gateway_errors = next(rule["expr"] for rule in rules() if "http_requests_total" in rule["expr"])
    assert 'status_code=~"5.."' in gateway_errors


def test_the_name_check_sees_a_misspelt_metric() -> None:
    assert metric_names('sum by (scorer) (rate(podium_scoring_retry_total{scorer="cpu"}[10m])) > 0.01') == {
        "podium_scoring_retry_total"}
    assert "podium_scoring_retry_total" not in defined_series()
    assert {"podium_scoring_retries_total", "validation_duration_seconds_bucket", "validation_queue_length"} <= (
        defined_series())


def test_every_expression_is_valid_promql() -> None:
    for rule in rules():
        try:
            parsed = promql.parse(rule["expr"])
        except ValueError as error:
            pytest.fail(f"{rule['alert']}: {error}")
        selected: set[str] = set()

        def visit(node: object, selected: set[str] = selected) -> None:
            if isinstance(node, promql.VectorSelector):
                assert node.name is not None, "a selector without a metric name"
                selected.add(node.name)

        promql.walk(parsed, visit)
        # The parser agrees with the name extraction the metric check relies on.
        assert selected == metric_names(rule["expr"]), rule["alert"]


def test_the_parser_refuses_a_broken_expression() -> None:
    with pytest.raises(ValueError):
        promql.parse("sum(rate(podium_scoring_retries_total[10m]) > 0")
