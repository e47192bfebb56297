"""Scoring against hand-built truth with known answers; alert sources; report; command."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from sensor_hub.schemas import Alert, AlertPage, Location
from simulator.evaluate import (
    MatchSettings,
    Truth,
    TruthOutage,
    evaluate,
    intruders_of,
    scenario_seconds,
    snr_bin_label,
)
from simulator.evaluate_cli import (
    EvaluateInputError,
    add_evaluate_parser,
    fetch_alerts,
    parse_alerts,
    run_evaluate,
)
from simulator.report import render_report

START_NS = 1_700_000_000_000_000_000
START = datetime.fromtimestamp(START_NS / 1e9, UTC)


def emission(
    emitter_id: str,
    kind: str,
    start_s: float,
    end_s: float,
    *,
    signature: str | None = None,
    track: list[list[float]] | None = None,
    snr_db: dict[str, float] | None = None,
) -> dict[str, Any]:
    return {
        "emitter_id": emitter_id,
        "kind": kind,
        "signature": signature
        or {"drone": "elrs_2g4", "handset": "gsm_uplink"}.get(kind, "wifi_ap"),
        "start_s": start_s,
        "end_s": end_s,
        "track": track if track is not None else [[start_s, 0.0, 0.0, 0.0]],
        "snr_db": snr_db if snr_db is not None else {"rf-1": 10.0},
    }


def truth(*emissions: dict[str, Any], duration_s: float = 1800.0, n_sensors: int = 3) -> Truth:
    return Truth.model_validate(
        {
            "duration_s": duration_s,
            "seed": 7,
            "site": "hmp-test",
            "start_time_ns": START_NS,
            "zones": {"yard": [[0, 0], [100, 0], [100, 60], [0, 60]]},
            "sensors": [
                {
                    "sensor_id": f"rf-{k}",
                    "modality": "rf" if k % 2 else "acoustic",
                    "kind": "iq",
                    "position": [10.0 * k, 5.0, 3.0],
                    "zone": "yard",
                    "noise_figure_db": 6.0,  # extra fields are tolerated
                }
                for k in range(1, n_sensors + 1)
            ],
            "emissions": list(emissions),
        }
    )


def alert(
    alert_id: str,
    kind: str,
    first_s: float,
    last_s: float,
    *,
    xy: tuple[float, float] | None = None,
    radius_m: float = 10.0,
    updated_s: float | None = None,
) -> Alert:
    def at(s: float) -> datetime:
        return START + timedelta(seconds=s)

    return Alert(
        id=alert_id,
        site="hmp-test",
        kind=kind,
        signatures=["elrs_2g4"],
        state="active",
        severity="high",
        confidence=0.9,
        first_seen=at(first_s),
        last_seen=at(last_s),
        updated_at=at(last_s if updated_s is None else updated_s),
        sensors=["rf-1"],
        detection_count=3,
        location=None if xy is None else Location(x_m=xy[0], y_m=xy[1], radius_m=radius_m),
    )


DRONE = emission("drone-1", "drone", 10.0, 70.0)
PILOT = emission("drone-1-rc", "drone", 5.0, 80.0, signature="frsky_d16", snr_db={"rf-2": 22.0})
HANDSET = emission("handset-1", "handset", 100.0, 160.0)


# ---------------------------------------------------------------- intruders and time


def test_pilot_radio_counts_with_its_drone() -> None:
    intruders = intruders_of(truth(DRONE, PILOT, HANDSET, emission("oven", "other", 0, 900)))
    assert [(i.intruder_id, i.kind) for i in intruders] == [
        ("drone-1", "drone"),
        ("handset-1", "handset"),
    ]
    drone = intruders[0]
    assert drone.emitter_ids == ["drone-1", "drone-1-rc"]
    assert drone.signatures == ["elrs_2g4", "frsky_d16"]
    assert drone.onset_s == 5.0
    assert drone.best_snr_db == 22.0


def test_emitter_ids_are_prefixes_only_at_a_hyphen() -> None:
    ids = [
        i.intruder_id for i in intruders_of(truth(HANDSET, emission("handset-10", "handset", 0, 9)))
    ]
    assert ids == ["handset-1", "handset-10"]


def test_scenario_seconds_is_exact_with_sub_microsecond_start() -> None:
    when = datetime.fromtimestamp(1_700_000_000, UTC) + timedelta(seconds=12, microseconds=500_000)
    assert scenario_seconds(when, 1_700_000_000_000_000_250) == pytest.approx(
        12.5 - 250e-9, abs=1e-12
    )


# ---------------------------------------------------------------- scoring


def test_perfect_detection() -> None:
    r = evaluate(
        truth(DRONE, PILOT, HANDSET),
        [alert("a1", "drone", 6, 70), alert("a2", "handset", 101, 160)],
    )
    assert r.intruders == 2
    assert r.pd == 1.0
    assert r.pd_by_kind == {"drone": 1.0, "handset": 1.0}
    assert r.false_alerts == 0
    assert r.false_alerts_per_hour == 0.0
    assert r.alerts_per_intruder == 1.0
    assert r.confusion["drone"] == {"drone": 1, "handset": 0, "none": 0}
    assert r.confusion["handset"] == {"drone": 0, "handset": 1, "none": 0}
    assert [a.status for a in r.per_alert] == ["matched", "matched"]


def test_a_miss() -> None:
    r = evaluate(truth(DRONE, HANDSET), [alert("a1", "drone", 11, 70)])
    assert r.pd == 0.5
    assert r.pd_by_kind == {"drone": 1.0, "handset": 0.0}
    assert r.counts_by_kind["handset"].model_dump() == {"intruders": 1, "detected": 0, "pd": 0.0}
    assert r.confusion["handset"]["none"] == 1
    missed = r.per_intruder[1]
    assert (missed.detected, missed.latency_s, missed.alert_ids) == (False, None, [])


def test_false_alert_rates_are_exact() -> None:
    # 1800 s = 0.5 h, 3 sensors: one false alert = 2 per hour = 2/3 per sensor-hour
    r = evaluate(truth(DRONE), [alert("a1", "drone", 11, 70), alert("f1", "drone", 1000, 1010)])
    assert (r.false_alerts, r.hours, r.sensors) == (1, 0.5, 3)
    assert r.false_alerts_per_hour == 2.0
    assert r.false_alerts_per_sensor_hour == pytest.approx(2.0 / 3.0)
    assert r.confusion["none"]["drone"] == 1
    assert r.pd == 1.0


def test_quiet_night_has_no_pd_but_an_honest_false_alert_rate() -> None:
    r = evaluate(
        truth(emission("ap", "other", 0, 3600), duration_s=3600), [alert("f", "handset", 5, 9)]
    )
    assert (r.intruders, r.pd, r.latency_s_p50, r.alerts_per_intruder) == (0, None, None, None)
    assert r.false_alerts_per_hour == 1.0
    assert r.confusion["other"]["handset"] == 1


def test_wrong_kind_is_a_false_alert_and_a_miss() -> None:
    r = evaluate(truth(DRONE), [alert("h", "handset", 11, 70)])
    assert (r.pd, r.false_alerts) == (0.0, 1)
    assert r.confusion["drone"] == {"drone": 0, "handset": 1, "none": 1}


def test_duplicate_alert_for_one_intruder() -> None:
    r = evaluate(
        truth(DRONE, HANDSET), [alert("a1", "drone", 11, 30), alert("a2", "drone", 40, 70)]
    )
    assert r.alerts_per_intruder == 2.0
    assert (r.alerts_matched, r.alerts_duplicate, r.false_alerts) == (2, 1, 0)
    assert r.per_intruder[0].alert_ids == ["a1", "a2"]
    assert r.per_intruder[0].latency_s == 1.0  # the earliest matched alert
    assert r.confusion["drone"]["drone"] == 2


def test_quiet_period_tolerance_after_the_end() -> None:
    t = truth(DRONE)
    late = [alert("late", "drone", 120, 125)]  # 50 s after the end: inside the default 60 s
    assert evaluate(t, late).pd == 1.0
    assert evaluate(t, late, MatchSettings(tolerance_after_s=30.0)).pd == 0.0


def test_latencies_are_exact() -> None:
    t = truth(DRONE, HANDSET, emission("drone-2", "drone", 300, 400))
    r = evaluate(
        t,
        [
            alert("a", "drone", 12.5, 70),
            alert("b", "handset", 103, 160),
            alert("c", "drone", 310, 400),
        ],
    )
    assert r.latencies_s == [2.5, 3.0, 10.0]
    assert r.latency_s_p50 == 3.0
    assert r.latency_s_p90 == pytest.approx(3.0 + 0.8 * 7.0)  # numpy linear interpolation


def test_location_error_is_exact_at_last_seen() -> None:
    moving = emission("drone-1", "drone", 0, 100, track=[[0, 0, 0, 50], [100, 100, 0, 50]])
    r = evaluate(
        truth(moving),
        [
            alert("a", "drone", 1, 40, xy=(43.0, 4.0), radius_m=6.0),
            alert("b", "drone", 2, 60, xy=(60, 12)),
        ],
    )
    assert r.location_errors_m == [5.0, 12.0]
    assert r.location_error_m_median == 8.5
    assert r.location_within_radius == 0.5
    assert evaluate(truth(moving), [alert("a", "drone", 1, 40)]).location_error_m_median is None


def test_location_picks_the_nearest_intruder() -> None:
    a = emission("drone-a", "drone", 0, 100, track=[[0, 0, 0, 30]])
    b = emission("drone-b", "drone", 0, 100, track=[[0, 200, 0, 30]])
    r = evaluate(truth(a, b), [alert("x", "drone", 5, 50, xy=(195, 3))])
    assert [i.detected for i in r.per_intruder] == [False, True]
    assert r.location_errors_m == pytest.approx([(25 + 9) ** 0.5])


def test_a_wide_radius_keeps_every_intruder_inside_it() -> None:
    """Two handsets 120 m apart, each alert placed at the one sensor that heard it with a
    500 m radius: the location cannot tell them apart, so the time overlap does."""
    a = emission("phone-a", "handset", 10, 170, track=[[0, 60, 80, 1.5]])
    b = emission("phone-b", "handset", 40, 150, track=[[0, -60, 80, 1.5]])
    alerts = [alert("gsm", "handset", 10, 170, xy=(0, 55), radius_m=500.0),
              alert("lte", "handset", 41, 150, xy=(0, 55), radius_m=500.0)]  # fmt: skip
    r = evaluate(truth(a, b), alerts)
    assert [i.alert_ids for i in r.per_intruder] == [["gsm"], ["lte"]]
    assert r.false_alerts == 0 and r.alerts_per_intruder == 1.0


def test_assignment_detects_every_intruder_it_can() -> None:
    # no locations. "long" overlaps b's window most (99 s vs 79 s), but only it can cover a:
    # a greedy choice by overlap would give both alerts to b and miss a
    t = truth(emission("drone-a", "drone", 0, 20), emission("drone-b", "drone", 0, 100))
    r = evaluate(t, [alert("long", "drone", 1, 100), alert("short", "drone", 150, 155)])
    assert [i.alert_ids for i in r.per_intruder] == [["long"], ["short"]]
    assert (r.pd, r.alerts_per_intruder) == (1.0, 1.0)


def test_sensor_offline_and_out_of_scope_alerts_are_counted_apart() -> None:
    r = evaluate(
        truth(DRONE),
        [
            alert("a", "drone", 11, 70),
            alert("off", "sensor_offline", 300, 900),
            alert("old", "drone", -9000, -8000),
        ],
    )
    assert (r.false_alerts, r.sensor_offline_alerts, r.alerts_out_of_scope, r.alerts_total) == (
        0,
        1,
        1,
        3,
    )
    assert [a.status for a in r.per_alert] == ["matched", "sensor_offline", "out_of_scope"]


@pytest.mark.parametrize(
    ("snr_db", "label"),
    [
        (-25.0, "<-20"),
        (-20.0, "[-20,-15)"),
        (7.5, "[5,10)"),
        (39.9, "[35,40)"),
        (40.0, ">=40"),
        (None, "unknown"),
    ],
)
def test_snr_bin_labels(snr_db: float | None, label: str) -> None:
    assert snr_bin_label(snr_db) == label


def test_pd_by_snr_bin_and_signature() -> None:
    t = truth(
        emission("h1", "handset", 0, 10, snr_db={"rf-1": -25.0}),
        emission(
            "h2", "handset", 200, 210, snr_db={"rf-1": 6.0, "rf-2": 8.0}, signature="lte_uplink"
        ),
        emission("h3", "handset", 500, 510, snr_db={"rf-2": 9.9}),
        emission("d1", "drone", 900, 910, snr_db={}),
    )
    r = evaluate(t, [alert("a", "handset", 201, 210)])
    bins = {b.label: (b.intruders, b.detected, b.pd) for b in r.pd_by_snr_bin}
    assert len(bins) == 15  # 2 open ends + 12 bins of 5 dB + unknown
    assert bins["<-20"] == (1, 0, 0.0)
    assert bins["[5,10)"] == (2, 1, 0.5)  # best SNR over sensors: 8 and 9.9
    assert bins["unknown"] == (1, 0, 0.0)
    assert bins["[0,5)"] == (0, 0, None)
    assert r.pd_by_signature == {"elrs_2g4": 0.0, "gsm_uplink": 0.0, "lte_uplink": 1.0}
    assert r.per_intruder[1].snr_bin == "[5,10)"


# ---------------------------------------------------------------- alert sources


ALERTS = [alert("a1", "drone", 11, 70), alert("a2", "handset", 101, 160)]


def _dumps(alerts: list[Alert]) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json") for a in alerts]


def test_parse_a_list_a_page_and_json_lines() -> None:
    as_list = json.dumps(_dumps(ALERTS))
    as_page = AlertPage(items=ALERTS, next_cursor=None).model_dump_json()
    as_lines = "\n".join(a.model_dump_json() for a in ALERTS) + "\n"
    for text in (as_list, as_page, as_lines):
        assert parse_alerts(text) == ALERTS
    assert parse_alerts("") == []


def test_json_lines_of_events_keep_the_latest_version() -> None:
    first = alert("a1", "drone", 11, 20)
    later = alert("a1", "drone", 11, 70)
    lines = [
        json.dumps(
            {
                "id": 1,
                "type": "alert.created",
                "site": "hmp-test",
                "at": "2023-11-14T22:13:31Z",
                "alert": first.model_dump(mode="json"),
            }
        ),
        json.dumps(
            {
                "id": 2,
                "type": "alert.updated",
                "site": "hmp-test",
                "at": "2023-11-14T22:14:31Z",
                "alert": later.model_dump(mode="json"),
            }
        ),
    ]
    assert parse_alerts("\n".join(lines)) == [later]


def test_bad_alert_file_says_where() -> None:
    with pytest.raises(EvaluateInputError, match="line 2"):
        parse_alerts(ALERTS[0].model_dump_json() + "\n{not json}\n")


def test_fetch_follows_next_cursor() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        assert request.url.path == "/v1/alerts"
        assert request.headers["authorization"] == "Bearer k3y"
        if "cursor" not in params:
            page = AlertPage(items=ALERTS[:1], next_cursor="c1")
        else:
            assert params["cursor"] == "c1"
            page = AlertPage(items=ALERTS[1:], next_cursor=None)
        return httpx.Response(200, content=page.model_dump_json())

    client = httpx.Client(
        base_url="http://hub.test",
        headers={"Authorization": "Bearer k3y"},
        transport=httpx.MockTransport(handler),
    )
    with client:
        assert fetch_alerts(client, site="hmp-test") == ALERTS
    assert seen == [
        {"limit": "500", "site": "hmp-test"},
        {"limit": "500", "site": "hmp-test", "cursor": "c1"},
    ]


def test_fetch_reports_http_errors() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(401, json={"title": "Unauthorized"}))
    with (
        httpx.Client(base_url="http://hub.test", transport=transport) as client,
        pytest.raises(EvaluateInputError, match="401"),
    ):
        fetch_alerts(client)


# ---------------------------------------------------------------- report and command


class _TagChecker(HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.svg_ids: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.svg_ids.append(dict(attrs).get("id") or "")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <line/>, <rect/>: self-closed

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def _scenario() -> tuple[Truth, list[Alert]]:
    moving = emission("drone-1", "drone", 10, 70, track=[[10, 0, 0, 40], [70, 90, 50, 40]])
    t = truth(moving, PILOT, HANDSET, emission("oven<1>", "other", 0, 600, track=[[0, 50, 30, 1]]))
    alerts = [
        alert("a1", "drone", 12, 40, xy=(50, 20), radius_m=15),
        alert("a2", "drone", 41, 70, xy=(80, 48)),
        alert("f<&>", "handset", 400, 420, xy=(20, 20)),
        alert("off", "sensor_offline", 100, 200),
    ]
    return t, alerts


def test_html_report_has_the_four_plots_and_is_well_formed() -> None:
    t, alerts = _scenario()
    page = render_report(t, evaluate(t, alerts))
    checker = _TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert checker.svg_ids == ["pd-vs-snr", "latency-histogram", "confusion-matrix", "site-map"]
    assert "f&lt;&amp;&gt;" in page and "oven&lt;1&gt;" in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert page == render_report(t, evaluate(t, alerts))  # no clock, no randomness


def test_report_with_nothing_to_show_still_renders() -> None:
    t = Truth.model_validate({"duration_s": 60, "seed": 1, "site": "s", "start_time_ns": START_NS})
    checker = _TagChecker()
    checker.feed(render_report(t, evaluate(t, [])))
    assert checker.errors == [] and len(checker.svg_ids) == 4


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sensor-hub")
    add_evaluate_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["evaluate", *argv])


def test_command_writes_json_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t, alerts = _scenario()
    (tmp_path / "truth.json").write_text(t.model_dump_json())
    (tmp_path / "alerts.json").write_text(json.dumps(_dumps(alerts)))
    assert run_evaluate(_args(str(tmp_path), "--alerts", str(tmp_path / "alerts.json"))) == 0
    result = json.loads((tmp_path / "evaluation.json").read_text())
    for key in (
        "pd",
        "pd_by_kind",
        "false_alerts_per_hour",
        "latency_s_p50",
        "latency_s_p90",
        "location_error_m_median",
        "alerts_per_intruder",
        "confusion",
        "per_intruder",
    ):
        assert key in result
    assert (
        result["pd"] == 0.5 and result["false_alerts"] == 1 and result["alerts_per_intruder"] == 2.0
    )
    assert (tmp_path / "evaluation.html").read_text().startswith("<!DOCTYPE html>")
    out = capsys.readouterr().out
    assert "Pd              0.50  (1/2; drone 1/1, handset 0/1)" in out


def test_command_fails_cleanly_without_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "alerts.json").write_text("[]")
    assert run_evaluate(_args(str(tmp_path), "--alerts", str(tmp_path / "alerts.json"))) == 2
    assert "no truth.json" in capsys.readouterr().err


def test_source_is_required() -> None:
    with pytest.raises(SystemExit):
        _args("somewhere")


def test_sensor_outages_latency_resolution_and_false_offline_alerts() -> None:
    t = truth(emission("drone-1", "drone", 0, 100)).model_copy(
        update={"outages": [TruthOutage(sensor_id="rf-2", start_s=40.0, end_s=100.0),
                            TruthOutage(sensor_id="rf-3", start_s=10.0, end_s=20.0)]}
    )  # fmt: skip

    def offline(alert_id: str, sensor: str, raised_s: float, last_s: float, state: str) -> Alert:
        return alert(alert_id, "sensor_offline", raised_s, last_s).model_copy(
            update={"sensors": [sensor], "signatures": [], "state": state}
        )

    alerts = [
        alert("d", "drone", 1, 90),
        offline("cut", "rf-2", 66.0, 100.5, "resolved"),
        offline("late", "rf-3", 30.0, 40.0, "resolved"),  # after rf-3 was back: not it
        offline("other", "rf-1", 50.0, 60.0, "resolved"),
    ]
    r = evaluate(t, alerts)
    assert (r.outages, r.outages_detected, r.outages_resolved) == (2, 1, 1)
    assert r.offline_latencies_s == pytest.approx([26.0])
    assert r.false_offline_alerts == 2 and r.sensor_offline_alerts == 3
    assert r.false_alerts == 0 and r.pd == 1.0


def test_suppressed_alerts_are_neither_matches_nor_false_alerts() -> None:
    t = truth(emission("drone-1", "drone", 0, 100), emission("survey", "drone", 0, 50))
    survey = alert("s", "drone", 5, 50).model_copy(update={"state": "suppressed"})
    done = survey.model_copy(update={"id": "s2", "state": "resolved",
                                     "suppressed_by": "allow:survey"})  # fmt: skip
    r = evaluate(t, [alert("d", "drone", 1, 90), survey, done])
    assert r.suppressed_alerts == 2 and r.false_alerts == 0 and r.alerts_matched == 1
    assert {a.alert_id: a.status for a in r.per_alert}["s"] == "suppressed"
