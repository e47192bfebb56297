"""Publish frames to a hub: replay capture files, or run a scenario live.

Two sinks: MQTT (`sensor_hub.mqtt.MqttAdapter` as a publisher, QoS 1 on the frames
topics) and HTTP (`POST {url}/v1/readings`, `application/octet-stream`, via httpx).

MQTT flow control: `MqttAdapter.publish` queues in paho and returns; paho holds at most
10 000 queued messages. Every `flush_every` messages (and at the end) the sink publishes a
barrier on a private topic it subscribes to itself and waits for it to come back: the
broker handles one client's publishes in order, so when the barrier returns every frame
before it has reached the broker.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sensor_hub.metrics import Metrics
from sensor_hub.mqtt import InboundMessage, MqttAdapter
from sensor_hub.topics import FrameTopic, parse_topic
from simulator.capture import (
    DEFAULT_FULL_SCALE_DB_SPL,
)
from simulator.capture_reader import (
    CapturedFrame,
    capture_frames,
    read_capture,
)
from simulator.collectors import run_live

if TYPE_CHECKING:
    import httpx

    from simulator.scenario import Scenario

OCTET_STREAM = "application/octet-stream"


class ReplayError(RuntimeError):
    """The destination cannot be reached or refuses the connection."""


@dataclass
class ReplaySummary:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count (HTTP only)
    frames_by_sensor: dict[str, int] = field(default_factory=dict)
    last_due_s: float = 0.0
    start_time_ns: int = 0  # UTC of scenario t = 0 in the replayed frames' timestamps

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass(frozen=True)
class SendResult:
    accepted: bool
    duplicate: bool = False
    reason: str = ""


#: progress(summary so far); called about once per second of wall time and at the end
ReplayProgress = Callable[[ReplaySummary], None]


class FrameSink(Protocol):
    async def start(self) -> None: ...
    async def send(self, topic: str, payload: bytes, retain: bool = False) -> SendResult: ...
    async def close(self) -> None: ...


# ---------------------------------------------------------------- MQTT


class MqttSink:
    def __init__(
        self,
        url: str,
        *,
        protocol: str = "5",
        client_id: str | None = None,
        flush_every: int = 200,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if protocol not in ("5", "3.1.1"):
            raise ValueError(f"{protocol=} must be '5' or '3.1.1'")
        self.url = url
        self.protocol = protocol
        self.client_id = client_id or f"sensor-hub-replay-{secrets.token_hex(4)}"
        self.flush_every = flush_every
        self.connect_timeout_s = connect_timeout_s
        self._barrier_topic = f"sensorhub-replay/{self.client_id}/barrier"
        self._barrier_token = b""
        self._barrier_back: asyncio.Event | None = None
        self._adapter: MqttAdapter | None = None
        self._since_flush = 0

    def _deliver(self, msg: InboundMessage) -> None:
        assert self._adapter is not None
        self._adapter.done()
        if msg.topic == self._barrier_topic and msg.payload == self._barrier_token:
            assert self._barrier_back is not None
            self._barrier_back.set()

    async def start(self) -> None:
        self._barrier_back = asyncio.Event()
        self._adapter = MqttAdapter(
            self.url,
            loop=asyncio.get_running_loop(),
            deliver=self._deliver,
            metrics=Metrics(),
            client_id=self.client_id,
            protocol=self.protocol,
            session_expiry_s=0,
            subscriptions=[self._barrier_topic],
        )
        await self._adapter.start(timeout_s=self.connect_timeout_s)
        if not self._adapter.connected.is_set():
            await self._adapter.stop()
            raise ReplayError(f"MQTT broker {self.url} is not reachable")
        await self.flush()  # the subscription is in place once a barrier comes back

    async def send(self, topic: str, payload: bytes, retain: bool = False) -> SendResult:
        assert self._adapter is not None, "start() first"
        await self._adapter.publish(topic, payload, qos=1, retain=retain)
        self._since_flush += 1
        if self._since_flush >= self.flush_every:
            await self.flush()
        return SendResult(accepted=True)

    async def flush(self, timeout_s: float = 60.0) -> None:
        assert self._adapter is not None and self._barrier_back is not None
        self._since_flush = 0
        self._barrier_token = secrets.token_bytes(8)
        self._barrier_back.clear()
        await self._adapter.publish(self._barrier_topic, self._barrier_token, qos=1)
        try:
            await asyncio.wait_for(self._barrier_back.wait(), timeout_s)
        except TimeoutError:
            raise ReplayError(
                f"MQTT broker {self.url} did not confirm delivery within {timeout_s:g} s"
            ) from None

    async def close(self) -> None:
        if self._adapter is not None:
            try:
                await self.flush()
            finally:
                await self._adapter.stop()
                self._adapter = None


# ---------------------------------------------------------------- HTTP


class HttpSink:
    """POST each frame; status messages (non-frame topics) are skipped: HTTP has no route."""

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/") + "/v1/readings"
        self._transport = transport
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        import httpx  # a dev dependency: only the HTTP sink needs it

        self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s)

    async def send(self, topic: str, payload: bytes, retain: bool = False) -> SendResult:
        import httpx

        assert self._client is not None, "start() first"
        if not isinstance(parse_topic(topic), FrameTopic):
            return SendResult(accepted=False, reason="not_a_frame")
        try:
            r = await self._client.post(
                self.url, content=payload, headers={"content-type": OCTET_STREAM}
            )
        except httpx.TransportError as exc:
            raise ReplayError(f"POST {self.url} failed: {exc!r}") from None
        body = _json_or_empty(r)
        if r.status_code in (200, 201, 202):
            return SendResult(accepted=True, duplicate=bool(body.get("duplicate", False)))
        return SendResult(accepted=False, reason=str(body.get("reason") or f"http_{r.status_code}"))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _json_or_empty(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def make_sink(
    *,
    broker_url: str | None = None,
    http_url: str | None = None,
    mqtt_protocol: str = "5",
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> FrameSink:
    if (broker_url is None) == (http_url is None):
        raise ValueError("give exactly one of broker_url and http_url")
    if broker_url is not None:
        return MqttSink(broker_url, protocol=mqtt_protocol)
    assert http_url is not None
    return HttpSink(http_url, transport=http_transport)


# ---------------------------------------------------------------- replay


def _as_fast_as_possible(speed: float) -> bool:
    return speed == 0 or math.isinf(speed)


async def send_frames(
    frames: Iterator[CapturedFrame],
    sink: FrameSink,
    *,
    speed: float = 1.0,
    progress: ReplayProgress | None = None,
) -> ReplaySummary:
    """Send frames when due (due_s / speed after the first call); the sink is started here."""
    if speed < 0 or math.isnan(speed):
        raise ValueError(f"{speed=} must be >= 0 (0 or inf: as fast as possible)")
    summary = ReplaySummary()
    await sink.start()
    try:
        mono0 = last_report = time.monotonic()
        while True:
            fr = await asyncio.to_thread(next, frames, None)  # file reads off the loop
            if fr is None:
                break
            if not _as_fast_as_possible(speed):
                delay = mono0 + fr.due_s / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            result = await sink.send(fr.topic, fr.payload)
            summary.sent += 1
            summary.last_due_s = fr.due_s
            topic = parse_topic(fr.topic)
            sensor = topic.sensor_id if isinstance(topic, FrameTopic) else fr.topic
            summary.frames_by_sensor[sensor] = summary.frames_by_sensor.get(sensor, 0) + 1
            if result.accepted:
                summary.accepted += 1
                summary.duplicates += result.duplicate
            else:
                summary.rejected[result.reason] = summary.rejected.get(result.reason, 0) + 1
            if progress is not None and time.monotonic() - last_report >= 1.0:
                last_report = time.monotonic()
                progress(summary)
    finally:
        await sink.close()
    if progress is not None:
        progress(summary)
    return summary


def without_outages(
    frames: Iterator[CapturedFrame], outages: Sequence[dict[str, Any]]
) -> Iterator[CapturedFrame]:
    """Drop the frames a recorded sensor outage (truth.json `outages`) says were never sent,
    as the live simulator does: a cut sensor sends nothing."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for o in outages:
        spans.setdefault(str(o["sensor_id"]), []).append((float(o["start_s"]), float(o["end_s"])))
    for fr in frames:
        topic = parse_topic(fr.topic)
        cut = spans.get(topic.sensor_id, ()) if isinstance(topic, FrameTopic) else ()
        if not any(a <= fr.due_s < b for a, b in cut):
            yield fr


