"""A scenario through the hub's own stages without a broker or a hub: stage 1
(`detect_frame` on each frame, decoded as the hub decodes it), then stage 2 (`Fusion`)
and the health check (`SensorHealth`) with their clock at frame time and a tick every
second, as the hub runs them. Benches and tests score the alerts with
`simulator.evaluate` exactly as `sensor-hub evaluate` scores a hub's.

The one difference from a hub fed by a replay is the clock: here stage 2 sees scenario
time, so quiet periods and silence limits run in scenario seconds at any speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from detectors.acoustic_history import HistoryConfig, HistoryRegistry
from sensor_hub.codec import decode_frame
from sensor_hub.fusion import Fusion
from sensor_hub.health import SensorHealth
from sensor_hub.pipeline import detect_frame, rf_floor_tracks
from sensor_hub.schemas import Alert, Detection
from sensor_hub.service import site_config_of
from sensor_hub.settings import FusionSettings, HealthSettings
from sensor_hub.testing import FakeClock
from simulator.capture import truth_document
from simulator.evaluate import Truth
from simulator.scenario import Scenario

#: (due_s, sensor_id, detections) of one frame
StageOne = list[tuple[float, str, list[Detection]]]


def stage_one(scenario: Scenario, start_time_ns: int) -> StageOne:
    """Every frame of one pass through the codec and the detectors, in due order (cut
    sensors send nothing, as live), with the per-sensor states the hub keeps (the
    acoustic modulation history, the IQ sensors' receiver-shape references)."""
    history = HistoryRegistry(HistoryConfig(alert_confidence=FusionSettings().min_confidence))
    rf_floors = rf_floor_tracks()
    out: StageOne = []
    for msg in scenario.messages(start_time_ns):
        if "/frames/" in msg.topic:
            frame = decode_frame(msg.payload)
            found = detect_frame(frame, history, rf_floors)
            out.append((msg.due_s, frame.header.sensor_id, found))
    return out


def stage_two(
    scenario: Scenario,
    frames: Sequence[tuple[float, str, list[Detection]]],
    start_time_ns: int,
    fusion_settings: FusionSettings | None = None,
    health_settings: HealthSettings | None = None,
) -> list[Alert]:
    """The hub's stage 2 and health check over stage 1's output (site from the scenario,
    its allow rules placed at start_time_ns); every alert's last version."""
    start = datetime.fromtimestamp(start_time_ns / 1e9, UTC)
    clock = FakeClock(start)
    site = site_config_of(scenario, start_time_ns)
    fusion = Fusion(fusion_settings or FusionSettings(), site, clock)
    health = SensorHealth(health_settings or HealthSettings(), site, clock)
    latest: dict[str, Alert] = {}
    for due_s, sensor_id, found in frames:
        due = start + timedelta(seconds=due_s)
        while clock.now < due:  # the hub ticks once a second
            clock.now = min(clock.now + timedelta(seconds=1), due)
            for change in fusion.tick() + health.tick():
                latest[change.alert.id] = change.alert
        for change in health.heard(scenario.site, sensor_id) + fusion.process(found):
            latest[change.alert.id] = change.alert
    clock.now = start + timedelta(seconds=scenario.duration_s + 3600)
    for change in fusion.tick():
        latest[change.alert.id] = change.alert
    return list(latest.values())


def truth_of(scenario: Scenario, start_time_ns: int) -> Truth:
    """The scenario's truth, as `record` writes it for the whole pass."""
    doc = truth_document(scenario, duration_s=scenario.duration_s,
                         start_time_ns=start_time_ns, boot_id="offline")  # fmt: skip
    return Truth.model_validate(doc)
