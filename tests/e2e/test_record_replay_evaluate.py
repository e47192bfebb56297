"""A tester's loop: record a scenario, replay it through a real broker into a hub, score it."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from sensor_hub.cli import main
from sensor_hub.settings import HealthSettings, SiteConfig
from tests.conftest import Mosquitto
from tests.e2e.conftest import ServiceThread, wait_for_alerts
from tests.simulator.test_scenario_file import _base

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


def test_a_cut_sensor_raises_sensor_offline_through_mosquitto(
    mosquitto: Mosquitto, service_factory: Callable[..., ServiceThread], tmp_path: Path
) -> None:
    """A sensor cut for 6 s of a 14 s scenario, replayed in real time into a hub whose
    silence limit is 2 s: one sensor_offline alert within the outage, resolved on return."""
    data = copy.deepcopy(_base())
    data["duration_s"] = 14.0
    data["status_interval_s"] = 5.0
    data["sensors"][0]["outages"] = [{"start_s": 4.0, "end_s": 10.0}]
    scenario_file = tmp_path / "cut.yaml"
    scenario_file.write_text(yaml.safe_dump(data))
    capture = tmp_path / "cut"
    assert main(["record", str(scenario_file), "--out", str(capture)]) == 0
    assert json.loads((capture / "truth.json").read_text())["outages"] == [
        {"sensor_id": "rf-gsm", "start_s": 4.0, "end_s": 10.0}
    ]
    svc = service_factory(broker_url=mosquitto.url, site=SiteConfig(site="t"),
                          health=HealthSettings(offline_after_s=2.0))  # fmt: skip
    assert main(["replay", str(capture), "--broker", mosquitto.url, "--speed", "1"]) == 0
    time.sleep(1.5)  # the hub's 1 s tick resolves it on the first frame after the cut
    out = tmp_path / "evaluation.json"
    assert main(["evaluate", str(capture), "--hub", svc.url, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["outages"], result["outages_detected"], result["outages_resolved"]) == (1, 1, 1)
    assert 1.0 <= result["offline_latencies_s"][0] <= 4.5  # 2 s after the last frame, +1 s tick
    assert result["false_offline_alerts"] == 0