async def replay_async(
    paths: str | Path | Sequence[str | Path],
    *,
    broker_url: str | None = None,
    http_url: str | None = None,
    speed: float = 1.0,
    site: str | None = None,
    center_freq_hz: float | None = None,
    full_scale_db_spl: float = DEFAULT_FULL_SCALE_DB_SPL,
    boot_id: str | None = None,
    start_time_ns: int | None = None,
    mqtt_protocol: str = "5",
    http_transport: httpx.AsyncBaseTransport | None = None,
    progress: ReplayProgress | None = None,
) -> ReplaySummary:
    """Replay capture directories / files (see `simulator.capture_reader.read_capture`).

    Frames are re-stamped to start at `start_time_ns` (default: now) and carry a fresh
    random `boot_id` unless one is given, so the hub treats a replay as new data.
    """
    capture = read_capture(
        paths, center_freq_hz=center_freq_hz, full_scale_db_spl=full_scale_db_spl
    )
    start = time.time_ns() if start_time_ns is None else start_time_ns
    frames = capture_frames(
        capture,
        start_time_ns=start,
        site=site,
        boot_id=secrets.token_hex(8) if boot_id is None else boot_id,
    )
    frames = without_outages(frames, (capture.truth or {}).get("outages") or [])
    sink = make_sink(broker_url=broker_url, http_url=http_url, mqtt_protocol=mqtt_protocol,
                     http_transport=http_transport)  # fmt: skip
    summary = await send_frames(frames, sink, speed=speed, progress=progress)
    summary.start_time_ns = start
    return summary


