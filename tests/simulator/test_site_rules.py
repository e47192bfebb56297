"""Scenario site rules and sensor outages: cut sensors send nothing, truth records the cut,
replays honour it, and the hub's site gets the scenario's allow rules in wall time."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sensor_hub.schemas import Detection
from sensor_hub.service import site_config_of
from sensor_hub.suppression import suppression_reason
from sensor_hub.topics import frames_topic, status_topic
from simulator.capture import truth_document
from simulator.capture_reader import CapturedFrame
from simulator.replay import without_outages
from simulator.scenario_file import build_scenario, load_scenario, parse_scenario
from tests.simulator.test_scenario_file import _base

LIBRARY = Path(__file__).parents[2] / "simulator" / "scenarios"
START_NS = 1_790_000_000_000_000_000


def test_a_cut_sensor_sends_no_frames_and_no_heartbeats() -> None:
    data = copy.deepcopy(_base())
    data["status_interval_s"] = 0.5
    data["sensors"][0]["outages"] = [{"start_s": 1.0, "end_s": 3.0}]
    scenario = build_scenario(parse_scenario(data))
    assert scenario.outages == {"rf-gsm": [(1.0, 3.0)]}
    dues = [m.due_s for m in scenario.messages(START_NS)]
    assert dues and not [d for d in dues if 1.0 <= d < 3.0]
    assert [d for d in dues if d < 1.0] and [d for d in dues if d >= 3.0]
    truth = truth_document(scenario, duration_s=4.0, start_time_ns=START_NS, boot_id="b")
    assert truth["outages"] == [{"sensor_id": "rf-gsm", "start_s": 1.0, "end_s": 3.0}]


def test_replay_drops_frames_inside_recorded_outages() -> None:
    frames = [
        CapturedFrame(t, frames_topic("s", sid, "iq"), b"")
        for t in (0.5, 1.5, 2.5, 3.5)
        for sid in ("rf-1", "rf-2")
    ] + [CapturedFrame(1.5, status_topic("s", "rf-1"), b"")]
    kept = list(without_outages(iter(frames), [{"sensor_id": "rf-1", "start_s": 1, "end_s": 3}]))
    assert [(f.due_s, f.topic.split("/")[3]) for f in kept if "/frames/" in f.topic] == [
        (0.5, "rf-1"), (0.5, "rf-2"), (1.5, "rf-2"), (2.5, "rf-2"), (3.5, "rf-1"), (3.5, "rf-2"),
    ]  # fmt: skip


def test_scenario_allow_rules_reach_the_hub_in_wall_time() -> None:
    scenario = load_scenario(LIBRARY / "site_rules.yaml")
    assert scenario.outages == {"rf-cellblock-a": [(40.0, 100.0)]}
    start = datetime.fromtimestamp(START_NS / 1e9, UTC)
    site = site_config_of(scenario, START_NS)
    assert [r.name for r in site.allow] == ["staff-radios", "survey-drone"]

    def dji(t_s: float) -> Detection:
        t = start + timedelta(seconds=t_s)
        return Detection(site=scenario.site, sensor_id="rf-wall-n", modality="rf", kind="drone",
                         signature="dji_droneid", t_start=t, t_end=t, confidence=0.9,
                         snr_db=20.0)  # fmt: skip

    assert suppression_reason(dji(50.0), site) == "allow:survey-drone"
    assert suppression_reason(dji(90.0), site) is None  # after its booked window
    # without a start time, rules with windows cannot be placed: they are left out
    assert [r.name for r in site_config_of(scenario).allow] == ["staff-radios"]
