"""Sensor health with a fake clock: silence alerts, maintenance, tamper flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from sensor_hub.codec import Frame
from sensor_hub.health import SensorHealth, frame_level_db
from sensor_hub.schemas import FrameHeader
from sensor_hub.settings import HealthSettings
from sensor_hub.site import SiteConfig

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # a Monday


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


SITE = SiteConfig.model_validate(
    {
        "site": "s",
        "zones": {"yard": [[0, 0], [10, 0], [10, 10]]},
        "sensors": [{"sensor_id": "rf-1", "zone": "yard"}, {"sensor_id": "mic-1"}],
        "maintenance": [
            {
                "name": "service",
                "sensors": ["mic-1"],
                "windows": [{"daily_from": "12:00", "daily_to": "13:00"}],
            },
        ],
    }
)


def _health(clock: Clock) -> SensorHealth:
    return SensorHealth(HealthSettings(), SITE, clock)


def test_silence_raises_one_alert_and_return_resolves_it() -> None:
    clock = Clock()
    h = _health(clock)
    assert h.heard("s", "rf-1") == []
    clock.advance(24.0)
    assert h.tick() == []
    clock.advance(1.5)
    changes = h.tick()
    # rf-1 is silent; mic-1 was never heard but is under maintenance 12:00-13:00
    assert [(c.type, c.alert.kind, c.alert.sensors) for c in changes] == [
        ("alert.created", "sensor_offline", ["rf-1"])
    ]
    alert = changes[0].alert
    assert alert.zone == "yard" and alert.first_seen == clock.now and "26 s" in (alert.note or "")
    clock.advance(10.0)
    assert h.tick() == []  # one alert, not one per tick
    back = h.heard("s", "rf-1")
    assert [(c.type, c.alert.id, c.alert.state) for c in back] == [
        ("alert.resolved", alert.id, "resolved")
    ]


def test_listed_sensor_never_heard_is_reported_after_maintenance() -> None:
    clock = Clock()
    h = _health(clock)
    h.heard("s", "rf-1")
    clock.advance(3600.0)  # 13:00: the maintenance window has closed
    h.heard("s", "rf-1")
    kinds = {c.alert.sensors[0]: c.alert.note for c in h.tick()}
    assert set(kinds) == {"mic-1"} and "never heard" in (kinds["mic-1"] or "")


def test_unknown_sensors_with_only_rejected_frames_are_not_watched() -> None:
    clock = Clock()
    h = _health(clock)
    h.heard("s", "rf-1")
    h.frame_rejected("s", "stranger")
    clock.advance(3600.0)
    h.heard("s", "rf-1")
    assert all(c.alert.sensors != ["stranger"] for c in h.tick())


def test_last_will_alerts_at_once_and_operator_resolve_rearms() -> None:
    clock = Clock()
    h = _health(clock)
    h.heard("s", "rf-1")
    (created,) = h.went_offline("s", "rf-1", "its status says offline (last will)")
    assert h.went_offline("s", "rf-1", "again") == []
    assert h.live_alert(created.alert.id) == created.alert
    h.operator_changed(created.alert.model_copy(update={"state": "resolved"}))
    assert h.live_alert(created.alert.id) is None
    clock.advance(20.0)
    assert [c for c in h.tick() if c.alert.sensors == ["rf-1"]] == []
    clock.advance(15.0)  # still silent 35 s after the operator closed it: raised again
    assert [c.type for c in h.tick() if c.alert.sensors == ["rf-1"]] == ["alert.created"]


def test_reject_surge_flags_and_clears() -> None:
    clock = Clock()
    h = _health(clock)
    for _ in range(20):
        h.frame_accepted("s", "rf-1", None)
        clock.advance(0.2)
    raised = [h.frame_rejected("s", "rf-1") for _ in range(9)]
    assert raised == [None] * 9  # 9 of 29: not yet
    for _ in range(12):
        flag = h.frame_rejected("s", "rf-1")
        clock.advance(0.2)
        if flag:
            break
    assert flag == "frames_rejected" and h.flags("s", "rf-1") == ["frames_rejected"]
    clock.advance(61.0)  # the window forgets the rejects; clean frames clear the flag
    assert h.frame_accepted("s", "rf-1", None) == ["-frames_rejected"]
    assert h.flags("s", "rf-1") == []


def test_noise_floor_jump_flags_but_a_burst_or_gain_step_does_not() -> None:
    clock = Clock()
    h = _health(clock)
    for _ in range(20):
        assert h.frame_accepted("s", "rf-1", -100.0) == []
    assert h.frame_accepted("s", "rf-1", -80.0) == []  # one loud frame
    for _ in range(3):
        assert h.frame_accepted("s", "rf-1", -99.0) == []
    changes = [h.frame_accepted("s", "rf-1", -85.0) for _ in range(5)]
    assert changes[-1] == ["noise_floor_jump"] and changes[:-1] == [[]] * 4
    assert h.frame_accepted("s", "rf-1", -86.0) == []  # still high: no new change
    assert h.frame_accepted("s", "rf-1", -99.5) == ["-noise_floor_jump"]


def _iq_frame(samples: np.ndarray, full_scale_dbm: float | None) -> Frame:
    header = FrameHeader.model_validate(
        {"site": "s", "sensor_id": "rf-1", "boot_id": "b", "seq": 1, "kind": "iq",
         "t0_ns": int(T0.timestamp() * 1e9), "sample_rate_hz": 1e6, "center_freq_hz": 2.4e9,
         "datatype": "ci16_le", "num_samples": len(samples),
         **({"full_scale_dbm": full_scale_dbm} if full_scale_dbm is not None else {})}
    )  # fmt: skip
    return Frame(header, samples.astype(np.complex64))


def test_frame_level_is_the_floor_in_dbm() -> None:
    rng = np.random.default_rng(1)
    noise = (rng.normal(size=20000) + 1j * rng.normal(size=20000)) * 0.01  # -37 dBFS/sample
    burst = noise.copy()
    burst[:4000] += 0.5  # a strong burst over a fifth of the frame
    quiet = frame_level_db(_iq_frame(noise, -20.0))
    assert quiet is not None and abs(quiet - (-20.0 - 37.0 - 1.6)) < 0.5  # median of χ²₂
    loud = frame_level_db(_iq_frame(burst, -20.0))
    assert loud is not None and loud - quiet < 1.5
    # a gain step that the header reports moves the dBFS level, not the dBm one
    stepped = frame_level_db(_iq_frame(noise * 10.0, -40.0))
    assert stepped is not None and abs(stepped - quiet) < 0.1


def test_an_unlisted_sensor_resolved_by_an_operator_is_raised_again() -> None:
    clock = Clock()
    h = SensorHealth(HealthSettings(), SiteConfig(site="s"), clock)
    h.heard("s", "rf-9")
    clock.advance(26.0)
    (created,) = h.tick()
    h.operator_changed(created.alert.model_copy(update={"state": "resolved"}))
    clock.advance(20.0)
    assert h.tick() == []  # a fresh 25 s after the operator closed it
    clock.advance(6.0)
    assert [c.alert.sensors for c in h.tick()] == [["rf-9"]]
