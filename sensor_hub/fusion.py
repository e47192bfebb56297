"""Stage 2: turn candidate detections into alerts (pure logic, injected clock).

Grouping (walking skeleton): one open alert per (site, kind). Detections of
kind ``other`` (Wi-Fi APs, ovens, staff radios) are stored by the caller and
never alerted. Issue 6 splits groups by place and time to separate intruders.

Persistence (M-of-N over time): a group raises an alert only once it has
detections in at least M distinct frames within a window, per modality:

    RF:        rf_min_frames (3) frames within rf_window_s (5 s)
    acoustic:  acoustic_min_frames (4) frames within acoustic_window_s (8 s)

False-alarm arithmetic: if one frame gives a false detection of a threat class
with probability p (independently per frame), and a sensor sends F frames/s,
the window holds n = F·W frames and the chance that M or more are false is
P = sum_{k>=M} C(n,k) p^k (1-p)^(n-k) ≈ C(n,M) p^M for small p. With the demo's
2.4 GHz collector (F = 5/s, W = 5 s, n = 25, M = 3) and p = 1e-3 per frame,
P ≈ 2300 · 1e-9 = 2.3e-6 per window; windows start at most F times a second,
so the false-alert rate is ≤ 5 · 3600 · 24 · 2.3e-6 ≈ 1 per day per sensor;
p = 1e-4 gives ≈ 1e-3 per day. The detector's per-frame false-detection
rate of threat labels is what the bench scripts measure.

Lifecycle: created -> updated (at most every update_interval_s, plus whenever
the set of sensors or signatures grows) -> acknowledged (operator) ->
resolved (operator, or automatically after quiet_s without a detection). A
resolved group starts afresh: a later detection needs persistence again and
opens a new alert.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sensor_hub.errors import ConflictError, NotFoundError
from sensor_hub.schemas import Alert, AlertKind, Detection, EventType, Severity
from sensor_hub.settings import FusionSettings, SiteConfig

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class AlertChange:
    type: EventType
    alert: Alert


@dataclass(slots=True)
class _Group:
    site: str
    kind: AlertKind
    frames: deque[tuple[datetime, str, str]] = field(
        default_factory=deque
    )  # (t_end, modality, sensor)
    alert: Alert | None = None
    last_rx: datetime | None = None
    last_emit: datetime | None = None
    best_confidence: dict[str, float] = field(default_factory=dict)  # sensor/signature -> max conf
    zone_votes: dict[str, float] = field(default_factory=dict)
    emitted_sensors: list[str] = field(default_factory=list)


def _new_id() -> str:
    return "alr_" + uuid.uuid4().hex[:16]


def combine_confidence(values: Iterable[float]) -> float:
    """Independent evidence: 1 - prod(1 - c), capped below certainty."""
    miss = 1.0
    for c in values:
        miss *= 1.0 - min(max(c, 0.0), 1.0)
    return round(min(1.0 - miss, 0.999), 4)


def _severity(kind: AlertKind, modalities: set[str]) -> Severity:
    if kind == "drone":
        return "critical" if len(modalities) > 1 else "high"
    if kind == "handset":
        return "medium"
    return "high"


class Fusion:
    def __init__(self, settings: FusionSettings, site: SiteConfig, clock: Clock) -> None:
        self._settings = settings
        self._site = site
        self._clock = clock
        self._groups: dict[tuple[str, str], _Group] = {}
        self._by_alert: dict[str, _Group] = {}

    def _window(self, modality: str) -> tuple[timedelta, int]:
        s = self._settings
        if modality == "acoustic":
            return timedelta(seconds=s.acoustic_window_s), s.acoustic_min_frames
        return timedelta(seconds=s.rf_window_s), s.rf_min_frames

    def _persistent(self, group: _Group, modality: str, now_t: datetime) -> bool:
        window, needed = self._window(modality)
        frames = {
            (t, sensor) for t, m, sensor in group.frames if m == modality and t >= now_t - window
        }
        return len(frames) >= needed

    def process(self, detections: Iterable[Detection]) -> list[AlertChange]:
        """Feed one frame's detections (or several); return the alert changes they cause."""
        now = self._clock()
        changes: list[AlertChange] = []
        touched: dict[int, _Group] = {}
        for det in detections:
            if det.kind == "other" or det.confidence < self._settings.min_confidence:
                continue
            key = (det.site, det.kind)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(site=det.site, kind=det.kind)
            self._absorb(group, det, now)
            touched[id(group)] = group
        for group in touched.values():
            change = self._evaluate(group, now)
            if change is not None:
                changes.append(change)
        return changes

    def _absorb(self, group: _Group, det: Detection, now: datetime) -> None:
        group.frames.append((det.t_end, det.modality, det.sensor_id))
        horizon = det.t_end - timedelta(
            seconds=max(self._settings.rf_window_s, self._settings.acoustic_window_s)
        )
        while group.frames and group.frames[0][0] < horizon:
            group.frames.popleft()
        group.last_rx = now
        tag = f"{det.sensor_id}/{det.signature}"
        group.best_confidence[tag] = max(group.best_confidence.get(tag, 0.0), det.confidence)
        placement = self._site.placement(det.sensor_id)
        if placement is not None and placement.zone:
            group.zone_votes[placement.zone] = (
                group.zone_votes.get(placement.zone, 0.0) + det.confidence
            )
        if group.alert is not None:
            a = group.alert
            group.alert = a.model_copy(
                update={
                    "last_seen": max(a.last_seen, det.t_end),
                    "first_seen": min(a.first_seen, det.t_start),
                    "detection_count": a.detection_count + 1,
                    "sensors": sorted({*a.sensors, det.sensor_id}),
                    "signatures": sorted({*a.signatures, det.signature}),
                }
            )

    def _evaluate(self, group: _Group, now: datetime) -> AlertChange | None:
        confidence = combine_confidence(group.best_confidence.values())
        zone = (
            max(group.zone_votes, key=lambda z: group.zone_votes[z]) if group.zone_votes else None
        )
        if group.alert is None:
            latest = max(t for t, _, _ in group.frames)
            modalities = {m for _, m, _ in group.frames}
            if not any(self._persistent(group, m, latest) for m in modalities):
                return None
            recent = list(group.frames)
            alert = Alert(
                id=_new_id(),
                site=group.site,
                zone=zone,
                kind=group.kind,
                signatures=sorted({k.split("/", 1)[1] for k in group.best_confidence}),
                state="active",
                severity=_severity(group.kind, modalities),
                confidence=confidence,
                first_seen=min(t for t, _, _ in recent),
                last_seen=latest,
                updated_at=now,
                sensors=sorted({s for _, _, s in recent}),
                detection_count=len(recent),
            )
            group.alert = alert
            group.last_emit = now
            group.emitted_sensors = list(alert.sensors)
            self._by_alert[alert.id] = group
            return AlertChange("alert.created", alert)
        old = group.alert
        modalities = {m for _, m, _ in group.frames}
        severity = _severity(group.kind, modalities)
        rank = ["low", "medium", "high", "critical"]
        if rank.index(old.severity) > rank.index(severity):
            severity = old.severity
        new = old.model_copy(
            update={
                "confidence": max(confidence, old.confidence),
                "zone": zone or old.zone,
                "severity": severity,
                "updated_at": now,
            }
        )
        group.alert = new
        grew = set(new.sensors) != set(group.emitted_sensors) or new.severity != old.severity
        interval = self._settings.update_interval_s
        due = group.last_emit is None or (now - group.last_emit).total_seconds() >= interval
        if grew or due:
            group.last_emit = now
            group.emitted_sensors = list(new.sensors)
            return AlertChange("alert.updated", new)
        return None

    def tick(self) -> list[AlertChange]:
        """Resolve alerts quiet for quiet_s; drop stale unconfirmed groups."""
        now = self._clock()
        quiet = timedelta(seconds=self._settings.quiet_s)
        changes: list[AlertChange] = []
        for key, group in list(self._groups.items()):
            if group.last_rx is not None and now - group.last_rx < quiet:
                continue
            if group.alert is not None and group.alert.state != "resolved":
                resolved = group.alert.model_copy(
                    update={
                        "state": "resolved",
                        "updated_at": now,
                        "note": "auto-resolved after quiet period",
                    }
                )
                changes.append(AlertChange("alert.resolved", resolved))
                self._by_alert.pop(resolved.id, None)
            del self._groups[key]
        return changes

    def operator_action(self, alert: Alert, action: str, note: str) -> AlertChange:
        """Apply ack/resolve to an alert (live or loaded from the store)."""
        now = self._clock()
        if alert.state == "resolved":
            raise ConflictError(f"alert {alert.id} is already resolved")
        if action == "ack":
            if alert.state == "acknowledged":
                raise ConflictError(f"alert {alert.id} is already acknowledged")
            new_state, type_ = "acknowledged", "alert.acknowledged"
        elif action == "resolve":
            new_state, type_ = "resolved", "alert.resolved"
        else:
            raise NotFoundError(f"no action {action!r}")
        group = self._by_alert.get(alert.id)
        current = group.alert if group is not None and group.alert is not None else alert
        updated = current.model_copy(
            update={"state": new_state, "updated_at": now, "note": note or None}
        )
        if group is not None:
            if new_state == "resolved":
                self._by_alert.pop(alert.id, None)
                for key, g in list(self._groups.items()):
                    if g is group:
                        del self._groups[key]
            else:
                group.alert = updated
        return AlertChange(type_, updated)  # type: ignore[arg-type]

    def live_alert(self, alert_id: str) -> Alert | None:
        group = self._by_alert.get(alert_id)
        return group.alert if group is not None else None

    def alert_id_for(self, site: str, kind: str) -> str | None:
        """The open alert a detection of this site and kind now belongs to, if any."""
        group = self._groups.get((site, kind))
        return group.alert.id if group is not None and group.alert is not None else None
