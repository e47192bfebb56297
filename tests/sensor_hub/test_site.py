"""Site files: validation with clear errors, places of points, allow rules and maintenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from sensor_hub.schemas import Detection
from sensor_hub.site import SiteConfig, SiteFileError, load_site
from sensor_hub.suppression import in_maintenance, suppression_reason

SITE_DOC = {
    "site": "hmp-north",
    "name": "HMP North",
    "timezone": "Europe/London",
    "zones": {
        "yard": [[-400, 0], [400, 0], [400, 60], [-400, 60]],
        "cell-block-a": [[30, 60], [90, 60], [90, 100], [30, 100]],
    },
    "cells": {"a-1-01": [[30, 60], [36, 60], [36, 64], [30, 64]]},
    "sensors": [
        {"sensor_id": "rf-wall-n", "modality": "rf", "x_m": 0, "y_m": 5, "z_m": 6, "zone": "yard"},
        {
            "sensor_id": "mic-1",
            "modality": "acoustic",
            "x_m": 10,
            "y_m": 5,
            "z_m": 2,
            "zone": "yard",
            "orientation_deg": 90,
        },
    ],
    "allow": [
        {"name": "staff-radios", "signatures": ["tetra", "dmr"], "note": "Airwave handsets"},
        {
            "name": "survey-drone",
            "signatures": ["dji_droneid", "dji_ocusync_video"],
            "zones": ["yard"],
            "windows": [{"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T11:00:00Z"}],
        },
        {
            "name": "day-shift-wifi",
            "band_hz": [2.4e9, 2.5e9],
            "signatures": ["wifi_probe"],
            "windows": [
                {
                    "daily_from": "08:00",
                    "daily_to": "18:00",
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                }
            ],
        },
    ],
    "maintenance": [
        {
            "name": "mic-service",
            "sensors": ["mic-1"],
            "windows": [{"daily_from": "22:00", "daily_to": "02:00", "days": ["sun"]}],
        },
    ],
}


def _write(tmp_path: Path, doc: object) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def _det(signature: str, t: datetime, sensor: str = "rf-wall-n", freq: float = 2.44e9,
         ) -> Detection:  # fmt: skip
    return Detection(site="hmp-north", sensor_id=sensor, modality="rf", kind="drone",
                     signature=signature, t_start=t, t_end=t + timedelta(seconds=0.02),
                     confidence=0.9, snr_db=20.0, freq_hz=freq)  # fmt: skip


def test_load_and_places(tmp_path: Path) -> None:
    site = load_site(_write(tmp_path, SITE_DOC))
    assert site.site == "hmp-north" and site.tz.key == "Europe/London"
    assert site.place_of(33.0, 62.0) == ("cell-block-a", "a-1-01")
    assert site.place_of(0.0, 30.0) == ("yard", None)
    assert site.place_of(0.0, -30.0) == (None, None)
    mic = site.placement("mic-1")
    assert mic is not None and mic.orientation_deg == 90.0
    doc = site.public()
    assert doc["floor_plan"] is None and doc["cells"]["a-1-01"][0] == [30.0, 60.0]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"zones": {"yard": [[0, 0], [1, 1]]}}, "zones.yard"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"allow": [{"name": "everything"}]}, "matches everything"),
        ({"allow": [{"name": "x", "zones": ["nowhere"]}]}, "unknown zone 'nowhere'"),
        (
            {
                "maintenance": [
                    {
                        "name": "m",
                        "sensors": ["ghost"],
                        "windows": [{"daily_from": "01:00", "daily_to": "02:00"}],
                    }
                ]
            },
            "unknown sensor 'ghost'",
        ),
        (
            {
                "allow": [
                    {
                        "name": "w",
                        "signatures": ["x"],
                        "windows": [
                            {"start": "2026-12-01T11:00:00Z", "end": "2026-12-01T09:00:00Z"}
                        ],
                    }
                ]
            },
            "end must be after",
        ),
        (
            {
                "allow": [
                    {
                        "name": "w",
                        "signatures": ["x"],
                        "windows": [{"start": "2026-12-01T09:00:00", "end": "2026-12-01T11:00:00"}],
                    }
                ]
            },
            "need a timezone",
        ),
        ({"sensors": [{"sensor_id": "a"}, {"sensor_id": "a"}]}, "listed twice"),
        ({"colour": "blue"}, "colour"),
        (
            {
                "maintenance": [
                    {
                        "name": "m",
                        "sensors": ["mic-1"],
                        "windows": [{"daily_from": 1110, "daily_to": "02:00"}],
                    }
                ]
            },
            "write it quoted",
        ),  # what YAML makes of an unquoted 18:30
        (
            {
                "maintenance": [
                    {
                        "name": "m",
                        "sensors": ["mic-1"],
                        "windows": [{"daily_from": "08:00+01:00", "daily_to": "09:00"}],
                    }
                ]
            },
            "not a local clock time",
        ),
        ({"sensors": [{"sensor_id": "a", "x_m": float("nan")}]}, "finite"),
        (
            {
                "floor_plan": {
                    "image": "missing.png",
                    "x_m": 0,
                    "y_m": 0,
                    "width_m": 10,
                    "height_m": 10,
                }
            },
            "does not exist",
        ),
    ],
)
def test_bad_site_files_say_what_and_where(tmp_path: Path, patch: dict[str, object],
                                           message: str) -> None:  # fmt: skip
    with pytest.raises(SiteFileError, match=message):
        load_site(_write(tmp_path, {**SITE_DOC, **patch}))


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError, match="cannot read"):
        load_site(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("zones: [unclosed\n")
    with pytest.raises(SiteFileError, match="not valid YAML"):
        load_site(bad)
    bad.write_text("- a list\n")
    with pytest.raises(SiteFileError, match="mapping"):
        load_site(bad)


def test_floor_plan_path_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "plan.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    doc = {**SITE_DOC, "floor_plan": {"image": "plan.png", "x_m": -400, "y_m": -50,
                                      "width_m": 800, "height_m": 200}}  # fmt: skip
    site = load_site(_write(tmp_path, doc))
    assert site.floor_plan is not None and site.floor_plan.image == tmp_path / "plan.png"
    public = site.public()["floor_plan"]
    assert public["url"] == "/v1/site/floor-plan" and public["media_type"] == "image/png"
    assert "image" not in public  # the server's file path is not published


def test_allow_rules() -> None:
    site = SiteConfig.model_validate(SITE_DOC)
    in_survey = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert suppression_reason(_det("tetra", in_survey), site) == "allow:staff-radios"
    assert suppression_reason(_det("dji_droneid", in_survey), site) == "allow:survey-drone"
    # the survey drone outside its window, or seen only from outside its zone, is an intruder
    assert suppression_reason(_det("dji_droneid", in_survey + timedelta(hours=2)), site) is None
    assert suppression_reason(_det("dji_droneid", in_survey), site, places={"outside"}) is None
    assert suppression_reason(_det("elrs_2g4", in_survey), site) is None
    # Tuesday 1 Dec 2026, 09:00 London = 09:00 UTC (GMT): inside the day shift
    assert suppression_reason(_det("wifi_probe", in_survey), site) == "allow:day-shift-wifi"
    assert suppression_reason(_det("wifi_probe", in_survey, freq=5.2e9), site) is None
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    assert suppression_reason(_det("wifi_probe", saturday), site) is None


def test_daily_window_in_local_time_across_midnight_and_dst() -> None:
    site = SiteConfig.model_validate(SITE_DOC)
    sunday_late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # Sunday 23:30 GMT
    monday_early = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)  # still Sunday's window
    monday_late = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # Monday: not a service day
    assert in_maintenance(site, "mic-1", sunday_late) == "mic-service"
    assert in_maintenance(site, "mic-1", monday_early) == "mic-service"
    assert in_maintenance(site, "mic-1", monday_late) is None
    assert in_maintenance(site, "rf-wall-n", sunday_late) is None
    # summer time: 21:30 UTC on Sunday 5 July 2026 is 22:30 BST, inside the window
    assert in_maintenance(site, "mic-1", datetime(2026, 7, 5, 21, 30, tzinfo=UTC))
    det = _det("rotor_harmonics", sunday_late, sensor="mic-1")
    assert suppression_reason(det, site) == "maintenance:mic-service"
