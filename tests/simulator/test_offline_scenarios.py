"""Issue 6's scenario lines as regression tests: library scenarios through the hub's own
stages (`simulator.offline`), scored by `simulator.evaluate` (bench/fusion_quality.py
prints the same figures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.evaluate import evaluate
from simulator.offline import stage_one, stage_two, truth_of
from simulator.scenario_file import load_scenario

LIBRARY = Path(__file__).parents[2] / "simulator" / "scenarios"
START_NS = 1_790_000_000_000_000_000


def test_site_rules_suppressed_emitters_and_a_cut_sensor() -> None:
    scenario = load_scenario(LIBRARY / "site_rules.yaml")
    alerts = stage_two(scenario, stage_one(scenario, START_NS), START_NS)
    r = evaluate(truth_of(scenario, START_NS), alerts)
    # the unauthorised drone is alerted; the survey drone and the radios are not
    assert r.false_alerts == 0 and r.alerts_matched == 1
    assert [i.intruder_id for i in r.per_intruder if i.detected] == ["drone-x"]
    suppressed = [a for a in alerts if a.suppressed_by is not None]
    assert suppressed and {a.suppressed_by for a in suppressed} == {"allow:survey-drone"}
    assert r.suppressed_alerts == len(suppressed)  # shown, resolved once quiet, never paged
    # the cut sensor: one sensor_offline alert within 30 s, resolved when it is back
    assert (r.outages, r.outages_detected, r.outages_resolved) == (1, 1, 1)
    assert r.offline_latencies_s[0] <= 30.0 and r.false_offline_alerts == 0


@pytest.mark.slow
def test_multi_intruder_gives_one_alert_per_intruder() -> None:
    scenario = load_scenario(LIBRARY / "multi_intruder.yaml")
    alerts = stage_two(scenario, stage_one(scenario, START_NS), START_NS)
    r = evaluate(truth_of(scenario, START_NS), alerts)
    assert r.pd == 1.0 and r.false_alerts == 0
    assert r.alerts_per_intruder is not None and r.alerts_per_intruder <= 1.1
    assert r.location_within_radius == 1.0
