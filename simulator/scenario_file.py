"""Scenario files (YAML): a site, sensors, emitters with schedules and trajectories.

    load_scenario(path, *, seed=None) -> Scenario

The file is checked in two passes, and every problem is reported at once as a
`ScenarioFileError` (a `ConfigError`) whose lines name the failing path,
e.g. ``emitters[2].trajectory.waypoints[1].t_s: ...``:

1. shape: the pydantic models below (`extra="forbid"`: unknown keys are errors);
2. meaning: references (zones, emitter types, companions), tuning plans, schedules,
   waypoint times, and each type's `params` against its model in `simulator.registry`.

Shape, in brief (all lengths in metres, times in seconds; see `ScenarioFile`)::

    description: text
    seed: 1
    duration_s: 90
    site:
      name: demo                    # [A-Za-z0-9_-]{1,64}, the MQTT site segment
      zones: {yard: [[-400, 0], [400, 0], [400, 60], [-400, 60]]}
      walls: [{segment: [[-400, 0], [400, 0]], attenuation_db: 20, height_m: 6}]
      path_loss_exponent: 2.0
      weather: {absorption: 15C_70RH, wind_m_s: 3}
    sensors:
      - {id: rf-wall-n, modality: rf, position: [0, 5, 4], zone: yard,
         rf: {center_freq_hz: 2437e6, sample_rate_hz: 25e6, snapshot_s: 0.02, period_s: 0.2}}
      - {id: mic-wall-n, modality: acoustic, position: [10, 5, 2], zone: yard,
         acoustic: {ambience_dba: 45}}
    emitters:
      - id: drone-1
        type: elrs_2g4                # a name registered in simulator.registry
        schedule: {start_s: 0, end_s: 90}          # or {on_s: [0, 40], off_s: [20, 90]}
        trajectory: {waypoints: [{position: [20, -250, 50], t_s: 0},
                                 {position: [20, 30, 50], speed_m_s: 8, hold_s: 20}]}
        companions: {pilot: {id: drone-1-rc, position: [-60, -320, 1.5]}}
        params: {crystal_ppm: 3.1}
      - {id: drone-1, type: rotor_harmonics, params: {payload_kg: 0.5, drop_s: 45}}

Entries sharing an `id` are one physical object (a drone's RC link and its rotors): the
trajectory is given on exactly one of them. Ground truth: one interval per schedule
segment per entry (and per companion), with the emitter's kind and signature.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, cast, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from sensor_hub.errors import ConfigError
from simulator.acoustic_emitters import AcousticSource, Ambience, Medium
from simulator.audio_collector import AudioCollector
from simulator.collectors import Collector, RfCollector, RfEmitter, SensorSpec
from simulator.propagation import ABSORPTION_DB_PER_KM, Wall, distance_m
from simulator.registry import (
    EmitterContext,
    EmitterType,
    Intervals,
    Weather,
    gate,
    lookup,
    why_unregistered,
)
from simulator.registry import registered as registered_types
from simulator.scenario import Scenario, TruthInterval
from simulator.trajectory import Track, Waypoint

Loc = tuple[str | int, ...]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Point2 = tuple[float, float]
Point3 = tuple[float, float, float]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
AbsorptionCondition = Literal["10C_70RH", "15C_70RH", "20C_30RH", "30C_50RH"]
assert set(get_args(AbsorptionCondition)) == set(ABSORPTION_DB_PER_KM), "keep them in step"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- site


class WallSpec(_Model):
    segment: tuple[Point2, Point2]
    attenuation_db: Annotated[float, Field(ge=0)]
    height_m: PositiveFloat | None = None  # None: taller than any path (a building face)


class WeatherSpec(_Model):
    absorption: AbsorptionCondition = "15C_70RH"  # ISO 9613-1 temperature / humidity
    wind_m_s: Annotated[float, Field(ge=0)] = 3.0


class IntervalSpec(_Model):
    """[start_s, end_s) in scenario seconds."""

    start_s: Annotated[float, Field(ge=0)]
    end_s: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self) -> IntervalSpec:
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


class AllowSpec(_Model):
    """A site allow rule (`sensor_hub.site.AllowRule`) whose windows are scenario seconds."""

    name: Id
    signatures: list[str] = []
    band_hz: tuple[float, float] | None = None
    zones: list[str] = []
    sensors: list[str] = []
    windows: list[IntervalSpec] = []
    note: str = ""


class SiteSpec(_Model):
    name: Id
    zones: dict[Id, Annotated[list[Point2], Field(min_length=3)]]
    #: cells (rooms) as polygons: the hub places handsets in the smallest one holding them
    cells: dict[Id, Annotated[list[Point2], Field(min_length=3)]] = {}
    #: the site's own emitters: detections matching a rule are suppressed, not alerted
    allow: list[AllowSpec] = []
    walls: list[WallSpec] = []
    path_loss_exponent: Annotated[float, Field(ge=1.5, le=6.0)] = 2.0
    weather: WeatherSpec = WeatherSpec()
    #: acoustic ground image source (0 = free field; grass 0.6 … concrete 0.95)
    ground_reflection: Annotated[float, Field(ge=0, le=1)] = 0.0


# ---------------------------------------------------------------- sensors


class DwellSpec(_Model):
    center_freq_hz: PositiveFloat
    dwell_s: PositiveFloat


class RfSettings(_Model):
    """Exactly one of `center_freq_hz` (fixed tuning) and `sweep` (dwells, repeated)."""

    center_freq_hz: PositiveFloat | None = None
    sweep: Annotated[list[DwellSpec], Field(min_length=1)] | None = None
    sample_rate_hz: PositiveFloat
    snapshot_s: PositiveFloat
    period_s: PositiveFloat
    start_offset_s: Annotated[float, Field(ge=0)] = 0.0
    noise_figure_db: Annotated[float, Field(ge=0, le=30)] = 6.0
    full_scale_dbm: float = -30.0
    datatype: Literal["ci16_le", "ci8", "cf32_le"] = "ci16_le"
    frequency_offset_ppm: Annotated[float, Field(ge=-100, le=100)] = 0.0  # LO error
    fading: Literal["none", "rayleigh", "rician"] = "none"
    rician_k_db: float = 6.0


class AcousticSettings(_Model):
    sample_rate_hz: PositiveFloat = 16_000.0
    frame_s: PositiveFloat = 1.0
    full_scale_db_spl: float = 120.0
    datatype: Literal["ri16_le", "rf32_le"] = "ri16_le"
    mic_offsets_m: Annotated[list[Point3], Field(min_length=1)] = [(0.0, 0.0, 0.0)]
    ambience_dba: float = 45.0
    self_noise_dba: float = 20.0


class SensorEntry(_Model):
    id: Id
    modality: Literal["rf", "acoustic"]
    position: Point3
    zone: str
    rf: RfSettings | None = None
    acoustic: AcousticSettings | None = None
    #: the sensor is cut (no frames, no heartbeats) in these intervals
    outages: list[IntervalSpec] = []


# ---------------------------------------------------------------- emitters


class ScheduleSpec(_Model):
    """On air from `start_s` to `end_s` (default: the whole scenario), or in the intervals
    [on_s[i], off_s[i])."""

    start_s: Annotated[float, Field(ge=0)] = 0.0
    end_s: PositiveFloat | None = None
    on_s: list[Annotated[float, Field(ge=0)]] | None = None
    off_s: list[Annotated[float, Field(ge=0)]] | None = None


class WaypointSpec(_Model):
    """Reached at `t_s`, or after the leg from the previous waypoint at `speed_m_s`; the
    emitter then stays `hold_s` there."""

    position: Point3
    t_s: Annotated[float, Field(ge=0)] | None = None
    speed_m_s: PositiveFloat | None = None
    hold_s: Annotated[float, Field(ge=0)] = 0.0


class TrajectorySpec(_Model):
    """Exactly one of `position` (fixed) and `waypoints` (piecewise linear, held at the ends)."""

    position: Point3 | None = None
    waypoints: Annotated[list[WaypointSpec], Field(min_length=1)] | None = None


class CompanionSpec(TrajectorySpec):
    """The other end of an emitter's link (e.g. the pilot's radio); emits the same signature."""

    id: Id | None = None  # default "<emitter id>-<role>"


class EmitterEntry(_Model):
    id: Id
    type: str
    kind: Literal["drone", "handset", "other"] | None = None  # default: the type's
    schedule: ScheduleSpec = ScheduleSpec()
    trajectory: TrajectorySpec | None = None
    companions: dict[str, CompanionSpec] = {}
    params: dict[str, Any] = {}


class ScenarioFile(_Model):
    description: str = ""
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 1
    duration_s: PositiveFloat
    status_interval_s: PositiveFloat = 10.0
    site: SiteSpec
    sensors: Annotated[list[SensorEntry], Field(min_length=1)]
    emitters: list[EmitterEntry] = []


# ---------------------------------------------------------------- errors


class ScenarioFileError(ConfigError):
    """A scenario file is invalid; `problems` lists (path, message), e.g.
    ("emitters[2].trajectory.waypoints[1].t_s", "must be later than ...")."""

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        n = len(self.problems)
        lines = [f"{source}: invalid scenario ({n} problem{'s' if n != 1 else ''})"]
        lines += [f"  {path}: {msg}" if path else f"  {msg}" for path, msg in self.problems]
        super().__init__("\n".join(lines))


def format_loc(loc: Loc) -> str:
    """('emitters', 2, 'trajectory', 'waypoints', 1, 't_s') -> 'emitters[2].trajectory...t_s'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_problems(err: ValidationError, prefix: Loc = ()) -> list[tuple[str, str]]:
    problems = []
    for e in err.errors(include_url=False):
        loc = prefix + tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        else:
            msg = e["msg"]
            value = e.get("input")
            if isinstance(value, str | int | float | bool) or value is None:
                msg += f" (got {value!r})"
        problems.append((format_loc(loc), msg))
    return problems


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, loc: Loc, msg: str) -> None:
        self.items.append((format_loc(loc), msg))