def replay(
    paths: str | Path | Sequence[str | Path],
    *,
    broker_url: str | None = None,
    http_url: str | None = None,
    speed: float = 1.0,
    site: str | None = None,
    center_freq_hz: float | None = None,
    full_scale_db_spl: float = DEFAULT_FULL_SCALE_DB_SPL,
    boot_id: str | None = None,
    start_time_ns: int | None = None,
    mqtt_protocol: str = "5",
    http_transport: httpx.AsyncBaseTransport | None = None,
    progress: ReplayProgress | None = None,
) -> ReplaySummary:
    """Blocking `replay_async` (runs its own event loop)."""
    return asyncio.run(
        replay_async(
            paths, broker_url=broker_url, http_url=http_url, speed=speed, site=site,
            center_freq_hz=center_freq_hz, full_scale_db_spl=full_scale_db_spl,
            boot_id=boot_id, start_time_ns=start_time_ns, mqtt_protocol=mqtt_protocol,
            http_transport=http_transport, progress=progress,
        )
    )  # fmt: skip


# ---------------------------------------------------------------- simulate


async def simulate_async(
    scenario: Scenario,
    *,
    broker_url: str | None = None,
    http_url: str | None = None,
    speed: float = 1.0,
    loop: bool = False,
    stop: asyncio.Event | None = None,
    mqtt_protocol: str = "5",
    http_transport: httpx.AsyncBaseTransport | None = None,
    boot_id: str | None = None,
    start_time_ns: int | None = None,
) -> ReplaySummary:
    """Run the scenario live (`simulator.collectors.run_live`) into a broker or a hub."""
    sink = make_sink(broker_url=broker_url, http_url=http_url, mqtt_protocol=mqtt_protocol,
                     http_transport=http_transport)  # fmt: skip
    summary = ReplaySummary()

    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        del qos  # frames and statuses are QoS 1 on MQTT; HTTP has no QoS
        result = await sink.send(topic, payload, retain)
        if result.reason == "not_a_frame":
            return
        summary.sent += 1
        if result.accepted:
            summary.accepted += 1
            summary.duplicates += result.duplicate
        else:
            summary.rejected[result.reason] = summary.rejected.get(result.reason, 0) + 1

    await sink.start()
    try:
        await run_live(scenario, publish, speed=speed, loop=loop, stop=stop, boot_id=boot_id,
                       start_time_ns=start_time_ns)  # fmt: skip
    finally:
        await sink.close()
    return summary
