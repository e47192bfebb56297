"""Sensor health (pure logic, injected clock): silence becomes a `sensor_offline` alert;
a surge of rejected frames or a jump in the noise floor flags the sensor.

Cutting a sensor is an intruder's first move, so silence is an alert of its own:

- a sensor is *heard* when a frame from it is accepted or it publishes an `online`
  status (collectors send one every 10 s by default, DESIGN.md);
- it is *silent* once nothing was heard for `offline_after_s` (25 s by default: two and a
  half heartbeats, so that with the 1 s tick the alert comes within 30 s) by the
  hub's clock, or at once when its status says `offline` (the broker publishes the
  collector's last will when its connection drops);
- a silent sensor gets one `sensor_offline` alert, resolved automatically when it is
  heard again; while a maintenance window of the site holds the sensor, its silence
  raises nothing;
- sensors listed in the site file are watched from the hub's start, so a sensor that
  never comes up is reported too; others from the first time they are heard.

Flags (shown on the sensor and published as `sensor.flagged`, not alerts: a human looks):

- `frames_rejected`: over the last `reject_window_s`, at least `reject_min` frames were
  rejected and they are at least half of what the sensor sent (a tampered or failing
  collector); cleared when the share falls under a tenth;
- `noise_floor_jump`: the frame's median power (robust to the bursts it may hold) stays
  `floor_jump_db` or more above the sensor's own slow median for `floor_jump_frames`
  frames in a row (a jammer, a damaged front end); cleared when it returns within half
  that. The level is in dBm when the frame says its full scale, so a reported gain step
  moves nothing.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from sensor_hub.codec import Frame
from sensor_hub.fusion import AlertChange
from sensor_hub.schemas import Alert
from sensor_hub.settings import HealthSettings
from sensor_hub.site import SiteConfig
from sensor_hub.suppression import in_maintenance

Clock = Callable[[], datetime]
Key = tuple[str, str]  # (site, sensor_id)


@dataclass(slots=True)
class _Watch:
    since: datetime
    listed: bool = False  # in the site file: watched before it is first heard
    last_heard: datetime | None = None
    alert: Alert | None = None
    accepted: deque[datetime] = field(default_factory=deque)
    rejected: deque[datetime] = field(default_factory=deque)
    levels: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    high_run: int = 0
    flags: set[str] = field(default_factory=set)


def frame_level_db(frame: Frame) -> float | None:
    """The frame's median power per sample (dBm, or dB SPL for audio, when the header gives
    full scale, else dBFS): the median ignores the bursts a frame holds and follows the
    floor."""
    h = frame.header
    x = frame.samples
    if x.size == 0:
        return None
    if h.kind == "psd":  # already dBm per bin
        return float(np.median(x))
    flat = x.reshape(-1)
    step = max(1, flat.size // 8192)
    p = np.abs(flat[::step]) ** 2
    med = float(np.median(p))
    if not math.isfinite(med) or med <= 0.0:
        return None
    db = 10.0 * math.log10(med)
    full_scale = h.full_scale_db_spl if h.kind == "audio" else h.full_scale_dbm
    return db + full_scale if full_scale is not None else db


class SensorHealth:
    def __init__(self, settings: HealthSettings, site: SiteConfig, clock: Clock) -> None:
        self._s = settings
        self._site = site
        self._clock = clock
        now = clock()
        self._watch: dict[Key, _Watch] = {
            (site.site, p.sensor_id): _Watch(since=now, listed=True) for p in site.sensors
        }
        self._by_alert: dict[str, Key] = {}

    def _get(self, key: Key) -> _Watch:
        w = self._watch.get(key)
        if w is None:
            w = self._watch[key] = _Watch(since=self._clock())
        return w

    # ---- silence

    def heard(self, site: str, sensor_id: str) -> list[AlertChange]:
        """A frame was accepted or an `online` status arrived: resolves its offline alert."""
        key = (site, sensor_id)
        w = self._get(key)
        now = self._clock()
        w.last_heard = now
        if w.alert is None:
            return []
        resolved = w.alert.model_copy(
            update={
                "state": "resolved",
                "updated_at": now,
                "last_seen": now,
                "note": "sensor heard again",
            }
        )
        self._by_alert.pop(w.alert.id, None)
        w.alert = None
        return [AlertChange("alert.resolved", resolved)]

    def went_offline(self, site: str, sensor_id: str, why: str) -> list[AlertChange]:
        """The sensor's status (or its last will) says offline: alert now."""
        w = self._get((site, sensor_id))
        return self._raise(site, sensor_id, w, why)

    def tick(self) -> list[AlertChange]:
        """Alert on every sensor silent for `offline_after_s`."""
        now = self._clock()
        limit = timedelta(seconds=self._s.offline_after_s)
        out: list[AlertChange] = []
        for (site, sid), w in self._watch.items():
            if w.alert is not None or (w.last_heard is None and not w.listed):
                continue  # only rejected frames so far: nothing to miss yet
            last = max(w.last_heard or w.since, w.since)
            if now - last >= limit:
                heard = "never heard since the hub started" if w.last_heard is None else (
                    f"nothing heard for {(now - last).total_seconds():.0f} s "
                    f"(since {last:%Y-%m-%d %H:%M:%S} UTC)"
                )  # fmt: skip
                out += self._raise(site, sid, w, heard)
        return out

    def _raise(self, site: str, sensor_id: str, w: _Watch, why: str) -> list[AlertChange]:
        now = self._clock()
        if w.alert is not None or in_maintenance(self._site, sensor_id, now) is not None:
            return []
        placement = self._site.placement(sensor_id)
        alert = Alert(
            id="alr_" + uuid.uuid4().hex[:16],
            site=site,
            zone=placement.zone if placement is not None else None,
            kind="sensor_offline",
            signatures=[],
            state="active",
            severity="high",
            confidence=1.0,
            first_seen=now,  # when the hub raised it; the note says since when it is silent
            last_seen=now,
            updated_at=now,
            sensors=[sensor_id],
            detection_count=0,
            note=why,
        )
        w.alert = alert
        self._by_alert[alert.id] = (site, sensor_id)
        return [AlertChange("alert.created", alert)]

    def live_alert(self, alert_id: str) -> Alert | None:
        key = self._by_alert.get(alert_id)
        return self._watch[key].alert if key is not None else None

    def operator_changed(self, alert: Alert) -> None:
        """An operator acknowledged or resolved an offline alert: keep our copy in step (a
        resolved one is forgotten; if the sensor stays silent, the next tick re-raises)."""
        key = self._by_alert.get(alert.id)
        if key is None:
            return
        w = self._watch[key]
        if alert.state == "resolved":
            self._by_alert.pop(alert.id, None)
            w.alert = None
            w.since = self._clock()  # a fresh offline_after_s before raising it again
        else:
            w.alert = alert

    # ---- flags

    def _trim(self, q: deque[datetime], now: datetime) -> None:
        horizon = now - timedelta(seconds=self._s.reject_window_s)
        while q and q[0] < horizon:
            q.popleft()

    def _reject_flag(self, w: _Watch, now: datetime) -> str | None:
        self._trim(w.accepted, now)
        self._trim(w.rejected, now)
        r, a = len(w.rejected), len(w.accepted)
        share = r / (r + a) if r + a else 0.0
        if "frames_rejected" not in w.flags and r >= self._s.reject_min and share >= 0.5:
            w.flags.add("frames_rejected")
            return "frames_rejected"
        if "frames_rejected" in w.flags and share < 0.1:
            w.flags.discard("frames_rejected")
            return "-frames_rejected"
        return None

    def frame_rejected(self, site: str, sensor_id: str) -> str | None:
        """Count a rejected frame; the flag raised ("frames_rejected") or None."""
        w = self._get((site, sensor_id))
        now = self._clock()
        w.rejected.append(now)
        change = self._reject_flag(w, now)
        return change if change == "frames_rejected" else None

    def frame_accepted(self, site: str, sensor_id: str, level_db: float | None) -> list[str]:
        """Count an accepted frame and its level; the flags raised ("name") or cleared
        ("-name")."""
        w = self._get((site, sensor_id))
        now = self._clock()
        w.accepted.append(now)
        changes = [c for c in (self._reject_flag(w, now),) if c is not None]
        if level_db is None:
            return changes
        s = self._s
        if len(w.levels) >= 8:
            base = float(np.median(w.levels))
            if level_db >= base + s.floor_jump_db:
                w.high_run += 1
                if w.high_run >= s.floor_jump_frames and "noise_floor_jump" not in w.flags:
                    w.flags.add("noise_floor_jump")
                    changes.append("noise_floor_jump")
                return changes  # a raised floor does not become the new normal
            w.high_run = 0
            if "noise_floor_jump" in w.flags and level_db < base + 0.5 * s.floor_jump_db:
                w.flags.discard("noise_floor_jump")
                changes.append("-noise_floor_jump")
        w.levels.append(level_db)
        return changes

    def flags(self, site: str, sensor_id: str) -> list[str]:
        w = self._watch.get((site, sensor_id))
        return sorted(w.flags) if w is not None else []