# ---------------------------------------------------------------- reading


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML that also reads 2437e6 as a float (YAML 1.1 wants 2437.0e+6)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_scenario(data: object, *, source: str = "<scenario>") -> ScenarioFile:
    """Check the shape of already-parsed YAML (a mapping)."""
    try:
        return ScenarioFile.model_validate(data)
    except ValidationError as err:
        raise ScenarioFileError(source, _pydantic_problems(err)) from None


def read_scenario_file(path: str | Path) -> ScenarioFile:
    p = Path(path)
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_YamlLoader)  # a SafeLoader
    except OSError as err:
        raise ConfigError(f"{p}: cannot read scenario: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ScenarioFileError(str(p), [("", f"not valid YAML: {err}")]) from None
    return parse_scenario(data, source=str(p))


def load_scenario(path: str | Path, *, seed: int | None = None) -> Scenario:
    """Read, check and build a scenario file; `seed` overrides the file's seed."""
    return build_scenario(read_scenario_file(path), seed=seed, source=str(path))


# ---------------------------------------------------------------- building


def build_scenario(
    spec: ScenarioFile, *, seed: int | None = None, source: str = "<scenario>"
) -> Scenario:
    """Check what the models cannot (references, times, params) and build the Scenario."""
    problems = _Problems()
    run_seed = spec.seed if seed is None else seed
    walls = tuple(
        Wall(w.segment[0], w.segment[1], w.attenuation_db, w.height_m) for w in spec.site.walls
    )
    collectors = _collectors(spec, walls, run_seed, problems)
    tracks = _tracks(spec, problems)
    weather = Weather(spec.site.weather.absorption, spec.site.weather.wind_m_s)

    rf: list[RfEmitter] = []
    acoustic: list[AcousticSource] = []
    truth: list[TruthInterval] = []
    all_tracks: dict[str, Track] = {}
    seen: set[tuple[str, str]] = set()
    for i, em in enumerate(spec.emitters):
        at: Loc = ("emitters", i)
        if (em.id, em.type) in seen:
            problems.add((*at, "id"), f"{em.id!r} already has an entry of type {em.type!r}")
        seen.add((em.id, em.type))
        entry = lookup(em.type)
        if entry is None:
            why = why_unregistered(em.type)
            hint = (
                f"not available: {why}" if why else f"registered: {', '.join(registered_types())}"
            )
            problems.add((*at, "type"), f"unknown emitter type {em.type!r} ({hint})")
        intervals = _intervals(em.schedule, spec.duration_s, (*at, "schedule"), problems)
        companions = _companions(em, entry, at, problems)
        track = tracks.get(em.id)
        if entry is None or intervals is None or companions is None or track is None:
            continue
        ctx = EmitterContext(
            emitter_id=em.id,
            track=track,
            seed=run_seed,
            duration_s=spec.duration_s,
            intervals=intervals,
            kind=em.kind,
            companions={role: t for role, (_cid, t) in companions.items()},
            weather=weather,
        )
        built = _build(entry, ctx, em.params, at, problems)
        if built is None:
            continue
        if entry.modality == "rf":
            rf.append(cast(RfEmitter, built))
        else:
            acoustic.append(cast(AcousticSource, built))
        kind = em.kind or str(getattr(built, "kind", entry.kind))
        signature = str(getattr(built, "signature", entry.signature))
        for role, (cid, _t) in companions.items():
            if cid in tracks:
                problems.add((*at, "companions", role, "id"), f"{cid!r} is an emitter's id")
        ends: list[tuple[str | None, str, Track]] = [(None, em.id, track)]
        ends += [(r, cid, ct) for r, (cid, ct) in companions.items()]
        for end_role, oid, t in ends:
            all_tracks.setdefault(oid, t)
            source = entry.source_id(em.id, end_role)  # as the emitter's bursts and budgets
            source = "" if source == oid else source  # "": the emitter id itself
            truth += [
                TruthInterval(
                    oid, kind, signature, a, b, t.point(a), moving=_moves(t), source_id=source
                )
                for a, b in intervals
            ]
    if problems.items:
        raise ScenarioFileError(source, problems.items)
    return Scenario(
        site=spec.site.name,
        duration_s=spec.duration_s,
        seed=run_seed,
        zones={name: list(poly) for name, poly in spec.site.zones.items()},
        cells={name: list(poly) for name, poly in spec.site.cells.items()},
        allow=[rule.model_dump() for rule in spec.site.allow],
        outages={
            s.id: [(o.start_s, o.end_s) for o in s.outages] for s in spec.sensors if s.outages
        },
        path_loss_exponent=spec.site.path_loss_exponent,
        collectors=collectors,
        rf_emitters=rf,
        acoustic_sources=acoustic,
        tracks=all_tracks,
        truth_intervals=truth,
        status_interval_s=spec.status_interval_s,
        description=spec.description,
    )


def _build(
    entry: EmitterType, ctx: EmitterContext, params: Mapping[str, Any], at: Loc, p: _Problems
) -> object | None:
    try:
        obj = entry.build(ctx, params)
    except ValidationError as err:
        p.items += _pydantic_problems(err, (*at, "params"))
        return None
    except (TypeError, ValueError) as err:
        p.add(at, f"cannot build {entry.name!r}: {err}")
        return None
    return gate(entry, obj, ctx)


def _collectors(
    spec: ScenarioFile, walls: tuple[Wall, ...], seed: int, p: _Problems
) -> list[Collector]:
    out: list[Collector] = []
    ids: set[str] = set()
    for i, s in enumerate(spec.sensors):
        at: Loc = ("sensors", i)
        if s.id in ids:
            p.add((*at, "id"), f"duplicate sensor id {s.id!r}")
        ids.add(s.id)
        if s.zone not in spec.site.zones:
            zones = ", ".join(spec.site.zones)
            p.add((*at, "zone"), f"unknown zone {s.zone!r} (site zones: {zones})")
        own, other = ("rf", "acoustic") if s.modality == "rf" else ("acoustic", "rf")
        if getattr(s, other) is not None:
            p.add((*at, other), f"settings for {other} on a {s.modality} sensor")
        if s.rf is not None and s.modality == "rf":
            c = _rf_collector(s, s.rf, spec, walls, seed, (*at, "rf"), p)
            if c is not None:
                out.append(c)
        elif s.acoustic is not None and s.modality == "acoustic":
            a = _audio_collector(s, s.acoustic, spec.site, (*at, "acoustic"), p)
            if a is not None:
                out.append(a)
        else:
            p.add((*at, own), f"a {s.modality} sensor needs its {own!r} settings")
    return out


def _rf_collector(
    s: SensorEntry,
    rf: RfSettings,
    spec: ScenarioFile,
    walls: tuple[Wall, ...],
    seed: int,
    at: Loc,
    p: _Problems,
) -> RfCollector | None:
    ok = True
    if (rf.center_freq_hz is None) == (rf.sweep is None):
        p.add(at, "give exactly one of center_freq_hz (fixed tuning) and sweep")
        ok = False
    if rf.period_s < rf.snapshot_s:
        p.add((*at, "period_s"), f"shorter than snapshot_s ({rf.snapshot_s} s)")
        ok = False
    if round(rf.snapshot_s * rf.sample_rate_hz) < 1:
        p.add((*at, "snapshot_s"), "shorter than one sample")
        ok = False
    if not ok:
        return None
    sweep = tuple((d.center_freq_hz, d.dwell_s) for d in rf.sweep or ())
    c = RfCollector(
        SensorSpec(s.id, "rf", "iq", s.position, s.zone),
        center_freq_hz=rf.center_freq_hz if rf.center_freq_hz is not None else sweep[0][0],
        sample_rate_hz=rf.sample_rate_hz,
        snapshot_s=rf.snapshot_s,
        period_s=rf.period_s,
        noise_figure_db=rf.noise_figure_db,
        full_scale_dbm=rf.full_scale_dbm,
        datatype=rf.datatype,
        path_loss_exponent=spec.site.path_loss_exponent,
        start_offset_s=rf.start_offset_s,
        sweep=sweep,
        walls=walls,
        fading=rf.fading,
        rician_k_db=rf.rician_k_db,
        fading_seed=seed,
        frequency_offset_ppm=rf.frequency_offset_ppm,
    )
    if c.frames_per_pass(spec.duration_s) == 0:
        p.add((*at, "snapshot_s"), "no snapshot fits in the scenario's duration")
        return None
    return dataclasses.replace(c, frames_per_loop=c.frames_per_pass(spec.duration_s))


def _audio_collector(
    s: SensorEntry, a: AcousticSettings, site: SiteSpec, at: Loc, p: _Problems
) -> AudioCollector | None:
    try:
        medium = Medium(site.weather.absorption, ground_reflection=site.ground_reflection)
        return AudioCollector(
            SensorSpec(s.id, "acoustic", "audio", s.position, s.zone),
            sample_rate_hz=a.sample_rate_hz,
            frame_s=a.frame_s,
            full_scale_db_spl=a.full_scale_db_spl,
            datatype=a.datatype,
            ambience=Ambience(level_dba=a.ambience_dba, self_noise_dba=a.self_noise_dba),
            mic_offsets_m=tuple(a.mic_offsets_m),
            medium=medium,
        )
    except ValueError as err:
        p.add(at, str(err))
        return None


def _tracks(spec: ScenarioFile, p: _Problems) -> dict[str, Track]:
    """One track per emitter id, from the one entry of that id that gives a trajectory.

    Ids whose types all have no position (wind, a road of traffic) may omit it: they sit
    at the site origin as far as the truth is concerned.
    """
    given: dict[str, list[int]] = {}
    for i, em in enumerate(spec.emitters):
        given.setdefault(em.id, [])
        if em.trajectory is not None:
            given[em.id].append(i)
    out: dict[str, Track] = {}
    for eid, idx in given.items():
        entries = [(i, em) for i, em in enumerate(spec.emitters) if em.id == eid]
        types = [lookup(em.type) for _, em in entries]
        if not idx and all(t is not None and not t.needs_track for t in types):
            out[eid] = Track.fixed((0.0, 0.0, 0.0))
            continue
        if len(idx) != 1:
            if any(t is None for t in types):
                continue  # the unknown type is the problem to report
            where = idx[1] if idx else entries[0][0]
            how = "more than one" if idx else "none"
            p.add(
                ("emitters", where, "trajectory"),
                f"emitter {eid!r} needs a trajectory on exactly one of its entries ({how} given)",
            )
            continue
        i = idx[0]
        traj = spec.emitters[i].trajectory
        assert traj is not None
        track = _track(traj, ("emitters", i, "trajectory"), p)
        if track is not None:
            out[eid] = track
    return out


def _track(traj: TrajectorySpec, at: Loc, p: _Problems) -> Track | None:
    if (traj.position is None) == (traj.waypoints is None):
        p.add(at, "give exactly one of position and waypoints")
        return None
    if traj.position is not None:
        return Track.fixed(traj.position)
    assert traj.waypoints is not None
    points: list[Waypoint] = []
    ok = True
    t_prev = -math.inf
    for j, w in enumerate(traj.waypoints):
        wat: Loc = (*at, "waypoints", j)
        if j == 0:
            if w.speed_m_s is not None:
                p.add((*wat, "speed_m_s"), "the first waypoint has no leg to it: give t_s")
                ok = False
            t = w.t_s if w.t_s is not None else 0.0
        elif (w.t_s is None) == (w.speed_m_s is None):
            p.add(wat, "give exactly one of t_s and speed_m_s")
            ok = False
            continue
        elif w.t_s is not None:
            t = w.t_s
            if t <= t_prev:
                p.add((*wat, "t_s"), f"must be later than the previous waypoint ({t_prev:g} s)")
                ok = False
                continue
        else:
            assert w.speed_m_s is not None
            prev = points[-1] if points else None
            if prev is None:
                continue
            leg = float(distance_m((prev.x_m, prev.y_m, prev.z_m), w.position))
            t = t_prev + max(leg / w.speed_m_s, 1e-3)
        points.append(Waypoint(t, *w.position))
        t_prev = t
        if w.hold_s > 0:
            t_prev = t + w.hold_s
            points.append(Waypoint(t_prev, *w.position))
    if not ok:
        return None
    return Track(points)


def _intervals(s: ScheduleSpec, duration_s: float, at: Loc, p: _Problems) -> Intervals | None:
    if s.on_s is not None or s.off_s is not None:
        if "start_s" in s.model_fields_set or "end_s" in s.model_fields_set:
            p.add(at, "give start_s/end_s or on_s/off_s, not both")
            return None
        on, off = s.on_s or [], s.off_s or []
        if len(on) != len(off):
            p.add((*at, "off_s"), f"{len(off)} off times for {len(on)} on times")
            return None
        pairs = list(zip(on, off, strict=True))
    else:
        pairs = [(s.start_s, duration_s if s.end_s is None else s.end_s)]
    ok = True
    for j, (a, b) in enumerate(pairs):
        if b <= a:
            where = ("off_s", j) if s.on_s is not None else ("end_s",)
            p.add((*at, *where), f"must be after the start ({a:g} s)")
            ok = False
    for j, ((_, b0), (a1, _)) in enumerate(itertools.pairwise(pairs), start=1):
        if a1 < b0:
            p.add((*at, "on_s", j), f"overlaps the previous interval (ends {b0:g} s)")
            ok = False
    if not ok:
        return None
    clipped = tuple((a, min(b, duration_s)) for a, b in pairs if a < duration_s)
    if not clipped:
        p.add(at, f"never on within the scenario's {duration_s:g} s")
        return None
    return clipped


def _companions(
    em: EmitterEntry, entry: EmitterType | None, at: Loc, p: _Problems
) -> dict[str, tuple[str, Track]] | None:
    out: dict[str, tuple[str, Track]] = {}
    ok = True
    if entry is not None:
        for role in em.companions:
            if role not in entry.companions:
                allowed = ", ".join(entry.companions) or "none"
                p.add((*at, "companions", role), f"{em.type!r} has no such role ({allowed})")
                ok = False
        missing = [r for r in entry.companions if r not in em.companions]
        if missing:
            p.add((*at, "companions"), f"{em.type!r} needs: {', '.join(missing)}")
            ok = False
    for role, c in em.companions.items():
        track = _track(c, (*at, "companions", role), p)
        if track is None:
            ok = False
            continue
        out[role] = (c.id or f"{em.id}-{role}", track)
    return out if ok else None


def _moves(track: Track) -> bool:
    first = track.waypoints[0]
    return any((w.x_m, w.y_m, w.z_m) != (first.x_m, first.y_m, first.z_m) for w in track.waypoints)
