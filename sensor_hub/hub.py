"""The hub service: ingest (MQTT and HTTP) -> stage 1 -> stage 2 -> store, events, MQTT.

Everything here runs on one asyncio loop; CPU work (frame decoding and the
detectors) runs in a small thread pool. Bad input never escapes as anything
but a counted, logged `FrameError`; nothing a sensor sends can stop the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from detectors.acoustic_history import HistoryConfig, HistoryRegistry
from sensor_hub import topics
from sensor_hub.codec import Frame, Limits, decode_frame, decode_json_frame
from sensor_hub.errors import FrameError
from sensor_hub.events import EventBus
from sensor_hub.evidence_capture import EvidenceCapture, EvidenceJob, render_job
from sensor_hub.fusion import AlertChange, Fusion
from sensor_hub.health import SensorHealth, frame_level_db
from sensor_hub.metrics import Metrics
from sensor_hub.pipeline import RfFloorTracks, detect_frame, rf_floor_tracks
from sensor_hub.schemas import (
    Alert,
    AlertAction,
    AuditEntry,
    Detection,
    Event,
    ReadingAccepted,
    Sensor,
    SensorStatusMessage,
    utc_now,
)
from sensor_hub.settings import Settings
from sensor_hub.store import Store

log = logging.getLogger(__name__)

UNKNOWN_SENSOR = "unknown"
_SENSOR_SAVE_INTERVAL_S = 2.0
_REJECT_LOG_INTERVAL_S = 60.0


class Bus(Protocol):
    """The outbound MQTT port (implemented by `MqttAdapter` and `testing.InMemoryBus`)."""

    async def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> None: ...


class InboundLike(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...


def _stage1(
    frame: Frame, history: HistoryRegistry, rf_floors: RfFloorTracks
) -> tuple[list[Detection], float | None]:
    """In a worker thread: the frame's detections and its floor level (for health)."""
    return detect_frame(frame, history, rf_floors), frame_level_db(frame)


