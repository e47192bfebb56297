"""`GET /v1/site` and its floor plan; `serve --site` with a bad file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from api.app import create_app
from sensor_hub.cli import _site, main
from sensor_hub.hub import Hub
from sensor_hub.site import load_site
from sensor_hub.store import Store
from tests.api.conftest import TestClient, make_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
DOC = {
    "site": "hmp-north",
    "zones": {"yard": [[-400, 0], [400, 0], [400, 60], [-400, 60]]},
    "cells": {"a-1-01": [[30, 60], [36, 60], [36, 64], [30, 64]]},
    "sensors": [
        {
            "sensor_id": "mic-1",
            "modality": "acoustic",
            "x_m": 10,
            "y_m": 5,
            "zone": "yard",
            "orientation_deg": 45,
        }
    ],
    "floor_plan": {"image": "plan.png", "x_m": -400, "y_m": -50, "width_m": 800, "height_m": 200},
    "allow": [{"name": "staff-radios", "signatures": ["tetra"]}],
}


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    (tmp_path / "plan.png").write_bytes(PNG)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(DOC))
    return path


@pytest.fixture
def site_client(tmp_path: Path, site_file: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, site=load_site(site_file))
    store = Store.open(settings.db_url)
    with TestClient(create_app(Hub(settings, store))) as client:
        yield client
    store.close()


def test_site_document(site_client: TestClient) -> None:
    r = site_client.get("/v1/site")
    assert r.status_code == 200
    doc = r.json()
    assert doc["site"] == "hmp-north"
    assert doc["zones"]["yard"][1] == [400.0, 0.0]
    assert doc["cells"]["a-1-01"][0] == [30.0, 60.0]
    assert doc["sensors"][0]["orientation_deg"] == 45.0
    assert doc["allow"][0]["name"] == "staff-radios"
    assert doc["floor_plan"]["url"] == "/v1/site/floor-plan"
    assert "image" not in doc["floor_plan"]
    plan = site_client.get(doc["floor_plan"]["url"])
    assert plan.status_code == 200 and plan.content == PNG
    assert plan.headers["content-type"] == "image/png"
    assert plan.headers["content-security-policy"] == "sandbox"
    assert plan.headers["x-content-type-options"] == "nosniff"


def test_no_floor_plan_is_a_404_problem(client: TestClient) -> None:
    assert client.get("/v1/site").json()["floor_plan"] is None
    r = client.get("/v1/site/floor-plan")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_serve_refuses_a_bad_site_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(yaml.safe_dump({**DOC, "floor_plan": None, "timezone": "Nowhere/Else"}))
    assert main(["serve", "--site", str(bad), "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err
    assert "invalid site file" in err and "timezone" in err


def test_serve_takes_a_scenario_as_its_site() -> None:
    scenario = Path(__file__).parents[2] / "simulator" / "scenarios" / "site_rules.yaml"
    site = _site(str(scenario))
    assert site.site == "hmp-north" and "cell-block-a" in site.zones
    assert {s.sensor_id for s in site.sensors} == {"rf-wall-n", "rf-cellblock-a", "mic-wall-n"}
    assert [r.name for r in site.allow] == ["staff-radios"]  # dated rules need a start time
