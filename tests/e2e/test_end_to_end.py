"""The whole path for real: simulated collectors -> broker -> hub -> store -> REST and SSE."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from scipy.io import wavfile

from sensor_hub import topics
from sensor_hub.png import png_size
from simulator.demo import demo_scenario
from tests.conftest import Mosquitto
from tests.e2e.conftest import ServiceThread, read_sse, wait_for_alerts

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def mqtt_client(url: str, name: str) -> paho.Client:
    host, port = url.removeprefix("mqtt://").split(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=paho.MQTTv5)
    client.connect(host, int(port))
    client.loop_start()
    return client


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_demo_scenario_alerts_over_rest_sse_and_mqtt(
    broker: str, request: pytest.FixtureRequest, service_factory: Callable[..., ServiceThread]
) -> None:
    url = request.getfixturevalue("mosquitto").url if broker == "mosquitto" else None
    svc = service_factory(broker_url=url, demo=True)
    heard: list[dict[str, Any]] = []
    if svc.running is not None:
        listener = (
            mqtt_client(svc.running.broker_url, "e2e-listener") if broker == "mosquitto" else None
        )
        if listener is not None:
            listener.on_message = lambda c, u, m: heard.append(json.loads(m.payload))
            listener.subscribe(topics.events_topic("demo"), qos=1)
    alerts = wait_for_alerts(svc.url, {"drone", "handset"}, timeout_s=30)
    elapsed = time.monotonic() - svc.started_at
    assert elapsed < 30
    assert (
        "elrs_2g4" in alerts["drone"]["signatures"]
        or "rotor_harmonics" in alerts["drone"]["signatures"]
    )
    assert alerts["handset"]["signatures"] == ["gsm_uplink"]
    assert alerts["handset"]["zone"] == "cell-block-a"
    ids = {a["id"] for a in alerts.values()}

    def created_both(events: list[dict[str, Any]]) -> bool:
        return ids <= {e["alert"]["id"] for e in events if e["type"] == "alert.created"}

    events = read_sse(svc.url, after=0, want=created_both)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    # Wi-Fi is recognised and stored, never alerted
    with httpx.Client(base_url=svc.url) as client:
        all_alerts = client.get("/v1/alerts").json()["items"]
        assert {a["kind"] for a in all_alerts} <= {"drone", "handset"}
        sensors = {s["sensor_id"]: s for s in client.get("/v1/sensors").json()}
        assert {"rf-wall-n", "rf-cellblock-a", "mic-wall-n"} <= set(sensors)
        assert all(sensors[s]["state"] == "online" for s in ("rf-wall-n", "rf-cellblock-a"))
    if broker == "mosquitto":
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(e.get("alert") for e in heard):
            time.sleep(0.1)
        assert any(e["type"] == "alert.created" for e in heard), "events not published on MQTT"
        listener.loop_stop()
        listener.disconnect()
    # evidence: a spectrogram of the strongest RF frame, a clip of the strongest audio
    drone = wait_for_evidence(svc.url, alerts["drone"]["id"], {"rf", "acoustic"}, timeout_s=30)
    handset = wait_for_evidence(svc.url, alerts["handset"]["id"], {"rf"}, timeout_s=10)
    with httpx.Client(base_url=svc.url) as client:
        for item in (drone["rf"], handset["rf"]):
            png = client.get(item["url"])
            assert png.status_code == 200 and png.headers["content-type"] == "image/png"
            assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
            assert png_size(png.content) == (item["width_px"], item["height_px"])
        assert drone["rf"]["sensor_id"] == "rf-wall-n"
        assert handset["rf"]["signature"] == "gsm_uplink"
        wav = client.get(drone["acoustic"]["url"])
        assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
        rate, pcm = wavfile.read(io.BytesIO(wav.content))
        assert rate == 16000 and 0 < len(pcm) <= 10 * rate


def wait_for_evidence(
    url: str, alert_id: str, modalities: set[str], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """Poll GET /v1/alerts/{id}/evidence until it has an item of each modality."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, timeout=5) as client:
        while time.monotonic() < deadline:
            response = client.get(f"/v1/alerts/{alert_id}/evidence")
            assert response.status_code == 200, response.text
            found = {i["modality"]: i for i in response.json()["items"]}
            if modalities <= set(found):
                return found
            time.sleep(0.25)
    raise AssertionError(f"evidence {modalities} of {alert_id} not seen; saw {sorted(found)}")


