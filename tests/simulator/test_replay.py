"""Replay captures over HTTP (httpx.MockTransport) and MQTT (a real mosquitto)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from sensor_hub.codec import decode_frame
from sensor_hub.errors import FrameError
from simulator.capture import record
from simulator.capture_reader import capture_frames, read_capture
from simulator.commands import SCENARIOS, CommandError, load_scenario
from simulator.demo import demo_scenario
from simulator.replay import ReplayError, replay, simulate_async
from tests.conftest import SHARED_DATA, Mosquitto, require_shared_data

DATA = SHARED_DATA
GSM_META = DATA / "rf" / "gsm-uplink" / "iq-ul-4bursts.sigmf-meta"
WAV = DATA / "acoustic" / "svanstrom-dev" / "DRONE_001.wav"
RECORD_S = 2.0


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replay-capture")
    record(demo_scenario(), out, duration_s=RECORD_S)
    return out


class Hub:
    """A stub of POST /v1/readings: decodes each frame, rejects one sensor, dedups by seq."""

    def __init__(self, reject_sensor: str | None = None) -> None:
        self.reject_sensor = reject_sensor
        self.frames: list[tuple[str, int, int]] = []  # sensor, seq, t0_ns
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/readings"
        assert request.headers["content-type"] == "application/octet-stream"
        try:
            h = decode_frame(request.content).header
        except FrameError as exc:
            return httpx.Response(422, json={"reason": exc.reason})
        if h.sensor_id == self.reject_sensor:
            return httpx.Response(422, json={"reason": "payload_length", "title": "no"})
        key = (h.sensor_id, h.boot_id, h.seq)
        duplicate = key in self.seen
        self.seen.add(key)
        self.frames.append((h.sensor_id, h.seq, h.t0_ns))
        return httpx.Response(202, json={"duplicate": duplicate, "detections": []})


def test_replay_over_http_counts_and_restamps(capture_dir: Path) -> None:
    hub = Hub(reject_sensor="rf-cellblock-a")
    start = 1_900_000_000 * 10**9
    summary = replay(capture_dir, http_url="http://hub.test", speed=0, start_time_ns=start,
                     boot_id="r1", http_transport=httpx.MockTransport(hub))  # fmt: skip
    expected = list(capture_frames(read_capture(capture_dir), start_time_ns=start))
    n_cells = sum("/rf-cellblock-a/" in f.topic for f in expected)
    assert summary.sent == len(expected) == 10 + 8 + 2
    assert summary.rejected == {"payload_length": n_cells}
    assert summary.accepted == len(expected) - n_cells == len(hub.frames)
    assert summary.frames_by_sensor == {"rf-wall-n": 10, "rf-cellblock-a": 8, "mic-wall-n": 2}
    assert min(t for _s, _q, t in hub.frames) == start
    # the same boot_id again: the hub sees duplicates
    again = replay(capture_dir, http_url="http://hub.test", speed=0, start_time_ns=start,
                   boot_id="r1", http_transport=httpx.MockTransport(hub))  # fmt: skip
    assert again.duplicates == again.accepted


def test_replay_paces_by_speed(capture_dir: Path) -> None:
    hub = Hub()
    t0 = time.monotonic()
    summary = replay(capture_dir, http_url="http://hub.test", speed=8.0,
                     http_transport=httpx.MockTransport(hub))  # fmt: skip
    elapsed = time.monotonic() - t0
    assert summary.last_due_s == RECORD_S
    assert RECORD_S / 8.0 * 0.9 <= elapsed < 5.0
    assert len({b for _s, b, _t in hub.seen}) == 1  # one fresh random boot_id per replay


def test_replay_real_recordings_over_http() -> None:
    require_shared_data()
    hub = Hub()
    summary = replay([GSM_META, WAV], http_url="http://hub.test", speed=0, site="lab",
                     http_transport=httpx.MockTransport(hub))  # fmt: skip
    assert summary.frames_by_sensor == {"iq-ul-4bursts": 1, "DRONE_001": 10}
    assert summary.rejected == {}


def test_unreachable_hub_is_an_error(capture_dir: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ReplayError, match=r"POST http://hub\.test/v1/readings failed"):
        replay(capture_dir, http_url="http://hub.test", speed=0,
               http_transport=httpx.MockTransport(refuse))  # fmt: skip


class Counter:
    def __init__(self, broker: Mosquitto, protocol: MQTTProtocolVersion) -> None:
        self.topics: list[str] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        self.client.on_connect = lambda c, *_: c.subscribe("sensorhub/v1/+/+/frames/#", qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, client: object, userdata: object, msg: paho.MQTTMessage) -> None:
        decode_frame(bytes(msg.payload))
        with self.lock:
            self.topics.append(msg.topic)

    def wait_for(self, n: int, timeout_s: float = 10.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.topics) < n:
            time.sleep(0.02)
        return len(self.topics)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.broker
@pytest.mark.parametrize(("protocol", "paho_protocol"), [("5", paho.MQTTv5),
                                                         ("3.1.1", paho.MQTTv311)])  # fmt: skip
def test_replay_over_mqtt(
    capture_dir: Path,
    mosquitto: Mosquitto,
    protocol: str,
    paho_protocol: MQTTProtocolVersion,
) -> None:
    require_shared_data()
    counter = Counter(mosquitto, paho_protocol)
    try:
        summary = replay([capture_dir, GSM_META], broker_url=mosquitto.url, speed=0,
                         mqtt_protocol=protocol, site="mq")  # fmt: skip
        assert summary.sent == 10 + 8 + 2 + 1
        assert counter.wait_for(summary.sent) == summary.sent
        assert sorted(set(counter.topics)) == [
            "sensorhub/v1/mq/iq-ul-4bursts/frames/iq",
            "sensorhub/v1/mq/mic-wall-n/frames/audio",
            "sensorhub/v1/mq/rf-cellblock-a/frames/iq",
            "sensorhub/v1/mq/rf-wall-n/frames/iq",
        ]
    finally:
        counter.stop()


def test_unreachable_broker_is_an_error(capture_dir: Path) -> None:
    from tests.conftest import free_port

    with pytest.raises(ReplayError, match="not reachable"):
        asyncio.run(_replay_unreachable(capture_dir, f"mqtt://127.0.0.1:{free_port()}"))


async def _replay_unreachable(capture_dir: Path, url: str) -> None:
    from simulator.replay import MqttSink, send_frames

    sink = MqttSink(url, connect_timeout_s=0.5)
    frames = capture_frames(read_capture(capture_dir), start_time_ns=0)
    await send_frames(frames, sink, speed=0)


def test_simulate_over_http_until_stopped() -> None:
    stop = asyncio.Event()
    posted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(decode_frame(request.content).header.sensor_id)
        if len(posted) >= 12:
            stop.set()
        return httpx.Response(202, json={"duplicate": False})

    summary = asyncio.run(
        simulate_async(
            demo_scenario(),
            http_url="http://hub.test",
            speed=1000.0,
            stop=stop,
            http_transport=httpx.MockTransport(handler),
        )
    )
    assert summary.accepted == len(posted) >= 12
    assert {"rf-wall-n", "rf-cellblock-a", "mic-wall-n"} <= set(posted)


def test_load_scenario_names_and_yaml(tmp_path: Path) -> None:
    assert load_scenario("demo", seed=7).seed == 7
    assert "demo" in SCENARIOS
    with pytest.raises(CommandError, match="unknown scenario 'nope'"):
        load_scenario("nope")
    try:
        import simulator.scenario_file  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(CommandError, match="scenario_file"):
            load_scenario(str(tmp_path / "x.yaml"))
    else:
        with pytest.raises(CommandError, match="does not exist"):
            load_scenario(str(tmp_path / "x.yaml"))


def test_cli_record_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from simulator.commands import add_record_parser, add_replay_parser, add_simulate_parser

    parser = argparse.ArgumentParser(prog="sensor-hub")
    sub = parser.add_subparsers(dest="command", required=True)
    add_record_parser(sub)
    add_replay_parser(sub)
    add_simulate_parser(sub)
    out = tmp_path / "cap"
    args = parser.parse_args(
        ["record", "demo", "--out", str(out), "--duration", "1", "--seed", "2"]
    )
    assert args.run(args) == 0
    assert "recorded 1 s of demo (seed 2)" in capsys.readouterr().out
    assert json.loads((out / "truth.json").read_text())["seed"] == 2
    assert args.run(args) == 2  # refuses to overwrite without --force
    assert "already holds a capture" in capsys.readouterr().err
    args = parser.parse_args(["replay", str(out), "--broker", "mqtt://x", "--speed", "inf"])
    assert args.speed == float("inf") and args.paths == [out]
    with pytest.raises(SystemExit):
        parser.parse_args(["replay", str(out)])  # a destination is required
    args = parser.parse_args(["simulate", "demo", "--http", "http://h", "--loop"])
    assert args.loop and args.http == "http://h"
