"""MQTT adapter: the only module that imports paho-mqtt.

paho runs its network loop in its own thread (`loop_start`) and reconnects with
exponential backoff (1 s doubling to 30 s). Its callbacks do one thing: hand
the message to the asyncio side, bounded by `queue_size` messages in flight.
When the bound is hit the message is dropped, counted in
`sensorhub_mqtt_dropped_total` and logged (at most once per 10 s), never
silently.

Protocols: MQTT v5 for production brokers (QoS 1, clean_start false, a
session expiry, the shared subscription `$share/sensorhub/...` for frames so
that stage 1 workers split the load); MQTT 3.1.1 for the embedded amqtt
broker (plain subscription, which has no shared subscriptions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sensor_hub import topics
from sensor_hub.errors import BrokerError
from sensor_hub.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A paho message converted at the edge."""

    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parsed = urlparse(url if "://" in url else f"mqtt://{url}")
        if parsed.scheme not in {"mqtt", "tcp"}:
            raise BrokerError(
                f"broker URL {url!r}: scheme must be mqtt:// (TLS is not supported yet)"
            )
        if not parsed.hostname:
            raise BrokerError(f"broker URL {url!r} has no host")
        try:
            port = parsed.port or 1883
        except ValueError as exc:
            raise BrokerError(f"broker URL {url!r}: {exc}") from None
        return cls(parsed.hostname, port, parsed.username, parsed.password)


class MqttAdapter:
    """Subscribe to the hub's topics and publish events; thread-safe hand-off to asyncio."""

    def __init__(
        self,
        url: str,
        *,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[InboundMessage], None],
        metrics: Metrics,
        client_id: str = "sensor-hub",
        protocol: str = "5",
        session_expiry_s: int = 3600,
        queue_size: int = 1000,
        subscriptions: Sequence[str] | None = None,
        share_group: str = topics.SHARE_GROUP,
    ) -> None:
        self.address = BrokerAddress.parse(url)
        self._loop = loop
        self._deliver = deliver
        self._metrics = metrics
        self._v5 = protocol == "5"
        self._session_expiry_s = session_expiry_s
        self._queue_size = queue_size
        self._in_flight = 0
        self._lock = threading.Lock()
        self._last_drop_log = 0.0
        self._dropped_since_log = 0
        self.connected = asyncio.Event()
        self._stopping = False
        if subscriptions is None:
            frames = (
                topics.shared(topics.FRAMES_FILTER, share_group)
                if self._v5
                else topics.FRAMES_FILTER
            )
            subscriptions = [frames, topics.STATUS_FILTER]
        self._subscriptions = list(subscriptions)
        if self._v5:
            self._client = paho.Client(
                CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
            )
        else:
            # amqtt keeps no offline queue: a clean session is the honest choice there
            self._client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=client_id,
                clean_session=True,
                protocol=paho.MQTTv311,
            )
        if self.address.username:
            self._client.username_pw_set(self.address.username, self.address.password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.max_inflight_messages_set(100)
        self._client.max_queued_messages_set(10000)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # ---- lifecycle (asyncio side)

    async def start(self, timeout_s: float = 10.0) -> None:
        kwargs: dict[str, Any] = {"keepalive": 30}
        if self._v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self._session_expiry_s
            kwargs.update(clean_start=False, properties=props)
        self._client.connect_async(self.address.host, self.address.port, **kwargs)
        self._client.loop_start()
        try:
            await asyncio.wait_for(self.connected.wait(), timeout_s)
        except TimeoutError:
            log.warning(
                "MQTT broker %s:%d not reachable yet; retrying in the background",
                self.address.host,
                self.address.port,
            )

    async def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            log.warning("MQTT publish to %s failed: %s", topic, paho.error_string(info.rc))

    def done(self) -> None:
        """Called by the consumer when it has finished with one delivered message."""
        with self._lock:
            self._in_flight -= 1
            depth = self._in_flight
        self._metrics.set("sensorhub_ingest_queue_depth", depth)

    # ---- paho callbacks (paho's network thread): hand off only

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT connect refused: %s", reason)
            return
        if self._subscriptions:
            client.subscribe([(t, 1) for t in self._subscriptions])
        self._metrics.set("sensorhub_mqtt_connected", 1)
        log.info(
            "MQTT connected to %s:%d (%s)%s",
            self.address.host,
            self.address.port,
            "v5" if self._v5 else "3.1.1",
            f", subscribed to {', '.join(self._subscriptions)}" if self._subscriptions else "",
        )
        self._loop.call_soon_threadsafe(self.connected.set)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._metrics.set("sensorhub_mqtt_connected", 0)
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
            self._loop.call_soon_threadsafe(self.connected.clear)
        if self._stopping:
            log.info("MQTT disconnected from %s:%d", self.address.host, self.address.port)
        else:
            log.warning("MQTT disconnected (%s); reconnecting with backoff", reason)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        message = InboundMessage(
            topic=msg.topic, payload=bytes(msg.payload), retain=bool(msg.retain)
        )
        with self._lock:
            full = self._in_flight >= self._queue_size
            if not full:
                self._in_flight += 1
        if full:
            self._drop(message)
            return
        try:
            self._loop.call_soon_threadsafe(self._deliver, message)
        except RuntimeError:  # loop closed during shutdown
            with self._lock:
                self._in_flight -= 1

    def _drop(self, message: InboundMessage) -> None:
        parsed = topics.parse_topic(message.topic)
        sensor = getattr(parsed, "sensor_id", "unknown")
        self._metrics.inc("sensorhub_mqtt_dropped_total", sensor=sensor)
        self._dropped_since_log += 1
        now = time.monotonic()
        if now - self._last_drop_log >= 10.0:
            log.warning(
                "ingest queue full (%d in flight): dropped %d MQTT message(s) in the last %.0f s",
                self._queue_size,
                self._dropped_since_log,
                now - self._last_drop_log if self._last_drop_log else 0.0,
            )
            self._last_drop_log = now
            self._dropped_since_log = 0
