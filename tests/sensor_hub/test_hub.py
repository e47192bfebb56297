"""The hub without broker or HTTP: ingest, rejects, idempotency, status, events, actions."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from sensor_hub import topics
from sensor_hub.codec import Frame, encode_samples
from sensor_hub.errors import ConflictError, FrameError, NotFoundError
from sensor_hub.hub import Hub
from sensor_hub.mqtt import InboundMessage
from sensor_hub.schemas import AlertAction, Detection, FrameHeader
from sensor_hub.settings import SensorPlacement, Settings, SiteConfig
from sensor_hub.store import Store
from sensor_hub.testing import FakeClock, InMemoryBus


def audio_frame(seq: int, *, sensor: str = "mic-1", boot: str = "b") -> bytes:
    h = FrameHeader(
        site="s",
        sensor_id=sensor,
        seq=seq,
        boot_id=boot,
        kind="audio",
        t0_ns=1_767_225_600 * 10**9 + seq * 10**9,
        sample_rate_hz=16000,
        datatype="ri16_le",
        num_samples=16000,
        full_scale_db_spl=120,
    )
    noise = np.random.default_rng(seq).normal(0, 1e-3, 16000).astype(np.float32)
    return encode_samples(h, noise)


def make_hub(tmp_path: Path, **site: object) -> tuple[Hub, FakeClock, InMemoryBus]:
    clock = FakeClock()
    bus = InMemoryBus()
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'h.db'}", site=SiteConfig(site="s", **site))
    hub = Hub(settings, Store.open(settings.db_url), clock=clock, bus=bus)
    return hub, clock, bus


def drone(clock: FakeClock, sensor: str = "rf-1") -> Detection:
    return Detection(
        site="s",
        sensor_id=sensor,
        modality="rf",
        kind="drone",
        signature="elrs_2g4",
        t_start=clock.now - timedelta(milliseconds=5),
        t_end=clock.now,
        confidence=0.9,
        snr_db=15,
    )


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_valid_frame_registers_sensor_and_duplicates_are_skipped(tmp_path: Path) -> None:
    hub, _, bus = make_hub(tmp_path)

    async def go() -> None:
        first = await hub.ingest_bytes(audio_frame(1))
        again = await hub.ingest_bytes(audio_frame(1))
        other_boot = await hub.ingest_bytes(audio_frame(1, boot="c"))
        assert (first.duplicate, again.duplicate, other_boot.duplicate) == (False, True, False)
        assert first.detections == []  # noise alone

    run(go())
    sensor = hub.sensor("s", "mic-1")
    assert sensor is not None and sensor.state == "online" and sensor.frames_total == 3
    assert hub.metrics.get("sensorhub_frames_duplicate_total", sensor="mic-1") == 1
    online = [json.loads(m.payload) for m in bus.published]
    assert [e["type"] for e in online] == ["sensor.online"]
    assert bus.published[0].topic == topics.events_topic("s")
    hub.store.close()


def test_rejects_are_counted_per_sensor_and_reason(tmp_path: Path) -> None:
    hub, _, _ = make_hub(tmp_path)
    where = topics.FrameTopic("s", "mic-1", "audio")

    async def go() -> None:
        for bad in (b"nope", b"XXXX" + audio_frame(2)[4:], audio_frame(3)[:-1]):
            with pytest.raises(FrameError):
                await hub.ingest_bytes(bad, expect=where)
        with pytest.raises(FrameError) as info:
            await hub.ingest_bytes(audio_frame(4), expect=topics.FrameTopic("s", "mic-2", "audio"))
        assert info.value.reason == "topic_mismatch"
        # MQTT path swallows (after counting) instead of raising
        await hub.handle_message(
            InboundMessage(topics.frames_topic("s", "mic-1", "audio"), b"", False)
        )

    run(go())
    sensor = hub.sensor("s", "mic-1")
    assert sensor is not None
    assert sensor.rejects_by_reason == {"too_short": 2, "bad_magic": 1, "payload_length": 1}
    assert sensor.rejects_total == 4
    # a mismatch is charged to the sensor whose topic carried it
    other = hub.sensor("s", "mic-2")
    assert other is not None and other.rejects_by_reason == {"topic_mismatch": 1}
    assert (
        hub.metrics.get("sensorhub_frames_rejected_total", sensor="mic-1", reason="too_short") == 2
    )
    hub.store.close()


def test_unknown_sensor_is_rejected_when_the_site_lists_sensors(tmp_path: Path) -> None:
    hub, _, _ = make_hub(tmp_path, sensors=[SensorPlacement(sensor_id="mic-1")])

    async def go() -> None:
        await hub.ingest_bytes(audio_frame(1))
        with pytest.raises(FrameError) as info:
            await hub.ingest_bytes(audio_frame(1, sensor="intruder"))
        assert info.value.reason == "unknown_sensor"

    run(go())
    hub.store.close()


def test_status_messages_track_online_state(tmp_path: Path) -> None:
    hub, _, bus = make_hub(tmp_path)
    topic = topics.status_topic("s", "rf-9")

    async def go() -> None:
        await hub.handle_message(
            InboundMessage(topic, b'{"state": "online", "t": 1, "fw": "1.2"}', True)
        )
        await hub.handle_message(InboundMessage(topic, b'{"state": "offline"}', True))
        await hub.handle_message(InboundMessage(topic, b"{not json", False))
        await hub.handle_message(InboundMessage(topic, b"", True))  # cleared retained message

    run(go())
    sensor = hub.sensor("s", "rf-9")
    assert sensor is not None and sensor.state == "offline"
    assert sensor.rejects_by_reason == {"bad_status": 1}
    events = [json.loads(m.payload) for m in bus.published]
    # the last will (offline status) raises a sensor_offline alert at once
    assert [e["type"] for e in events] == ["sensor.online", "sensor.offline", "alert.created"]
    alert = events[2]["alert"]
    assert alert["kind"] == "sensor_offline" and alert["sensors"] == ["rf-9"]
    assert "offline" in alert["note"]

    async def back() -> None:
        await hub.handle_message(InboundMessage(topic, b'{"state": "online"}', True))

    run(back())
    events = [json.loads(m.payload) for m in bus.published][3:]
    assert [e["type"] for e in events] == ["sensor.online", "alert.resolved"]
    assert events[1]["alert"]["id"] == alert["id"]
    hub.store.close()


def test_alert_lifecycle_through_the_hub(tmp_path: Path) -> None:
    hub, clock, bus = make_hub(tmp_path)

    async def go() -> None:
        for _ in range(3):
            await hub._fuse([drone(clock)])
            clock.advance(0.2)
        page = hub.store.list_alerts()
        assert len(page.items) == 1
        alert = page.items[0]
        assert len(hub.store.alert_detections(alert.id)) == 3
        acked = await hub.act(alert.id, "ack", AlertAction(note="on camera 2", user="ops1"))
        assert acked.state == "acknowledged"
        with pytest.raises(ConflictError):
            await hub.act(alert.id, "ack", AlertAction())
        with pytest.raises(NotFoundError):
            await hub.act("alr_missing", "ack", AlertAction())
        clock.advance(61)
        await hub._apply(hub.fusion.tick())
        stored = hub.store.get_alert(alert.id)
        assert stored.state == "resolved"
        audit = hub.store.audit_for(alert.id)
        assert [(a.action, a.user, a.note) for a in audit] == [("ack", "ops1", "on camera 2")]

    run(go())
    types = [json.loads(m.payload)["type"] for m in bus.published]
    assert types == ["alert.created", "alert.acknowledged", "alert.resolved"]
    assert [e.type for e in hub.store.events_after(0)] == types
    hub.store.close()


def test_orphaned_alerts_from_a_previous_run_are_closed(tmp_path: Path) -> None:
    hub, clock, _ = make_hub(tmp_path)

    async def first_run() -> str:
        for _ in range(3):
            await hub._fuse([drone(clock)])
            clock.advance(0.2)
        return hub.store.list_alerts().items[0].id

    alert_id = run(first_run())
    hub.store.close()
    hub2, _, _ = make_hub(tmp_path)

    async def second_run() -> None:
        await hub2.start()
        await hub2.stop()

    run(second_run())
    assert hub2.store.get_alert(str(alert_id)).state == "resolved"
    assert hub2.events.last_id > hub.events.last_id
    hub2.store.close()


def test_a_silent_sensor_raises_sensor_offline_and_its_return_resolves_it(tmp_path: Path) -> None:
    hub, clock, bus = make_hub(tmp_path, sensors=[SensorPlacement(sensor_id="mic-1")])

    async def go() -> None:
        await hub.ingest_bytes(audio_frame(1))
        clock.advance(24.0)
        await hub.tick()
        assert [json.loads(m.payload)["type"] for m in bus.published] == ["sensor.online"]
        clock.advance(1.0)
        await hub.tick()
        created = json.loads(bus.published[-1].payload)
        assert created["type"] == "alert.created"
        assert created["alert"]["kind"] == "sensor_offline"
        assert created["alert"]["sensors"] == ["mic-1"]
        assert hub.store.get_alert(created["alert"]["id"]).state == "active"
        await hub.ingest_bytes(audio_frame(2))
        resolved = json.loads(bus.published[-1].payload)
        assert resolved["type"] == "alert.resolved"
        assert resolved["alert"]["id"] == created["alert"]["id"]

    run(go())
    hub.store.close()


def test_an_operator_can_ack_a_sensor_offline_alert(tmp_path: Path) -> None:
    hub, clock, bus = make_hub(tmp_path, sensors=[SensorPlacement(sensor_id="mic-1")])

    async def go() -> None:
        clock.advance(31.0)
        await hub.tick()  # listed, never heard
        alert_id = json.loads(bus.published[-1].payload)["alert"]["id"]
        acked = await hub.act(alert_id, "ack", AlertAction(note="cable cut? patrol sent"))
        assert acked.state == "acknowledged" and acked.kind == "sensor_offline"
        await hub.ingest_bytes(audio_frame(1))
        resolved = json.loads(bus.published[-1].payload)
        assert resolved["type"] == "alert.resolved" and resolved["alert"]["id"] == alert_id

    run(go())
    hub.store.close()


def test_a_surge_of_rejected_frames_flags_the_sensor(tmp_path: Path) -> None:
    hub, _, bus = make_hub(tmp_path)

    async def go() -> None:
        await hub.ingest_bytes(audio_frame(1))
        for _ in range(12):
            with pytest.raises(FrameError):
                await hub.ingest_bytes(audio_frame(2)[:-3])  # payload cut short
        await hub.tick()

    run(go())
    sensor = hub.sensor("s", "mic-1")
    assert sensor is not None and sensor.flags == ["frames_rejected"]
    flagged = json.loads(bus.published[-1].payload)
    assert flagged["type"] == "sensor.flagged"
    assert flagged["sensor"]["flags"] == ["frames_rejected"]
    hub.store.close()


# ---- evidence: spectrogram PNG and audio clip per alert


def test_demo_frames_leave_a_png_and_a_wav_for_the_drone_and_a_png_for_the_handset(
    tmp_path: Path,
) -> None:
    from simulator.demo import demo_scenario  # real RF and audio frames with real detections

    start_ns = 1_767_225_600 * 10**9
    clock = FakeClock(datetime.fromtimestamp(start_ns / 1e9, UTC))
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'h.db'}")
    hub = Hub(settings, Store.open(settings.db_url), clock=clock, bus=InMemoryBus())

    async def go() -> None:
        for msg in demo_scenario(site="demo", seed=1).messages(start_ns):
            if msg.due_s > 10:
                break
            if "/frames/" in msg.topic:
                clock.now = datetime.fromtimestamp(start_ns / 1e9 + msg.due_s, UTC)
                await hub.ingest_bytes(msg.payload)
        await hub.tick()  # hands out renders that waited for their interval
        await hub.evidence_settled()

    run(go())
    alerts = {a.kind: a for a in hub.store.list_alerts().items}
    assert set(alerts) == {"drone", "handset"}
    drone_items = {e.modality: e for e in hub.store.list_evidence(alerts["drone"].id)}
    handset_items = {e.modality: e for e in hub.store.list_evidence(alerts["handset"].id)}
    assert set(drone_items) == {"rf", "acoustic"} and set(handset_items) == {"rf"}

    png_info, png = hub.store.get_evidence(alerts["drone"].id, "rf")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png_info.media_type == "image/png"
    assert (png_info.sensor_id, png_info.signature) == ("rf-wall-n", "elrs_2g4")
    assert png_info.freq_min_hz == 2437e6 - 12.5e6 and png_info.freq_max_hz == 2437e6 + 12.5e6
    # the strongest of the alert's RF detections is the one kept
    rf_snrs = [
        d.snr_db for d in hub.store.alert_detections(alerts["drone"].id) if d.modality == "rf"
    ]
    assert png_info.snr_db == max(rf_snrs)

    wav_info, wav = hub.store.get_evidence(alerts["drone"].id, "acoustic")
    rate, pcm = wavfile.read(io.BytesIO(wav))
    assert (wav_info.media_type, wav_info.sensor_id, rate) == ("audio/wav", "mic-wall-n", 16000)
    assert 1.0 <= len(pcm) / rate == wav_info.duration_s <= 10.0
    gsm_info, gsm_png = hub.store.get_evidence(alerts["handset"].id, "rf")
    assert gsm_info.signature == "gsm_uplink" and gsm_png[:4] == b"\x89PNG"
    assert hub.metrics.get("sensorhub_evidence_stored_total", modality="rf") >= 2
    hub.store.close()


def test_a_failing_render_is_logged_and_loses_nothing_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub, clock, _ = make_hub(tmp_path)
    header = FrameHeader(
        site="s", sensor_id="rf-1", seq=1, kind="iq", t0_ns=1_767_225_600 * 10**9,
        sample_rate_hz=1e6, datatype="cf32_le", num_samples=8, center_freq_hz=2.44e9,
    )  # fmt: skip
    too_short = Frame(header, np.zeros((1, 8), np.complex64))  # no spectrogram of 8 samples

    async def go() -> None:
        for _ in range(3):
            await hub._fuse([drone(clock)])
            clock.advance(0.2)
        alert_id = hub.store.list_alerts().items[0].id
        jobs = hub.evidence.offer(too_short, [(drone(clock), alert_id)])
        assert len(jobs) == 1
        hub._start_evidence(jobs)
        await hub.evidence_settled()
        await hub._fuse([drone(clock)])  # the hub carries on
        assert hub.store.list_evidence(alert_id) == []
        assert len(hub.store.alert_detections(alert_id)) == 4

    with caplog.at_level(logging.ERROR, logger="sensor_hub.hub"):
        run(go())
    assert "could not render or store rf evidence" in caplog.text
    hub.store.close()


def test_status_and_frames_of_unknown_sensors_and_sites_are_rejected(tmp_path: Path) -> None:
    hub, clock, bus = make_hub(tmp_path, sensors=[SensorPlacement(sensor_id="mic-1")])

    async def go() -> None:
        # a retired sensor's retained status: rejected, never watched for silence
        await hub.handle_message(
            InboundMessage(topics.status_topic("s", "rf-retired"), b'{"state": "online"}', True)
        )
        with pytest.raises(FrameError) as info:  # a replay stamped with another site
            await hub.ingest_bytes(audio_frame(1).replace(b'"site":"s"', b'"site":"x"'))
        assert info.value.reason == "unknown_sensor" and "site 'x'" in info.value.detail
        await hub.ingest_bytes(audio_frame(2))
        clock.advance(10.0)
        await hub.tick()

    run(go())
    retired = hub.sensor("s", "rf-retired")
    assert retired is not None and retired.rejects_by_reason == {"unknown_sensor": 1}
    assert "alert.created" not in [json.loads(m.payload)["type"] for m in bus.published]
    hub.store.close()
