from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sensor_hub.errors import ConflictError
from sensor_hub.fusion import Fusion, combine_confidence
from sensor_hub.schemas import Detection
from sensor_hub.settings import FusionSettings, SensorPlacement, SiteConfig
from sensor_hub.testing import FakeClock

SITE = SiteConfig(
    site="s",
    sensors=[
        SensorPlacement(sensor_id="rf-1", zone="yard"),
        SensorPlacement(sensor_id="mic-1", zone="yard"),
        SensorPlacement(sensor_id="rf-cb", zone="cell-block-a"),
    ],
)


def det(
    t: datetime,
    *,
    sensor: str = "rf-1",
    kind: str = "drone",
    sig: str = "elrs_2g4",
    modality: str = "rf",
    conf: float = 0.8,
) -> Detection:
    return Detection(
        site="s",
        sensor_id=sensor,
        modality=modality,
        kind=kind,
        signature=sig,  # type: ignore[arg-type]
        t_start=t - timedelta(milliseconds=20),
        t_end=t,
        confidence=conf,
        snr_db=12.0,
    )


def make(**over: float) -> tuple[Fusion, FakeClock]:
    clock = FakeClock()
    return Fusion(FusionSettings(**over), SITE, clock), clock  # type: ignore[arg-type]


def test_persistence_then_one_alert_updated_in_place() -> None:
    fusion, clock = make(update_interval_s=2.0)
    changes = []
    for _ in range(2):
        changes += fusion.process([det(clock.now)])
        clock.advance(0.2)
    assert changes == []  # 2 of 3 frames: not yet
    changes = fusion.process([det(clock.now)])
    assert [c.type for c in changes] == ["alert.created"]
    alert = changes[0].alert
    assert alert.kind == "drone" and alert.zone == "yard" and alert.state == "active"
    assert alert.severity == "high" and alert.detection_count == 3
    ids = {alert.id}
    updates = 0
    for _ in range(100):  # 20 s of frames at 5/s
        clock.advance(0.2)
        for c in fusion.process([det(clock.now)]):
            ids.add(c.alert.id)
            updates += 1
    assert len(ids) == 1
    assert 8 <= updates <= 11  # throttled to one update per 2 s, not one per frame
    assert fusion.live_alert(alert.id).detection_count == 103  # type: ignore[union-attr]


def test_acoustic_corroboration_raises_severity_and_emits_at_once() -> None:
    fusion, clock = make(update_interval_s=60.0)
    for _ in range(3):
        fusion.process([det(clock.now)])
        clock.advance(0.2)
    changes = []
    for _ in range(4):
        changes += fusion.process(
            [det(clock.now, sensor="mic-1", modality="acoustic", sig="rotor_harmonics")]
        )
        clock.advance(1.0)
    assert changes and changes[0].type == "alert.updated"
    assert changes[0].alert.severity == "critical"
    assert changes[0].alert.sensors == ["mic-1", "rf-1"]


def test_other_kind_and_low_confidence_never_alert() -> None:
    fusion, clock = make()
    for _ in range(50):
        assert fusion.process([det(clock.now, kind="other", sig="wifi_ap")]) == []
        assert fusion.process([det(clock.now, conf=0.1)]) == []
        clock.advance(0.2)


def test_sparse_false_detections_do_not_persist() -> None:
    fusion, clock = make()
    for _ in range(20):  # one stray detection every 3 s never makes 3 in 5 s
        assert fusion.process([det(clock.now)]) == []
        clock.advance(3.0)


def test_handset_and_drone_are_separate_alerts() -> None:
    fusion, clock = make()
    created = []
    for _ in range(3):
        created += fusion.process(
            [det(clock.now), det(clock.now, sensor="rf-cb", kind="handset", sig="gsm_uplink")]
        )
        clock.advance(0.2)
    kinds = {c.alert.kind: c.alert for c in created if c.type == "alert.created"}
    assert set(kinds) == {"drone", "handset"}
    assert kinds["handset"].zone == "cell-block-a" and kinds["handset"].severity == "medium"


def test_auto_resolve_after_quiet_period_and_fresh_alert_after() -> None:
    fusion, clock = make(quiet_s=30.0)
    first = None
    for _ in range(3):
        for c in fusion.process([det(clock.now)]):
            first = c.alert
        clock.advance(0.2)
    assert first is not None
    clock.advance(29.0)
    assert fusion.tick() == []
    clock.advance(2.0)
    resolved = fusion.tick()
    assert [c.type for c in resolved] == ["alert.resolved"]
    assert resolved[0].alert.id == first.id and resolved[0].alert.state == "resolved"
    again = []
    for _ in range(3):
        again += fusion.process([det(clock.now)])
        clock.advance(0.2)
    assert again[0].type == "alert.created" and again[0].alert.id != first.id


def test_operator_actions() -> None:
    fusion, clock = make()
    alert = None
    for _ in range(3):
        for c in fusion.process([det(clock.now)]):
            alert = c.alert
        clock.advance(0.2)
    assert alert is not None
    acked = fusion.operator_action(alert, "ack", "seen on camera 3")
    assert acked.type == "alert.acknowledged" and acked.alert.note == "seen on camera 3"
    with pytest.raises(ConflictError):
        fusion.operator_action(acked.alert, "ack", "")
    # detections keep updating the acknowledged alert without reopening it
    clock.advance(5)
    fusion.process([det(clock.now)])
    assert fusion.live_alert(alert.id).state == "acknowledged"  # type: ignore[union-attr]
    done = fusion.operator_action(acked.alert, "resolve", "dealt with")
    assert done.alert.state == "resolved"
    with pytest.raises(ConflictError):
        fusion.operator_action(done.alert, "resolve", "")
    assert fusion.alert_id_for("s", "drone") is None


@pytest.mark.parametrize(
    ("values", "expected"), [([], 0.0), ([0.5], 0.5), ([0.5, 0.5], 0.75), ([1.0], 0.999)]
)
def test_combine_confidence(values: list[float], expected: float) -> None:
    assert combine_confidence(values) == pytest.approx(expected)