class Hub:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], datetime] = utc_now,
        bus: Bus | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.bus = bus
        self.metrics = Metrics()
        self.limits = Limits(settings.max_header_bytes, settings.max_payload_bytes)
        self.fusion = Fusion(settings.fusion, settings.site, clock)
        #: per-sensor acoustic modulation history (voices, music over several frames)
        self.acoustic_history = HistoryRegistry(
            HistoryConfig(alert_confidence=settings.fusion.min_confidence)
        )
        #: per-sensor receiver-shape references (weak wide continuous emitters)
        self.rf_floors = rf_floor_tracks()
        self.health = SensorHealth(settings.health, settings.site, clock)
        self._flagged: list[tuple[str, str]] = []  # sensors whose flags changed, to publish
        self.events = EventBus(
            first_id=store.last_event_id() + 1,
            history=settings.event_history,
            loader=lambda after: store.events_after(after, limit=settings.event_history),
        )
        self._sensors: dict[tuple[str, str], Sensor] = {
            (s.site, s.sensor_id): s for s in store.list_sensors()
        }
        self._sensor_saved: dict[tuple[str, str], float] = {}
        self._reject_logged: dict[tuple[str, str], float] = {}
        self._executor = ThreadPoolExecutor(settings.stage1_workers, thread_name_prefix="stage1")
        self._queue: asyncio.Queue[InboundLike] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._on_done: Callable[[], None] = lambda: None
        self.evidence = EvidenceCapture(clock)
        self._evidence_tasks: set[asyncio.Task[None]] = set()
        self.started_at = clock()

    # ---- lifecycle

    def attach(self, bus: Bus, on_message_done: Callable[[], None]) -> None:
        """Connect the outbound bus and the ingest-queue accounting of an MQTT adapter."""
        self.bus = bus
        self._on_done = on_message_done

    async def start(self) -> None:
        await self._close_orphans()
        for i in range(self.settings.stage1_workers):
            self._tasks.append(asyncio.create_task(self._consume(), name=f"ingest-{i}"))
        self._tasks.append(asyncio.create_task(self._tick_forever(), name="fusion-tick"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.evidence_settled()
        self.events.close()
        for key in list(self._sensors):
            self._save_sensor(key, force=True)
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _close_orphans(self) -> None:
        """Alerts left open by a previous run have no live state to resolve them: close them."""
        now = self.clock()
        cursor: str | None = None
        while True:
            page = self.store.list_alerts(
                state=["active", "acknowledged", "suppressed"], limit=500, cursor=cursor
            )
            changes = [
                AlertChange(
                    "alert.resolved",
                    a.model_copy(
                        update={
                            "state": "resolved",
                            "updated_at": now,
                            "note": "closed: hub restarted",
                        }
                    ),
                )
                for a in page.items
                if self.fusion.live_alert(a.id) is None
            ]
            await self._apply(changes)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def deliver(self, message: InboundLike) -> None:
        """Called on the loop (by the MQTT adapter) for each inbound message."""
        self._queue.put_nowait(message)

    async def _consume(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self.handle_message(message)
            except Exception:  # a bug must not kill the consumer; log it loudly
                log.exception("unexpected error handling a message on %s", message.topic)
            finally:
                self._on_done()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.tick()

    async def tick(self) -> None:
        """Once a second: resolve quiet alerts, raise silent sensors, publish flag changes
        (each on its own: one failing must not lose what another changed)."""
        steps: tuple[tuple[str, Callable[[], list[AlertChange]]], ...] = (
            ("fusion", self.fusion.tick),
            ("health", self.health.tick),
        )
        for name, step in steps:
            try:
                await self._apply(step())
            except Exception:
                log.exception("unexpected error in the %s tick", name)
        try:
            await self._publish_flags()
        except Exception:
            log.exception("unexpected error publishing sensor flags")
        self._start_evidence(self.evidence.due())

    # ---- MQTT ingest

    async def handle_message(self, message: InboundLike) -> None:
        parsed = topics.parse_topic(message.topic)
        if isinstance(parsed, topics.FrameTopic):
            with contextlib.suppress(FrameError):  # counted and logged in ingest_bytes
                await self.ingest_bytes(message.payload, expect=parsed)
        elif isinstance(parsed, topics.StatusTopic):
            await self._handle_status(parsed, message.payload)
        else:
            log.debug("ignoring message on %s", message.topic)

    def _unknown(self, site: str, sensor_id: str) -> str | None:
        """Why a sensor is not this hub's, when the site file lists its sensors, else None."""
        cfg = self.settings.site
        if not cfg.sensors:
            return None  # no list: any sensor is accepted and registered
        if site != cfg.site:
            return f"site {site!r} is not this hub's ({cfg.site!r})"
        if cfg.placement(sensor_id) is None:
            return f"sensor {sensor_id!r} is not in the site configuration of {cfg.site!r}"
        return None

    async def _handle_status(self, where: topics.StatusTopic, payload: bytes) -> None:
        if not payload:  # a cleared retained status
            return
        unknown = self._unknown(where.site, where.sensor_id)
        if unknown is not None:  # a retired sensor's retained status must not be watched
            self.reject(where.site, where.sensor_id, "unknown_sensor", unknown)
            return
        try:
            status = SensorStatusMessage.model_validate_json(payload)
        except ValidationError as exc:
            self.reject(
                where.site,
                where.sensor_id,
                "bad_status",
                f"status is not valid: {exc.errors()[0]['msg']}",
            )
            return
        key = (where.site, where.sensor_id)
        sensor = self._sensor(key)
        now = self.clock()
        changed = sensor.state != status.state
        self._sensors[key] = sensor.model_copy(
            update={
                "state": status.state,
                "last_seen": now,
                "last_status": status.model_dump(mode="json"),
            }
        )
        self._save_sensor(key, force=changed)
        if changed:
            await self._emit_sensor_event(
                key, "sensor.online" if status.state == "online" else "sensor.offline"
            )
        if status.state == "online":
            await self._apply(self.health.heard(*key))
        else:
            why = str(getattr(status, "reason", "") or "its status says offline (last will)")
            await self._apply(self.health.went_offline(*key, why))

    # ---- ingest: shared by MQTT and HTTP

    async def ingest_bytes(
        self, data: bytes, *, expect: topics.FrameTopic | None = None
    ) -> ReadingAccepted:
        """Decode, validate and process one SHF1 frame. Raises `FrameError` (already counted)."""
        loop = asyncio.get_running_loop()
        try:
            frame = await loop.run_in_executor(self._executor, decode_frame, data, self.limits)
        except FrameError as exc:
            site = expect.site if expect else self.settings.site.site
            self.reject(site, expect.sensor_id if expect else exc.sensor_id, exc.reason, exc.detail)
            raise
        if expect is not None:
            h = frame.header
            if (h.site, h.sensor_id, h.kind) != (expect.site, expect.sensor_id, expect.kind):
                err = FrameError(
                    "topic_mismatch",
                    f"header says {h.site}/{h.sensor_id}/{h.kind} but the topic says "
                    f"{expect.site}/{expect.sensor_id}/{expect.kind}",
                    sensor_id=expect.sensor_id,
                )
                self.reject(expect.site, expect.sensor_id, err.reason, err.detail)
                raise err
        return await self._process(frame)

    async def ingest_json(self, raw: Any) -> ReadingAccepted:
        loop = asyncio.get_running_loop()
        try:
            frame = await loop.run_in_executor(self._executor, decode_json_frame, raw, self.limits)
        except FrameError as exc:
            self.reject(self.settings.site.site, exc.sensor_id, exc.reason, exc.detail)
            raise
        return await self._process(frame)

    async def _process(self, frame: Frame) -> ReadingAccepted:
        h = frame.header
        key = (h.site, h.sensor_id)
        unknown = self._unknown(h.site, h.sensor_id)
        if unknown is not None:
            err = FrameError("unknown_sensor", unknown, sensor_id=h.sensor_id)
            self.reject(h.site, h.sensor_id, err.reason, err.detail)
            raise err
        duplicate = self.store.frame_seen(h.site, h.sensor_id, h.boot_id, h.seq)
        now = self.clock()
        sensor = self._sensor(key)
        was_online = sensor.state == "online"
        self._sensors[key] = sensor.model_copy(
            update={
                "state": "online",
                "modality": h.modality,
                "last_seen": now,
                "last_frame_at": h.t0,
                "frames_total": sensor.frames_total + 1,
            }
        )
        self.metrics.inc("sensorhub_frames_total", sensor=h.sensor_id, kind=h.kind)
        self._save_sensor(key, force=not was_online)
        if not was_online:
            await self._emit_sensor_event(key, "sensor.online")
        await self._apply(self.health.heard(*key))
        if duplicate:
            self.metrics.inc("sensorhub_frames_duplicate_total", sensor=h.sensor_id)
            return ReadingAccepted(
                site=h.site, sensor_id=h.sensor_id, seq=h.seq, duplicate=True, detections=[]
            )
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        detections, level_db = await loop.run_in_executor(
            self._executor, _stage1, frame, self.acoustic_history, self.rf_floors
        )
        self.metrics.inc("sensorhub_stage1_seconds_total", time.perf_counter() - started)
        if self.health.frame_accepted(*key, level_db):
            self._flags_changed(key)
        links = await self._fuse(detections)
        try:
            self._start_evidence(self.evidence.offer(frame, links))
        except Exception:  # evidence is a by-product: it must not lose the reading
            log.exception("evidence capture failed for a frame of %s", h.sensor_id)
        return ReadingAccepted(
            site=h.site, sensor_id=h.sensor_id, seq=h.seq, duplicate=False, detections=detections
        )

    async def _fuse(self, detections: list[Detection]) -> list[tuple[Detection, str | None]]:
        """Stage 2 for one frame's detections; returns where each went (`Fusion.links`,
        taken before any await: another consumer's frame may be fused meanwhile)."""
        for d in detections:
            self.metrics.inc(
                "sensorhub_detections_total", modality=d.modality, signature=d.signature
            )
        changes = self.fusion.process(detections)
        links = self.fusion.links
        by_alert: dict[str | None, list[Detection]] = {}
        for d, alert_id in links:  # annotated with any suppression
            by_alert.setdefault(alert_id, []).append(d)
        for alert_id, group in by_alert.items():
            self.store.add_detections(group, alert_id)
        for change in changes:
            if change.new:  # the frames that built up to the alert are its evidence too
                a = change.alert
                self.store.link_detections(
                    a.site, a.kind, a.first_seen, a.id, signatures=a.signatures, sensors=a.sensors
                )
        await self._apply(changes)
        return links

    # ---- evidence: spectrogram PNG / audio clip per alert, rendered off the loop

    def _start_evidence(self, jobs: list[EvidenceJob]) -> None:
        for job in jobs:
            task = asyncio.create_task(self._render_evidence(job), name="evidence")
            self._evidence_tasks.add(task)
            task.add_done_callback(self._evidence_tasks.discard)

    def _store_evidence(self, job: EvidenceJob) -> bool:
        """In the executor: render and store (the store keeps the stronger of two racers)."""
        started = time.perf_counter()
        info, content = render_job(job, self.clock())
        self.metrics.inc(
            "sensorhub_evidence_render_seconds_total",
            time.perf_counter() - started,
            modality=job.modality,
        )
        return self.store.save_evidence(info, content)

    async def _render_evidence(self, job: EvidenceJob) -> None:
        loop = asyncio.get_running_loop()
        stored = False
        try:
            stored = await loop.run_in_executor(self._executor, self._store_evidence, job)
        except Exception:
            log.exception(
                "could not render or store %s evidence of alert %s", job.modality, job.alert_id
            )
        finally:
            self.evidence.finished(job, stored)
        if stored:
            self.metrics.inc("sensorhub_evidence_stored_total", modality=job.modality)

    async def evidence_settled(self) -> None:
        """Wait for the evidence renders under way (tests, and `stop`)."""
        while self._evidence_tasks:
            await asyncio.gather(*self._evidence_tasks, return_exceptions=True)

    async def _apply(self, changes: list[AlertChange]) -> None:
        for change in changes:
            self.store.save_alert(change.alert)
            event = self.events.make(
                change.type, change.alert.site, self.clock(), alert=change.alert
            )
            await self._publish_event(event)

    async def _publish_event(self, event: Event) -> None:
        self.store.add_event(event)
        self.events.publish(event)
        self.metrics.inc("sensorhub_alert_events_total", type=event.type)
        if self.bus is not None:
            payload = event.model_dump_json().encode()
            try:
                await self.bus.publish(topics.events_topic(event.site), payload, 1, False)
            except Exception as exc:  # the broker being away must not lose the stored event
                log.warning("could not publish event %d on MQTT: %s", event.id, exc)

    async def _emit_sensor_event(self, key: tuple[str, str], type_: str) -> None:
        sensor = self._sensors[key]
        event = self.events.make(type_, key[0], self.clock(), sensor=sensor)  # type: ignore[arg-type]
        await self._publish_event(event)

    # ---- operator actions

    async def act(
        self, alert_id: str, action: Literal["ack", "resolve"], body: AlertAction
    ) -> Alert:
        """Acknowledge or resolve an alert with a note; audited.

        NotFoundError and ConflictError propagate to the caller.
        """
        alert = (
            self.fusion.live_alert(alert_id)
            or self.health.live_alert(alert_id)
            or self.store.get_alert(alert_id)
        )
        change = self.fusion.operator_action(alert, action, body.note)
        if change.alert.kind == "sensor_offline":
            self.health.operator_changed(change.alert)
        self.store.add_audit(
            AuditEntry(
                alert_id=alert_id, action=action, user=body.user, note=body.note, at=self.clock()
            )
        )
        await self._apply([change])
        return change.alert

    # ---- registry and rejects

    def _sensor(self, key: tuple[str, str]) -> Sensor:
        sensor = self._sensors.get(key)
        if sensor is None:
            sensor = Sensor(site=key[0], sensor_id=key[1], state="unknown")
            self._sensors[key] = sensor
        return sensor

    def _save_sensor(self, key: tuple[str, str], *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._sensor_saved.get(key, 0.0) < _SENSOR_SAVE_INTERVAL_S:
            return
        self._sensor_saved[key] = now
        self.store.save_sensor(self._sensors[key])

    def reject(self, site: str, sensor_id: str | None, reason: str, detail: str) -> None:
        """Count and (rate-limited) log a rejected frame; the API calls it for bodies it rejects."""
        sid = sensor_id or UNKNOWN_SENSOR
        key = (site, sid)
        sensor = self._sensor(key)
        by_reason = dict(sensor.rejects_by_reason)
        by_reason[reason] = by_reason.get(reason, 0) + 1
        self._sensors[key] = sensor.model_copy(
            update={"rejects_total": sensor.rejects_total + 1, "rejects_by_reason": by_reason}
        )
        self._save_sensor(key)
        self.metrics.inc("sensorhub_frames_rejected_total", sensor=sid, reason=reason)
        if self.health.frame_rejected(site, sid):
            self._flags_changed(key)
        now = time.monotonic()
        last = self._reject_logged.get((sid, reason))
        if last is None or now - last >= _REJECT_LOG_INTERVAL_S:
            self._reject_logged[(sid, reason)] = now
            log.warning("rejected frame from sensor %s: %s: %s", sid, reason, detail)

    def _flags_changed(self, key: tuple[str, str]) -> None:
        """Copy the health flags onto the sensor; the next tick publishes `sensor.flagged`."""
        flags = self.health.flags(*key)
        self._sensors[key] = self._sensor(key).model_copy(update={"flags": flags})
        self._save_sensor(key, force=True)
        if key not in self._flagged:
            self._flagged.append(key)
        log.warning("sensor %s/%s flags: %s", *key, ", ".join(flags) or "cleared")

    async def _publish_flags(self) -> None:
        pending, self._flagged = self._flagged, []
        for key in pending:
            await self._emit_sensor_event(key, "sensor.flagged")

    def sensors(self) -> list[Sensor]:
        return sorted(self._sensors.values(), key=lambda s: (s.site, s.sensor_id))

    def sensor(self, site: str | None, sensor_id: str) -> Sensor | None:
        for (s_site, s_id), sensor in self._sensors.items():
            if s_id == sensor_id and (site is None or s_site == site):
                return sensor
        return None

    def ready(self) -> dict[str, str]:
        """Readiness checks: 'ok' or a reason, per dependency."""
        checks = {"store": "ok" if self.store.ping() else "database unreachable"}
        connected = getattr(self.bus, "connected", None)
        if isinstance(connected, asyncio.Event):
            checks["broker"] = "ok" if connected.is_set() else "not connected"
        return checks