def test_http_readings_become_alerts(service_factory: Callable[..., ServiceThread]) -> None:
    svc = service_factory(broker_url=None)
    scenario = demo_scenario(site="demo", seed=3)
    start_ns = time.time_ns()
    posted = 0
    with httpx.Client(base_url=svc.url, timeout=10) as client:
        for msg in scenario.messages(start_ns):
            if msg.due_s > 12:
                break
            if topics.parse_topic(msg.topic).__class__ is not topics.FrameTopic:
                continue
            r = client.post(
                "/v1/readings",
                content=msg.payload,
                headers={"content-type": "application/octet-stream"},
            )
            assert r.status_code == 202, r.text
            posted += 1
        garbage = client.post(
            "/v1/readings",
            content=b"SHF1garbage",
            headers={"content-type": "application/octet-stream"},
        )
        assert garbage.status_code == 422
        assert garbage.headers["content-type"].startswith("application/problem+json")
        assert garbage.json()["reason"] in {"header_too_long", "too_short"}
    assert posted > 50
    alerts = wait_for_alerts(svc.url, {"drone", "handset"}, timeout_s=10)
    events = read_sse(
        svc.url,
        want=lambda evs: (
            {a["id"] for a in alerts.values()} <= {e["alert"]["id"] for e in evs if e.get("alert")}
        ),
    )
    assert events


def _garbage(rng: np.random.Generator, valid: bytes, i: int) -> bytes:
    choice = i % 5
    if choice == 0:
        return rng.bytes(int(rng.integers(0, 300)))
    if choice == 1:
        return b"XXXX" + valid[4:200]
    if choice == 2:
        return valid[: int(rng.integers(8, len(valid) - 1))]
    if choice == 3:
        return b"SHF1" + (5).to_bytes(4, "little") + b"{nope"
    return b""


def test_garbage_mqtt_payloads_do_not_stop_valid_frames(
    mosquitto: Mosquitto, service_factory: Callable[..., ServiceThread]
) -> None:
    svc = service_factory(broker_url=mosquitto.url, queue_size=5000)
    scenario = demo_scenario(site="demo", seed=5)
    rng = np.random.default_rng(0)
    client = mqtt_client(mosquitto.url, "e2e-garbage")
    frames = [
        m for m in scenario.messages(time.time_ns()) if m.due_s <= 12 and "/frames/" in m.topic
    ]
    per_frame = 1000 / len(frames)
    sent_garbage = 0
    owed = 0.0
    t0 = time.monotonic()
    for msg in frames:
        owed += per_frame
        while owed >= 1 and sent_garbage < 1000:
            client.publish(
                msg.topic, _garbage(rng, msg.payload, sent_garbage), qos=1
            ).wait_for_publish(5)
            sent_garbage += 1
            owed -= 1
        client.publish(msg.topic, msg.payload, qos=1).wait_for_publish(5)
        # 2x real time: the hub must keep up with the valid frames while rejecting garbage
        delay = t0 + msg.due_s / 2 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    while sent_garbage < 1000:
        client.publish(frames[-1].topic, b"junk", qos=1).wait_for_publish(5)
        sent_garbage += 1
    alerts = wait_for_alerts(svc.url, {"drone", "handset"}, timeout_s=20)
    assert alerts["handset"]["signatures"] == ["gsm_uplink"]
    client.loop_stop()
    client.disconnect()

    with httpx.Client(base_url=svc.url) as http:
        deadline = time.monotonic() + 60
        total = 0
        while time.monotonic() < deadline:
            sensors = http.get("/v1/sensors").json()
            total = sum(s["rejects_total"] for s in sensors)
            if total >= 1000:
                break
            time.sleep(0.2)
        assert total == 1000
        per_sensor = {s["sensor_id"]: s for s in sensors}
        assert per_sensor["rf-wall-n"]["rejects_by_reason"]["bad_magic"] > 0
        metrics = http.get("/metrics").text
        assert 'sensorhub_frames_rejected_total{reason="bad_magic",sensor="rf-wall-n"}' in metrics
        assert "sensorhub_mqtt_dropped_total" in metrics
        dropped = [
            line
            for line in metrics.splitlines()
            if line.startswith("sensorhub_mqtt_dropped_total{")
        ]
        assert dropped == []  # nothing dropped at this rate


