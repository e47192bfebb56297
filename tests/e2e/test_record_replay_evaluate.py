"""A tester's loop: record a scenario, replay it through a real broker into a hub, score it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sensor_hub.cli import main
from tests.conftest import Mosquitto
from tests.e2e.conftest import ServiceThread, wait_for_alerts

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]


def test_record_replay_evaluate_through_mosquitto(
    mosquitto: Mosquitto, service_factory: Callable[..., ServiceThread], tmp_path: Path
) -> None:
    capture = tmp_path / "demo"
    assert main(["record", "demo", "--out", str(capture), "--duration", "20", "--seed", "4"]) == 0
    truth = json.loads((capture / "truth.json").read_text())
    assert {e["kind"] for e in truth["emissions"]} >= {"drone", "handset"}

    svc = service_factory(broker_url=mosquitto.url)
    assert main(["replay", str(capture), "--broker", mosquitto.url, "--speed", "4"]) == 0
    assert json.loads((capture / "replay.json").read_text())["start_time_ns"] > 0
    wait_for_alerts(svc.url, {"drone", "handset"}, timeout_s=30)

    out = tmp_path / "evaluation.json"
    html = tmp_path / "evaluation.html"
    assert (
        main(["evaluate", str(capture), "--hub", svc.url, "--out", str(out), "--html", str(html)])
        == 0
    )
    result = json.loads(out.read_text())
    assert result["pd"] == 1.0
    assert result["pd_by_kind"] == {"drone": 1.0, "handset": 1.0}
    assert result["false_alerts"] == 0
    assert result["alerts_per_intruder"] == 1.0
    assert 0.0 <= result["latency_s_p90"] < 10.0
    assert "<svg" in html.read_text()
