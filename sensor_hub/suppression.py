"""Which detections the site's own rules suppress (pure logic).

A detection is suppressed when its sensor is inside one of its maintenance windows, or
when it matches an allow rule: every criterion the rule gives must hold (signature in
`signatures`, centre frequency inside `band_hz`, the place inside one of `zones`, the
sensor one of `sensors`, the time inside one of `windows`). Suppressed detections are
stored and shown with the reason; they never feed an alert.
"""

from __future__ import annotations

from datetime import datetime

from sensor_hub.schemas import Detection
from sensor_hub.site import AllowRule, SiteConfig, TimeWindow


def _in_windows(windows: list[TimeWindow], t: datetime, site: SiteConfig) -> bool:
    tz = site.tz
    return any(w.contains(t, tz) for w in windows)


def in_maintenance(site: SiteConfig, sensor_id: str, t: datetime) -> str | None:
    """The name of a maintenance window holding this sensor at t, if any."""
    for m in site.maintenance:
        if sensor_id in m.sensors and _in_windows(m.windows, t, site):
            return m.name
    return None


def _allows(rule: AllowRule, det: Detection, places: set[str], site: SiteConfig) -> bool:
    if rule.signatures and det.signature not in rule.signatures:
        return False
    if rule.band_hz is not None:
        lo, hi = rule.band_hz
        if det.freq_hz is None or not lo <= det.freq_hz <= hi:
            return False
    if rule.zones and not places & set(rule.zones):
        return False
    if rule.sensors and det.sensor_id not in rule.sensors:
        return False
    return not rule.windows or _in_windows(rule.windows, det.t_start, site)


def suppression_reason(
    det: Detection, site: SiteConfig, places: set[str] | None = None
) -> str | None:
    """Why `det` is suppressed ("maintenance:<name>" or "allow:<name>"), or None.

    places: the zones and cells the detection is known to be in (its localised fix, else
    its sensor's zone); default: the sensor's zone from the site.
    """
    window = in_maintenance(site, det.sensor_id, det.t_start)
    if window is not None:
        return f"maintenance:{window}"
    if places is None:
        placement = site.placement(det.sensor_id)
        places = {placement.zone} if placement is not None and placement.zone else set()
    for rule in site.allow:
        if _allows(rule, det, places, site):
            return f"allow:{rule.name}"
    return None