def test_broker_restart_reconnects_and_keeps_ingesting(
    mosquitto: Mosquitto, service_factory: Callable[..., ServiceThread]
) -> None:
    svc = service_factory(broker_url=mosquitto.url)
    scenario = demo_scenario(site="demo", seed=9)
    mosquitto.restart()
    hub = svc.running.hub  # type: ignore[union-attr]
    deadline = time.monotonic() + 20
    connected = threading.Event()
    while time.monotonic() < deadline:
        if svc.call(lambda: hub.ready().get("broker")) == "ok":
            connected.set()
            break
        time.sleep(0.2)
    assert connected.is_set(), "hub did not reconnect after the broker restart"
    client = mqtt_client(mosquitto.url, "e2e-after-restart")
    for msg in scenario.messages(time.time_ns()):
        if msg.due_s > 8:
            break
        if "/frames/" in msg.topic:
            client.publish(msg.topic, msg.payload, qos=1).wait_for_publish(5)
    wait_for_alerts(svc.url, {"handset"}, timeout_s=15)
    client.loop_stop()
    client.disconnect()


def _metric(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def test_full_ingest_queue_drops_are_counted_and_the_hub_carries_on(
    mosquitto: Mosquitto, service_factory: Callable[..., ServiceThread]
) -> None:
    svc = service_factory(broker_url=mosquitto.url, queue_size=2, stage1_workers=1)
    scenario = demo_scenario(site="demo", seed=11)
    wall = [m for m in scenario.messages(time.time_ns()) if m.topic.endswith("rf-wall-n/frames/iq")]
    client = mqtt_client(mosquitto.url, "e2e-flood")
    for msg in wall[:60]:  # 60 x 2 MB as fast as the broker takes them
        client.publish(msg.topic, msg.payload, qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()
    with httpx.Client(base_url=svc.url, timeout=10) as http:
        deadline = time.monotonic() + 60
        dropped = accepted = 0.0
        while time.monotonic() < deadline:
            metrics = http.get("/metrics").text
            dropped = _metric(metrics, "sensorhub_mqtt_dropped_total{")
            accepted = _metric(metrics, "sensorhub_frames_total{")
            if dropped + accepted >= 60:
                break
            time.sleep(0.2)
        assert dropped > 0, "a full queue must drop (and count), not block or grow"
        assert accepted > 0
        assert dropped + accepted == 60, "every message is either processed or counted as dropped"
        assert http.get("/healthz").status_code == 200


def test_persistent_session_delivers_frames_sent_while_the_hub_was_down(
    mosquitto: Mosquitto, service_factory: Callable[..., ServiceThread]
) -> None:
    client_id = f"sensor-hub-persist-{time.monotonic_ns()}"
    first = service_factory(broker_url=mosquitto.url, mqtt_client_id=client_id)
    first.close()  # the MQTT v5 session (clean_start false, expiry 1 h) outlives the connection
    scenario = demo_scenario(site="demo", seed=13)
    client = mqtt_client(mosquitto.url, "e2e-offline-publisher")
    for msg in scenario.messages(time.time_ns()):
        if msg.due_s > 8:
            break
        if msg.topic.endswith("rf-cellblock-a/frames/iq"):
            client.publish(msg.topic, msg.payload, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()
    second = service_factory(broker_url=mosquitto.url, mqtt_client_id=client_id)
    alerts = wait_for_alerts(second.url, {"handset"}, timeout_s=20)
    assert alerts["handset"]["signatures"] == ["gsm_uplink"]


def test_collector_last_will_marks_the_sensor_offline(
    mosquitto: Mosquitto, service_factory: Callable[..., ServiceThread]
) -> None:
    svc = service_factory(broker_url=mosquitto.url)
    host, port = mosquitto.url.removeprefix("mqtt://").split(":")
    status = topics.status_topic("demo", "rf-lwt")
    collector = paho.Client(CallbackAPIVersion.VERSION2, client_id="e2e-lwt", protocol=paho.MQTTv5)
    collector.will_set(status, b'{"state": "offline"}', qos=1, retain=True)
    collector.connect(host, int(port), keepalive=5)
    collector.loop_start()
    online = collector.publish(status, b'{"state": "online", "t": 1}', qos=1, retain=True)
    online.wait_for_publish(5)

    def state() -> str | None:
        sensors = httpx.get(f"{svc.url}/v1/sensors").json()
        return next((s["state"] for s in sensors if s["sensor_id"] == "rf-lwt"), None)

    deadline = time.monotonic() + 10
    while state() != "online":
        assert time.monotonic() < deadline, "status online not tracked"
        time.sleep(0.1)
    collector.loop_stop()
    collector.socket().close()  # the collector dies: no DISCONNECT, so the broker sends its will
    deadline = time.monotonic() + 15
    while state() != "offline":
        assert time.monotonic() < deadline, "last will did not mark the sensor offline"
        time.sleep(0.1)
    events = read_sse(svc.url, want=lambda evs: any(e["type"] == "sensor.offline" for e in evs))
    offline = [e["sensor"]["sensor_id"] for e in events if e["type"] == "sensor.offline"]
    assert "rf-lwt" in offline
