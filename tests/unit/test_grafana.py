"""deploy/grafana-dashboard.json imports as a dashboard and queries only what Haven exports, all of it.

The exported names come from a real collector's exposition (server/metrics.py), so renaming a metric
fails here until the dashboard follows, and a new metric fails here until it has a panel.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.metrics import Metrics
from server.storage import Storage

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
METRIC = re.compile(r"\bhaven_[A-Za-z0-9_]+")
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
RESOURCES = {"tasks": 1, "fds": 1, "udp_sockets": 0, "threads": 1, "rss_bytes": 1}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Every sample name Haven's collector exposes, by metric family."""
    storage = Storage(str(tmp_path_factory.mktemp("records") / "haven.db"))
    try:
        metrics = Metrics(SimpleNamespace(live={}), storage, resources=lambda: dict(RESOURCES))
        text = metrics.exposition().decode()
    finally:
        storage.close()
    return {family.name: {sample.name for sample in family.samples} for family in text_string_to_metric_families(text)}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def expressions() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in panels() for target in panel["targets"]]


def test_the_datasource_is_an_input_chosen_at_import() -> None:
    inputs = dashboard()["__inputs"]
    assert [(i["name"], i["type"], i["pluginId"]) for i in inputs] == [("DS_PROMETHEUS", "datasource", "prometheus")]
    for panel in panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    assert "${DS_PROMETHEUS}" not in json.dumps(dashboard()["templating"])  # nothing else names a datasource


def test_panels_have_unique_ids_a_place_and_queries() -> None:
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_every_metric_in_every_expression_is_one_haven_exports(exported: dict[str, set[str]]) -> None:
    samples = set().union(*exported.values())
    used = [(title, name) for title, expr in expressions() for name in METRIC.findall(expr)]
    assert used
    unknown = [(title, name) for title, name in used if name not in samples]
    assert not unknown, f"not exported by server/metrics.py: {unknown}"
    for title, expr in expressions():
        assert METRIC.search(expr), f"{title}: {expr!r} queries none of Haven's metrics"


def test_every_metric_haven_exports_has_a_panel(exported: dict[str, set[str]]) -> None:
    used = {name for _, expr in expressions() for name in METRIC.findall(expr)}
    missing = [family for family, names in exported.items() if not names & used]
    assert not missing, f"no panel shows {missing}"


def test_counters_are_shown_as_rates_and_histograms_as_quantiles_or_rates(exported: dict[str, set[str]]) -> None:
    counters = {name for names in exported.values() for name in names if name.endswith("_total")}
    histograms = {name for names in exported.values() for name in names if name.endswith(("_bucket", "_count", "_sum"))}
    for title, expr in expressions():
        for name in METRIC.findall(expr):
            if name in counters | histograms:
                # A raw counter only ever climbs: what matters is how fast.
                assert re.search(rf"\b(rate|increase)\(\s*{name}\b", expr), f"{title}: {name} in {expr!r}"
            if name.endswith("_bucket"):
                assert "histogram_quantile(" in expr and "le" in expr, f"{title}: {expr!r}"
