from __future__ import annotations

import pytest

from sensor_hub.hub import Hub

from .conftest import RaiseAlert, TestClient

PROBLEM = "application/problem+json"


def test_an_alert_raised_by_stage_2_is_listed(client: TestClient, raise_alert: RaiseAlert) -> None:
    alert_id = raise_alert()

    page = client.get("/v1/alerts").json()

    assert [a["id"] for a in page["items"]] == [alert_id]
    assert page["items"][0]["state"] == "active"
    assert page["items"][0]["kind"] == "drone"
    assert page["next_cursor"] is None


def test_filters_by_state_kind_site_and_time(
    client: TestClient, hub: Hub, raise_alert: RaiseAlert
) -> None:
    drone = raise_alert(kind="drone")
    handset = raise_alert(kind="handset")
    elsewhere = raise_alert(kind="drone", site="north")
    assert client.post(f"/v1/alerts/{handset}/ack", json={"note": "seen"}).status_code == 200

    def ids(**params: object) -> set[str]:
        response = client.get("/v1/alerts", params=params)
        assert response.status_code == 200, response.text
        return {a["id"] for a in response.json()["items"]}

    assert ids() == {drone, handset, elsewhere}
    assert ids(state="active") == {drone, elsewhere}
    assert ids(state=["active", "acknowledged"]) == {drone, handset, elsewhere}
    assert ids(kind="handset") == {handset}
    assert ids(kind=["handset", "drone"], site="north") == {elsewhere}
    assert ids(zone="nowhere") == set()
    assert ids(since="2000-01-01T00:00:00Z") == {drone, handset, elsewhere}
    assert ids(since="2999-01-01T00:00:00") == set()  # no zone: read as UTC
    assert ids(until="2000-01-01T00:00:00+02:00") == set()


def test_unknown_filter_values_are_422_problems(client: TestClient) -> None:
    response = client.get("/v1/alerts", params={"state": "sleeping", "limit": 0})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    locations = [e["loc"] for e in response.json()["errors"]]
    assert ["query", "state", 0] in locations
    assert ["query", "limit"] in locations


def test_pages_follow_the_cursor_without_repeats(
    client: TestClient, raise_alert: RaiseAlert
) -> None:
    created = {raise_alert(site=f"site{i}") for i in range(5)}

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/alerts", params=params).json()
        seen += [a["id"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == created


def test_a_malformed_cursor_is_a_400_problem(client: TestClient) -> None:
    response = client.get("/v1/alerts", params={"cursor": "definitely-not-a-cursor"})

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert "cursor" in response.json()["detail"]


def test_ack_then_resolve_with_notes_is_audited(
    client: TestClient, raise_alert: RaiseAlert
) -> None:
    alert_id = raise_alert()

    acked = client.post(f"/v1/alerts/{alert_id}/ack", json={"note": "on camera 4", "user": "ann"})
    assert acked.status_code == 200
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["note"] == "on camera 4"

    resolved = client.post(f"/v1/alerts/{alert_id}/resolve", json={"note": "landed, seized"})
    assert resolved.status_code == 200
    assert resolved.json()["state"] == "resolved"

    detail = client.get(f"/v1/alerts/{alert_id}").json()
    assert detail["alert"]["state"] == "resolved"
    assert [(a["action"], a["user"], a["note"]) for a in detail["audit"]] == [
        ("ack", "ann", "on camera 4"),
        ("resolve", "operator", "landed, seized"),
    ]
    # hub._fuse links only detections that arrive once the alert exists (see the report)
    assert len(detail["detections"]) >= 1
    assert {d["signature"] for d in detail["detections"]} == {"dji_droneid"}


def test_ack_without_a_body_uses_the_defaults(client: TestClient, raise_alert: RaiseAlert) -> None:
    alert_id = raise_alert()

    assert client.post(f"/v1/alerts/{alert_id}/ack").json()["state"] == "acknowledged"


@pytest.mark.parametrize(
    ("first", "second"), [("ack", "ack"), ("resolve", "ack"), ("resolve", "resolve")]
)
def test_an_action_that_does_not_fit_the_state_is_409(
    client: TestClient, raise_alert: RaiseAlert, first: str, second: str
) -> None:
    alert_id = raise_alert()
    assert client.post(f"/v1/alerts/{alert_id}/{first}", json={}).status_code == 200

    response = client.post(f"/v1/alerts/{alert_id}/{second}", json={"note": "again"})

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 409
    assert alert_id in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/alerts/alr_nope"),
        ("POST", "/v1/alerts/alr_nope/ack"),
        ("POST", "/v1/alerts/alr_nope/resolve"),
    ],
)
def test_unknown_alert_is_a_404_problem(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={"note": "x"} if method == "POST" else None)

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["title"] == "Not found"
    assert problem["instance"] == path
    assert "alr_nope" in problem["detail"]


def test_an_invalid_action_body_is_a_422_problem(
    client: TestClient, raise_alert: RaiseAlert
) -> None:
    alert_id = raise_alert()

    response = client.post(f"/v1/alerts/{alert_id}/ack", json={"note": "x", "extra": 1})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"]
