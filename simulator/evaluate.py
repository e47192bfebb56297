"""Score a hub's alerts against a capture's ground truth (`truth.json`).

Pure functions, no I/O: a `Truth` (``Truth.model_validate(json.loads(...))``) and a list
of `Alert` in, an `EvaluationResult` out. Every number in the result is defined here.

Time
    Scenario seconds t; wall time = start_time_ns / 1e9 + t. Alert datetimes are
    converted to scenario seconds exactly (integer nanoseconds, microsecond datetimes).

Intruders
    Emissions are grouped by ``emitter_id``. An emitter with at least one emission of
    kind ``drone`` or ``handset`` is an intruder *root*. An emission whose emitter_id is a
    root's id followed by ``-`` and anything (``drone-1-rc``, ``drone-1-video`` for root
    ``drone-1``) belongs to that root whatever its own kind, so a drone's pilot radio
    and video link count with the drone (the shortest such root wins). An intruder's
    kind is ``drone`` if its root has a drone emission, else ``handset``; its
    signatures, intervals and tracks are the union over its emissions;
    ``onset_s`` is its earliest emission start; ``best_snr_db`` is the maximum
    ``snr_db`` over its emissions and all sensors (None if none is given). Emissions of
    kind ``other`` that belong to no root are *confusers*: never intruders, used only
    to attribute false alerts in the confusion matrix.

Windows and scope
    An intruder's window is the union of its emission intervals, each widened to
    [start_s - tolerance_before_s, end_s + tolerance_after_s] (defaults 2 s and 60 s:
    frames that start just before onset, late first alerts, the hub's quiet period).
    Alerts whose [first_seen, last_seen] misses [-tolerance_before_s,
    duration_s + tolerance_after_s] are out of scope (another run in the same hub)
    and are only counted (``alerts_out_of_scope``). ``sensor_offline`` alerts are
    counted apart (``sensor_offline_alerts``) and take no part in Pd, false alerts,
    latency or the confusion matrix; nor do alerts a site rule kept from paging (state
    ``suppressed``, or resolved with ``suppressed_by`` set: ``suppressed_alerts``).

Sensor outages
    truth.outages lists the intervals in which a sensor was cut (no frames, no
    heartbeats). An outage is *detected* by the earliest ``sensor_offline`` alert for that
    sensor alone whose first_seen (the hub raises it with first_seen = now) lies in
    [start_s - tolerance_before_s, end_s]; ``offline_latencies_s`` holds first_seen -
    start_s per detected outage; it is *resolved* when that alert ends resolved with
    last_seen >= end_s - 1 s (the sensor's return resolved it). Offline alerts that
    detect no outage are ``false_offline_alerts``.

Candidates and matching
    A threat alert and an intruder are candidates when their kinds agree and the
    closed interval [first_seen, last_seen] intersects the intruder's window. If the
    alert has a location, then among its candidates that have a track only those within
    the alert's radius_m of the location at the alert's last_seen are kept, or the
    nearest one if none is (candidates without a track stay): a wide radius claims
    little, a tight one picks its intruder. Matching then runs in two steps:

    1. primary: a one-to-one assignment (``scipy.optimize.linear_sum_assignment``)
       that maximises the number of matched intruders, then the total overlap in
       seconds between alert interval and window;
    2. duplicates: every alert left over that still has a candidate is matched to the
       candidate with the largest overlap (after the location filter above; ties go to
       the first in truth order).

    Unmatched threat alerts are *false alerts*.

Metrics
    pd                      detected intruders / intruders, detected = >= 1 matched alert
                            (None when there are no intruders; likewise every ratio
                            below is None when its denominator is 0)
    pd_by_kind              the same per intruder kind
    pd_by_signature         per signature; an intruder counts under each of its signatures
    pd_by_snr_bin           per best_snr_db bin: (-inf, -20), [-20, -15), ..., [35, 40),
                            [40, inf), and "unknown" (only when some intruder has no SNR)
    false_alerts            count of false alerts; hours = duration_s / 3600
    false_alerts_per_hour   false_alerts / hours
    false_alerts_per_sensor_hour
                            false_alerts / (hours * sensors), sensors = len(truth.sensors)
    latencies_s             per detected intruder: earliest first_seen of its matched alerts
                            minus its onset_s. This is scenario (detection) time: the hub
                            stamps first_seen from frame times, so processing delay is
                            not included. May be slightly negative (tolerance_before_s).
    latency_s_p50, _p90     numpy.percentile (linear interpolation) of latencies_s
    location_errors_m       per matched alert with a location: horizontal distance from the
                            location to the nearest of its intruder's emission tracks at the
                            alert's last_seen (tracks interpolated linearly, held at the ends)
    location_error_m_median median of location_errors_m (None when no alert has a location)
    location_within_radius  fraction of location_errors_m <= the alert's radius_m
    alerts_per_intruder     matched alerts / detected intruders (1.0 is ideal)
    confusion               confusion[truth][alert]: truth rows drone, handset, other, none;
                            alert columns drone, handset, none. Alert columns count alerts:
                            a matched alert under its intruder's kind (so the diagonal holds
                            duplicates too); a false alert under the kind of the intruder or
                            confuser its interval overlaps most (windows widened as above,
                            intruders before confusers), else under "none". The "none"
                            column counts missed intruders.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import linear_sum_assignment

from sensor_hub.schemas import Alert

THREAT_KINDS: tuple[str, ...] = ("drone", "handset")
TRUTH_ROWS: tuple[str, ...] = ("drone", "handset", "other", "none")
ALERT_COLUMNS: tuple[str, ...] = ("drone", "handset", "none")
SNR_BIN_EDGES_DB: tuple[float, ...] = tuple(float(e) for e in range(-20, 45, 5))
AlertStatus = Literal[
    "matched", "duplicate", "false", "sensor_offline", "suppressed", "out_of_scope"
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- truth.json


class _Reader(BaseModel):
    # truth.json is written by the recorder and may gain fields; a tolerant reader keeps
    # an older evaluator working on newer captures. Missing required fields still fail.
    model_config = ConfigDict(extra="ignore", frozen=True)


class TruthSensor(_Reader):
    sensor_id: str
    modality: str
    kind: str = ""
    position: tuple[float, float, float]
    zone: str | None = None


class TruthEmission(_Reader):
    emitter_id: str
    kind: Literal["drone", "handset", "other"]
    signature: str
    start_s: float
    end_s: float
    track: list[tuple[float, float, float, float]] = Field(default_factory=list)  # t, x, y, z
    snr_db: dict[str, float] = Field(default_factory=dict)


class TruthOutage(_Reader):
    sensor_id: str
    start_s: float
    end_s: float


class Truth(_Reader):
    duration_s: float = Field(gt=0)
    seed: int
    site: str
    start_time_ns: int
    zones: dict[str, list[tuple[float, float]]] = Field(default_factory=dict)
    sensors: list[TruthSensor] = Field(default_factory=list)
    emissions: list[TruthEmission] = Field(default_factory=list)
    outages: list[TruthOutage] = Field(default_factory=list)


@dataclass(frozen=True)
class MatchSettings:
    tolerance_before_s: float = 2.0
    tolerance_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.tolerance_before_s < 0 or self.tolerance_after_s < 0:
            raise ValueError(f"tolerances must be >= 0: {self!r}")


@dataclass(frozen=True)
class Intruder:
    intruder_id: str
    kind: str
    emissions: tuple[TruthEmission, ...]

    @property
    def signatures(self) -> list[str]:
        return sorted({e.signature for e in self.emissions})

    @property
    def emitter_ids(self) -> list[str]:
        return sorted({e.emitter_id for e in self.emissions})

    @property
    def onset_s(self) -> float:
        return min(e.start_s for e in self.emissions)

    @property
    def end_s(self) -> float:
        return max(e.end_s for e in self.emissions)

    @property
    def best_snr_db(self) -> float | None:
        values = [v for e in self.emissions for v in e.snr_db.values()]
        return max(values) if values else None

    @property
    def has_track(self) -> bool:
        return any(e.track for e in self.emissions)


def intruders_of(truth: Truth) -> list[Intruder]:
    """Group emissions into intruders (module docstring, "Intruders"), in truth order."""
    roots: list[str] = []
    for e in truth.emissions:
        if e.kind in THREAT_KINDS and e.emitter_id not in roots:
            roots.append(e.emitter_id)
    members: dict[str, list[TruthEmission]] = {r: [] for r in roots}
    for e in truth.emissions:
        owner = root_of(e.emitter_id, roots)
        if owner is not None:
            members[owner].append(e)
    out: list[Intruder] = []
    for r in roots:
        if root_of(r, roots) != r:  # itself a pilot radio of a shorter root
            continue
        own_kinds = {e.kind for e in members[r] if e.emitter_id == r}
        kind = "drone" if "drone" in own_kinds else "handset"
        out.append(Intruder(r, kind, tuple(members[r])))
    return out


def root_of(emitter_id: str, roots: Sequence[str]) -> str | None:
    owners = [r for r in roots if emitter_id == r or emitter_id.startswith(r + "-")]
    return min(owners, key=len) if owners else None


# ---------------------------------------------------------------- result models


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PdCount(_Out):
    intruders: int
    detected: int
    pd: float | None


class SnrBin(_Out):
    label: str
    lo_db: float | None  # None: open end
    hi_db: float | None
    intruders: int
    detected: int
    pd: float | None


class IntruderResult(_Out):
    intruder_id: str
    kind: str
    signatures: list[str]
    emitter_ids: list[str]
    onset_s: float
    end_s: float
    best_snr_db: float | None
    snr_bin: str
    detected: bool
    alert_ids: list[str]
    latency_s: float | None
    location_errors_m: list[float]


class AlertResult(_Out):
    alert_id: str
    kind: str
    first_seen_s: float
    last_seen_s: float
    status: AlertStatus
    intruder_id: str | None
    truth: str  # confusion row this alert was counted under ("" when not in the matrix)
    x_m: float | None
    y_m: float | None
    radius_m: float | None
    location_error_m: float | None


class EvaluationResult(_Out):
    site: str
    seed: int
    duration_s: float
    tolerance_before_s: float
    tolerance_after_s: float
    intruders: int
    detected: int
    pd: float | None
    pd_by_kind: dict[str, float | None]
    pd_by_signature: dict[str, float | None]
    counts_by_kind: dict[str, PdCount]
    counts_by_signature: dict[str, PdCount]
    pd_by_snr_bin: list[SnrBin]
    alerts_total: int
    alerts_matched: int
    alerts_duplicate: int
    alerts_out_of_scope: int
    sensor_offline_alerts: int
    suppressed_alerts: int
    outages: int
    outages_detected: int
    outages_resolved: int
    offline_latencies_s: list[float]
    false_offline_alerts: int
    false_alerts: int
    hours: float
    sensors: int
    false_alerts_per_hour: float
    false_alerts_per_sensor_hour: float | None
    latencies_s: list[float]
    latency_s_p50: float | None
    latency_s_p90: float | None
    location_errors_m: list[float]
    location_error_m_median: float | None
    location_within_radius: float | None
    alerts_per_intruder: float | None
    confusion: dict[str, dict[str, int]]
    per_intruder: list[IntruderResult]
    per_alert: list[AlertResult]


# ---------------------------------------------------------------- geometry and time


def scenario_seconds(when: datetime, start_time_ns: int) -> float:
    """Seconds of `when` after the scenario start (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    start = _EPOCH + timedelta(microseconds=start_time_ns // 1000)
    return (when - start).total_seconds() - (start_time_ns % 1000) / 1e9


def track_xy(emission: TruthEmission, t_s: float) -> tuple[float, float] | None:
    """Position (x, y) of an emission's track at t_s, linear between points, held at ends."""
    if not emission.track:
        return None
    arr = np.asarray(emission.track, dtype=np.float64)
    return float(np.interp(t_s, arr[:, 0], arr[:, 1])), float(np.interp(t_s, arr[:, 0], arr[:, 2]))


def distance_to_intruder_m(intruder: Intruder, x_m: float, y_m: float, t_s: float) -> float | None:
    points = [p for e in intruder.emissions if (p := track_xy(e, t_s)) is not None]
    if not points:
        return None
    return min(math.hypot(px - x_m, py - y_m) for px, py in points)


def _merged(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _overlap(lo: float, hi: float, window: Sequence[tuple[float, float]]) -> tuple[bool, float]:
    """(closed intervals intersect, seconds of overlap)."""
    hit = any(max(lo, a) <= min(hi, b) for a, b in window)
    return hit, sum(max(0.0, min(hi, b) - max(lo, a)) for a, b in window)


def _window(emissions: Iterable[TruthEmission], s: MatchSettings) -> list[tuple[float, float]]:
    return _merged(
        (e.start_s - s.tolerance_before_s, e.end_s + s.tolerance_after_s) for e in emissions
    )


def snr_bin_label(snr_db: float | None) -> str:
    if snr_db is None:
        return "unknown"
    edges = SNR_BIN_EDGES_DB
    if snr_db < edges[0]:
        return f"<{edges[0]:g}"
    if snr_db >= edges[-1]:
        return f">={edges[-1]:g}"
    i = int(np.searchsorted(edges, snr_db, side="right")) - 1
    return f"[{edges[i]:g},{edges[i + 1]:g})"


def _snr_bins() -> list[tuple[str, float | None, float | None]]:
    e = SNR_BIN_EDGES_DB
    bins: list[tuple[str, float | None, float | None]] = [(f"<{e[0]:g}", None, e[0])]
    bins += [(f"[{a:g},{b:g})", a, b) for a, b in itertools.pairwise(e)]
    bins.append((f">={e[-1]:g}", e[-1], None))
    return bins


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else None


# ---------------------------------------------------------------- matching


@dataclass(frozen=True)
class _Timed:
    alert: Alert
    lo: float
    hi: float


def _candidates(
    a: _Timed, intruders: Sequence[Intruder], windows: Sequence[list[tuple[float, float]]]
) -> dict[int, float]:
    """Candidate intruder index -> overlap seconds (module docstring, "Candidates")."""
    found: dict[int, float] = {}
    for j, intruder in enumerate(intruders):
        hit, seconds = _overlap(a.lo, a.hi, windows[j])
        if hit and intruder.kind == a.alert.kind:
            found[j] = seconds
    loc = a.alert.location
    if loc is None:
        return found
    dist = {
        j: d
        for j in found
        if (d := distance_to_intruder_m(intruders[j], loc.x_m, loc.y_m, a.hi)) is not None
    }
    if dist:
        nearest = min(dist, key=lambda j: (dist[j], j))
        inside = {j for j, d in dist.items() if d <= loc.radius_m} or {nearest}
        found = {j: v for j, v in found.items() if j in inside or j not in dist}
    return found


def _assign(cands: Sequence[dict[int, float]], n_intruders: int) -> tuple[dict[int, int], set[int]]:
    """(alert index -> intruder index, primary alert indices): one-to-one, then duplicates."""
    out: dict[int, int] = {}
    if n_intruders and any(cands):
        weight: NDArray[np.float64] = np.zeros((len(cands), n_intruders))
        top = max(v for c in cands for v in c.values())
        # each match outweighs any sum of overlap terms: cardinality first, overlap second
        cardinality = float(min(len(cands), n_intruders) + 1)
        for i, c in enumerate(cands):
            for j, seconds in c.items():
                weight[i, j] = cardinality + seconds / (top + 1.0)
        rows, cols = linear_sum_assignment(weight, maximize=True)
        out = {int(i): int(j) for i, j in zip(rows, cols, strict=True) if weight[i, j] > 0}
    primary = set(out)
    for i, c in enumerate(cands):
        if i not in out and c:
            out[i] = min(c, key=lambda j: (-c[j], j))  # location already filtered them
    return out, primary


def _attribute(
    a: _Timed,
    intruders: Sequence[Intruder],
    windows: Sequence[list[tuple[float, float]]],
    confusers: Sequence[TruthEmission],
    s: MatchSettings,
) -> str:
    best: tuple[float, str] | None = None
    for j, intruder in enumerate(intruders):
        hit, seconds = _overlap(a.lo, a.hi, windows[j])
        if hit and (best is None or seconds > best[0]):
            best = (seconds, intruder.kind)
    if best is not None:
        return best[1]
    return "other" if any(_overlap(a.lo, a.hi, _window([e], s))[0] for e in confusers) else "none"


# ---------------------------------------------------------------- evaluation


def evaluate(
    truth: Truth, alerts: Sequence[Alert], settings: MatchSettings | None = None
) -> EvaluationResult:
    """Score `alerts` against `truth`; see the module docstring for every definition."""
    s = settings or MatchSettings()
    intruders = intruders_of(truth)
    members = {e.emitter_id for i in intruders for e in i.emissions}
    confusers = [e for e in truth.emissions if e.emitter_id not in members]
    windows = [_window(i.emissions, s) for i in intruders]

    timed = [
        _Timed(
            a,
            scenario_seconds(a.first_seen, truth.start_time_ns),
            scenario_seconds(a.last_seen, truth.start_time_ns),
        )
        for a in alerts
    ]
    scope = [(-s.tolerance_before_s, truth.duration_s + s.tolerance_after_s)]
    in_scope = {k for k, t in enumerate(timed) if _overlap(t.lo, t.hi, scope)[0]}
    threat_idx = [
        k
        for k in sorted(in_scope)
        if timed[k].alert.kind in THREAT_KINDS and not _suppressed(timed[k].alert)
    ]
    threats = [timed[k] for k in threat_idx]
    assigned, primary = _assign(
        [_candidates(t, intruders, windows) for t in threats], len(intruders)
    )

    confusion = {row: dict.fromkeys(ALERT_COLUMNS, 0) for row in TRUTH_ROWS}
    rows: dict[int, AlertResult] = {}  # by index into timed
    loc_err: dict[int, float] = {}  # by index into threats
    within: list[bool] = []
    for i, t in enumerate(threats):
        loc = t.alert.location
        err: float | None = None
        intruder_id: str | None = None
        status: AlertStatus = "false"
        if i in assigned:
            intruder = intruders[assigned[i]]
            intruder_id, row = intruder.intruder_id, intruder.kind
            status = "matched" if i in primary else "duplicate"
            if loc is not None:
                err = distance_to_intruder_m(intruder, loc.x_m, loc.y_m, t.hi)
                if err is not None:
                    loc_err[i] = err
                    within.append(err <= loc.radius_m)
        else:
            row = _attribute(t, intruders, windows, confusers, s)
        confusion[row][t.alert.kind] += 1
        rows[threat_idx[i]] = _alert_row(t, status, intruder_id, row, err)

    per_intruder: list[IntruderResult] = []
    for j, intruder in enumerate(intruders):
        idx = sorted(i for i, jj in assigned.items() if jj == j)
        detected = bool(idx)
        if not detected:
            confusion[intruder.kind]["none"] += 1
        latency = min(threats[i].lo for i in idx) - intruder.onset_s if detected else None
        per_intruder.append(
            IntruderResult(
                intruder_id=intruder.intruder_id,
                kind=intruder.kind,
                signatures=intruder.signatures,
                emitter_ids=intruder.emitter_ids,
                onset_s=intruder.onset_s,
                end_s=intruder.end_s,
                best_snr_db=intruder.best_snr_db,
                snr_bin=snr_bin_label(intruder.best_snr_db),
                detected=detected,
                alert_ids=[threats[i].alert.id for i in idx],
                latency_s=latency,
                location_errors_m=[loc_err[i] for i in idx if i in loc_err],
            )
        )

    for k, t in enumerate(timed):
        if k not in rows:
            other: AlertStatus = "out_of_scope"
            if k in in_scope:
                other = "suppressed" if _suppressed(t.alert) else "sensor_offline"
            rows[k] = _alert_row(t, other, None, "", None)
    offline = [timed[k] for k in sorted(in_scope) if timed[k].alert.kind == "sensor_offline"]
    outage_hits = _outages(truth, offline, s)

    hours = truth.duration_s / 3600.0
    n_false = len(threats) - len(assigned)
    n_detected = sum(r.detected for r in per_intruder)
    latencies = [r.latency_s for r in per_intruder if r.latency_s is not None]
    errors = [loc_err[i] for i in sorted(loc_err)]
    by_kind = _pd_counts(per_intruder, lambda r: [r.kind])
    by_sig = _pd_counts(per_intruder, lambda r: r.signatures)
    return EvaluationResult(
        site=truth.site,
        seed=truth.seed,
        duration_s=truth.duration_s,
        tolerance_before_s=s.tolerance_before_s,
        tolerance_after_s=s.tolerance_after_s,
        intruders=len(intruders),
        detected=n_detected,
        pd=_ratio(n_detected, len(intruders)),
        pd_by_kind={k: c.pd for k, c in by_kind.items()},
        pd_by_signature={k: c.pd for k, c in by_sig.items()},
        counts_by_kind=by_kind,
        counts_by_signature=by_sig,
        pd_by_snr_bin=_snr_table(per_intruder),
        alerts_total=len(alerts),
        alerts_matched=len(assigned),
        alerts_duplicate=len(assigned) - len(primary),
        alerts_out_of_scope=len(timed) - len(in_scope),
        sensor_offline_alerts=sum(r.status == "sensor_offline" for r in rows.values()),
        suppressed_alerts=sum(r.status == "suppressed" for r in rows.values()),
        outages=len(truth.outages),
        outages_detected=sum(h is not None for h in outage_hits),
        outages_resolved=sum(h is not None and h[1] for h in outage_hits),
        offline_latencies_s=[h[0] for h in outage_hits if h is not None],
        false_offline_alerts=len(offline) - sum(h is not None for h in outage_hits),
        false_alerts=n_false,
        hours=hours,
        sensors=len(truth.sensors),
        false_alerts_per_hour=n_false / hours,
        false_alerts_per_sensor_hour=_ratio(n_false, hours * len(truth.sensors)),
        latencies_s=latencies,
        latency_s_p50=_percentile(latencies, 50),
        latency_s_p90=_percentile(latencies, 90),
        location_errors_m=errors,
        location_error_m_median=float(np.median(errors)) if errors else None,
        location_within_radius=_ratio(sum(within), len(within)),
        alerts_per_intruder=_ratio(len(assigned), n_detected),
        confusion=confusion,
        per_intruder=per_intruder,
        per_alert=[rows[k] for k in range(len(timed))],
    )


def _suppressed(alert: Alert) -> bool:
    """Kept from paging by a site rule: suppressed now, or resolved while suppressed."""
    return alert.state == "suppressed" or (
        alert.state == "resolved" and alert.suppressed_by is not None
    )


def _outages(
    truth: Truth, offline: Sequence[_Timed], s: MatchSettings
) -> list[tuple[float, bool] | None]:
    """Per truth outage: (latency s, resolved after the sensor's return) of the earliest
    `sensor_offline` alert for its sensor raised within the outage (first_seen is when the
    hub raised it), or None. Each alert serves one outage."""
    used: set[str] = set()
    out: list[tuple[float, bool] | None] = []
    for o in sorted(truth.outages, key=lambda o: o.start_s):
        hits = [
            t
            for t in offline
            if t.alert.sensors == [o.sensor_id]
            and t.alert.id not in used
            and o.start_s - s.tolerance_before_s <= t.lo <= o.end_s
        ]
        if not hits:
            out.append(None)
            continue
        first = min(hits, key=lambda t: t.lo)
        used.add(first.alert.id)
        resolved = first.alert.state == "resolved" and first.hi >= o.end_s - 1.0
        out.append((first.lo - o.start_s, resolved))
    return out


def _alert_row(
    t: _Timed,
    status: AlertStatus,
    intruder_id: str | None,
    row: str,
    err: float | None,
) -> AlertResult:
    loc = t.alert.location
    return AlertResult(
        alert_id=t.alert.id,
        kind=t.alert.kind,
        first_seen_s=t.lo,
        last_seen_s=t.hi,
        status=status,
        intruder_id=intruder_id,
        truth=row,
        x_m=loc.x_m if loc else None,
        y_m=loc.y_m if loc else None,
        radius_m=loc.radius_m if loc else None,
        location_error_m=err,
    )


def _pd_counts(
    rows: Sequence[IntruderResult], keys: Callable[[IntruderResult], list[str]]
) -> dict[str, PdCount]:
    n: dict[str, int] = {}
    d: dict[str, int] = {}
    for r in rows:
        for k in keys(r):
            n[k] = n.get(k, 0) + 1
            d[k] = d.get(k, 0) + int(r.detected)
    return {k: PdCount(intruders=n[k], detected=d[k], pd=_ratio(d[k], n[k])) for k in sorted(n)}


def _snr_table(rows: Sequence[IntruderResult]) -> list[SnrBin]:
    bins = _snr_bins()
    if any(r.best_snr_db is None for r in rows):
        bins.append(("unknown", None, None))
    out: list[SnrBin] = []
    for label, lo, hi in bins:
        members = [r for r in rows if r.snr_bin == label]
        hits = sum(r.detected for r in members)
        out.append(
            SnrBin(
                label=label,
                lo_db=lo,
                hi_db=hi,
                intruders=len(members),
                detected=hits,
                pd=_ratio(hits, len(members)),
            )
        )
    return out
