"""Emitter types a scenario file can name: `type:` → a factory that builds the emitter.

A factory gets an `EmitterContext` (id, main track, companion tracks, seed, schedule,
kind, weather) and the entry's `params` validated by the type's pydantic model, and
returns an RF emitter (`bursts(t_from_s, t_to_s, loop_index)`, see `RfEmitter`) or an
acoustic source (`pressure_pa(...)`, `level_dba(...)`, see `AcousticSource`).

A class of the usual shape (constructor taking `emitter_id`, a `Track`, `seed`,
`start_s`/`end_s` and keyword parameters with defaults) is registered in one line:

    register_class("frsky_d16", FrskyD16)

Its remaining constructor parameters become the `params` a scenario may set, checked
(types, unknown keys) by a model generated from the signature. Other shapes say how to
bind: `track="drone", companions=("pilot",)`, `span=("call_start_s", "call_end_s")`,
or register an explicit factory with `register(...)`.

Schedules: a class taking a span gets the first start and last end of the schedule;
when the schedule has gaps, or the class takes no span and the schedule does not cover
the whole scenario, the loader wraps the emitter with `gate(...)` so it is silent off
schedule.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, create_model

from simulator.acoustic_emitters import FREE_FIELD, Medium, RotorSource
from simulator.link_budget import BudgetSource
from simulator.propagation import DB_FLOOR, SPEED_OF_SOUND_M_S, distance_m
from simulator.rf_emitters import Burst, ElrsLink, EmitterView, GsmHandset, WifiAccessPoint
from simulator.trajectory import Track, Vec3

Modality = Literal["rf", "acoustic"]
Intervals = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Weather:
    absorption_condition: str = "15C_70RH"  # a key of propagation.ABSORPTION_DB_PER_KM
    wind_m_s: float = 3.0


@dataclass(frozen=True)
class EmitterContext:
    """What the scenario fixes for one emitter entry; `params` come separately."""

    emitter_id: str
    track: Track
    seed: int  # the scenario seed; emitters salt it with their id
    duration_s: float
    intervals: Intervals  # on-air intervals within [0, duration_s], sorted, disjoint
    kind: str | None = None  # the scenario's override of the type's kind
    companions: Mapping[str, Track] = field(default_factory=dict)
    weather: Weather = field(default_factory=Weather)

    @property
    def start_s(self) -> float:
        return self.intervals[0][0] if self.intervals else 0.0

    @property
    def end_s(self) -> float:
        return self.intervals[-1][1] if self.intervals else 0.0


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class NoParams(_Params):
    pass


Factory = Callable[[EmitterContext, Any], object]


@dataclass(frozen=True)
class EmitterType:
    name: str
    modality: Modality
    kind: str
    signature: str
    params_model: type[BaseModel]
    factory: Factory
    companions: tuple[str, ...] = ()
    #: the built object follows the schedule's first start and last end by itself
    takes_span: bool = False
    #: False for sources without a position (wind on the microphone, a road of traffic)
    needs_track: bool = True
    #: the constructor parameter the main track binds to (e.g. "drone" for an RC link)
    track_role: str | None = None

    def source_id(self, emitter_id: str, role: str | None = None) -> str:
        """The budget/burst source id of an entry's main object (`role` None) or of its
        companion `role`: `<id>/<role>` for types with companions (an RC link's
        `drone-1/pilot`, `drone-1/drone`), else the emitter id."""
        if not self.companions:
            return emitter_id
        return f"{emitter_id}/{role or self.track_role}"

    def build(self, ctx: EmitterContext, params: Mapping[str, Any]) -> object:
        """Validate `params` (raises pydantic.ValidationError) and build the emitter."""
        return self.factory(ctx, self.params_model.model_validate(dict(params)))


_REGISTRY: dict[str, EmitterType] = {}
_UNAVAILABLE: dict[str, str] = {}


def register(
    name: str,
    factory: Factory,
    *,
    modality: Modality,
    kind: str,
    signature: str | None = None,
    params: type[BaseModel] = NoParams,
    companions: Sequence[str] = (),
    takes_span: bool = False,
    needs_track: bool = True,
    track_role: str | None = None,
    replace: bool = False,
) -> EmitterType:
    """Make `type: name` available to scenario files."""
    if name in _REGISTRY and not replace:
        raise ValueError(f"emitter type {name!r} is already registered")
    entry = EmitterType(
        name,
        modality,
        kind,
        signature or name,
        params,
        factory,
        tuple(companions),
        takes_span,
        needs_track,
        track_role,
    )
    _REGISTRY[name] = entry
    return entry


def lookup(name: str) -> EmitterType | None:
    return _REGISTRY.get(name)


def registered() -> list[str]:
    return sorted(_REGISTRY)


# ---------------------------------------------------------------- classes by signature

_CONTEXT_NAMES = {"emitter_id", "seed", "duration_s", "kind", "signature"}
#: optional params that default to the site's weather when a scenario does not set them
_WEATHER_PARAMS = {"wind_speed_m_s": "wind_m_s", "wind_m_s": "wind_m_s"}


def _stable_seed(seed: int, emitter_id: str) -> int:
    return (seed * 0x9E3779B1 + zlib.crc32(emitter_id.encode())) % (2**31 - 1)


def register_class(
    name: str,
    cls: type[Any],
    *,
    modality: Modality | None = None,
    track: str | None = None,
    companions: Sequence[str] = (),
    span: tuple[str, str] | None = None,
    salt_seed: bool = False,
    replace: bool = False,
) -> EmitterType:
    """Register a class whose constructor the loader fills from the context and `params`.

    Bound from the context: `emitter_id`, `seed` (mixed with the id when `salt_seed`, for
    classes that do not salt it themselves), `duration_s`, `kind` (if the scenario sets
    one), the main `track` parameter (default: the one parameter annotated `Track` that is
    not a companion; none for sources without a position, such as wind on the
    microphone), one `Track` parameter per companion role, and the schedule's span
    (default `start_s`/`end_s` if the constructor has them). Every other parameter is a
    param, typed by its annotation; `wind_speed_m_s` defaults to the site's wind.
    Parameters starting with `_` and `signature` are not params.
    """
    sig = inspect.signature(cls)
    hints = typing.get_type_hints(cls)
    names = [p for p in sig.parameters if not p.startswith("_")]
    track_like = [p for p in names if hints.get(p) is Track and p not in companions]
    if track is None and track_like:
        if len(track_like) != 1:
            raise TypeError(f"{cls.__name__}: say which of {track_like} is the main track")
        track = track_like[0]
    for role in (*([track] if track else []), *companions):
        if role not in sig.parameters:
            raise TypeError(f"{cls.__name__} has no parameter {role!r}")
    if span is None and {"start_s", "end_s"} <= set(names):
        span = ("start_s", "end_s")
    bound = _CONTEXT_NAMES | {*companions, *(span or ())} | ({track} if track else set())
    fields: dict[str, Any] = {}
    for p in names:
        if p in bound:
            continue
        param = sig.parameters[p]
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[p] = (hints.get(p, Any), default)
    model = create_model(f"{cls.__name__}Params", __base__=_Params, **fields)

    def factory(ctx: EmitterContext, params: BaseModel) -> object:
        kwargs: dict[str, Any] = dict(params)
        for p, attr in _WEATHER_PARAMS.items():
            if p in kwargs and p not in params.model_fields_set:
                kwargs[p] = getattr(ctx.weather, attr)
        if track:
            kwargs[track] = ctx.track
        for role in companions:
            kwargs[role] = ctx.companions[role]
        available = {
            "emitter_id": ctx.emitter_id,
            "seed": _stable_seed(ctx.seed, ctx.emitter_id) if salt_seed else ctx.seed,
            "duration_s": ctx.duration_s,
        }
        if ctx.kind is not None:
            available["kind"] = ctx.kind
        kwargs.update({k: v for k, v in available.items() if k in sig.parameters})
        if span is not None:
            kwargs[span[0]], kwargs[span[1]] = ctx.start_s, ctx.end_s
        return cls(**kwargs)

    defaults = {p.name: p.default for p in sig.parameters.values()}
    kind = defaults.get("kind")
    signature = defaults.get("signature")
    if modality is None:
        if hasattr(cls, "bursts"):
            modality = "rf"
        elif hasattr(cls, "pressure_pa"):
            modality = "acoustic"
        else:
            raise TypeError(f"{cls.__name__}: give modality= (no bursts nor pressure_pa)")
    return register(
        name,
        factory,
        modality=modality,
        kind=kind if isinstance(kind, str) else "other",
        signature=signature if isinstance(signature, str) else name,
        params=model,
        companions=companions,
        takes_span=span is not None,
        needs_track=track is not None,
        track_role=track,
        replace=replace,
    )


# ---------------------------------------------------------------- schedules


def _on(intervals: Intervals, t_s: float) -> bool:
    return any(a <= t_s < b for a, b in intervals)


@dataclass
class GatedRfEmitter(EmitterView):
    """An RF emitter keyed only while its schedule is on (bursts starting off it are dropped)."""

    inner: Any
    intervals: Intervals

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        for b in self.inner.bursts(t_from_s, t_to_s, loop_index):
            if _on(self.intervals, b.start_s):
                yield b

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        """The inner emitter's, inactive off the schedule."""
        on = _on(self.intervals, t_s)
        sources: list[BudgetSource] = self.inner.budget_sources(t_s)
        return [dataclasses.replace(s, active=s.active and on) for s in sources]


@dataclass
class GatedAcousticSource(EmitterView):
    """An acoustic source heard only for sound emitted while its schedule is on.

    The gate applies at emission time: reception minus the travel time from the source at
    the frame's middle to each microphone. Other attributes are the inner source's.
    """

    inner: Any
    intervals: Intervals
    track: Track

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _emitted(self, mics_m: NDArray[np.float64], t_s: NDArray[np.float64]) -> NDArray[np.bool_]:
        """(m, n) True where the sound reaching microphone m at t_s left while on."""
        src = self.track.point(float(t_s[len(t_s) // 2]))
        delay = distance_m(np.asarray(mics_m, dtype=np.float64), src) / SPEED_OF_SOUND_M_S
        te = t_s[None, :] - np.atleast_1d(delay)[:, None]
        on = np.zeros(te.shape, dtype=bool)
        for a, b in self.intervals:
            on |= (te >= a) & (te < b)
        return on

    def pressure_pa(
        self,
        mics_m: NDArray[np.float64],
        t0_s: float,
        sample_rate_hz: float,
        n: int,
        loop_index: int = 0,
        medium: Medium = FREE_FIELD,
    ) -> NDArray[np.float64]:
        mics = np.atleast_2d(np.asarray(mics_m, dtype=np.float64))
        t = t0_s + np.arange(n, dtype=np.float64) / sample_rate_hz
        on = self._emitted(mics, t)
        if not on.any():
            return np.zeros((len(mics), n), dtype=np.float64)
        p = self.inner.pressure_pa(mics, t0_s, sample_rate_hz, n, loop_index, medium)
        return np.asarray(p * on, dtype=np.float64)

    def level_dba(self, mic_m: Vec3, t_s: float, medium: Medium = FREE_FIELD) -> float:
        if not self._emitted(np.array([mic_m], dtype=np.float64), np.array([t_s]))[0, 0]:
            return DB_FLOOR
        return float(self.inner.level_dba(mic_m, t_s, medium))


def gate(entry: EmitterType, obj: object, ctx: EmitterContext) -> object:
    """Wrap `obj` so that it follows the schedule, unless it already does by itself."""
    whole = len(ctx.intervals) == 1 and ctx.intervals[0][0] <= 0.0 <= ctx.duration_s
    whole = whole and ctx.intervals[0][1] >= ctx.duration_s
    if (entry.takes_span and len(ctx.intervals) == 1) or whole:
        return obj
    if entry.modality == "rf":
        return GatedRfEmitter(obj, ctx.intervals)
    return GatedAcousticSource(obj, ctx.intervals, ctx.track)


# ---------------------------------------------------------------- built-in types

register_class("elrs_2g4", ElrsLink, track="drone", companions=("pilot",))
register_class("gsm_uplink", GsmHandset, span=("call_start_s", "call_end_s"))
register_class("wifi_ap", WifiAccessPoint)
register_class("rotor_harmonics", RotorSource, salt_seed=True)

# The other families live in modules that are still being written; each is registered
# if its class is found (else a scenario naming it gets "unknown emitter type").
_DRONES = ("simulator.rf_drones", "simulator.rf_hobby_drones")
_HANDSETS = ("simulator.rf_handsets", "simulator.rf_handsets_wlan")
_SITE = ("simulator.rf_site",)
_CONFUSERS = ("simulator.acoustic_confusers",)


def register_optional(
    name: str, class_name: str, modules: Sequence[str], **options: Any
) -> EmitterType | None:
    """`register_class(name, <class_name from the first of modules that has it>, ...)`,
    or None when no module has it or it cannot be bound (see `why_unregistered`)."""
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, class_name, None)
        if isinstance(cls, type):
            try:
                return register_class(name, cls, **options)
            except (TypeError, NameError) as err:
                _UNAVAILABLE[name] = f"{module_name}.{class_name} cannot be bound: {err}"
                return None
    _UNAVAILABLE[name] = f"{class_name} not found in {', '.join(modules)}"
    return None


def why_unregistered(name: str) -> str | None:
    """Why an expected type is missing (its module or class is absent or changed shape)."""
    return _UNAVAILABLE.get(name)


register_optional("dji_droneid", "DjiDroneId", _DRONES)
register_optional("dji_ocusync_video", "DjiOcuSyncVideo", _DRONES)
register_optional("frsky_d16", "FrskyD16", _DRONES, track="drone", companions=("pilot",))
register_optional("fpv_analog_video", "FpvAnalogVideo", _DRONES)
register_optional("wifi_drone", "WifiDrone", _DRONES)

register_optional("lte_uplink", "LteUplink", _HANDSETS)
register_optional("lte_prach", "LtePrach", _HANDSETS)
register_optional("wifi_probe", "WifiProbe", _HANDSETS)
register_optional("ble_adv", "BleAdvertiser", _HANDSETS)

register_optional("microwave_oven", "MicrowaveOven", _SITE)
register_optional("tetra", "Tetra", _SITE)
register_optional("dmr", "Dmr", _SITE)
register_optional("cellular_downlink", "CellularDownlink", _SITE)

# acoustic sources seed their noise from `seed` alone: salt it so that two mowers differ
for _name, _cls, _extra in [
    ("helicopter", "Helicopter", {}),
    ("aircraft", "Aircraft", {}),
    ("mower", "Mower", {}),
    ("strimmer", "Strimmer", {}),
    ("genset", "Genset", {}),
    ("transformer_hum", "TransformerHum", {}),
    ("hvac_fan", "HvacFan", {}),
    ("siren", "Siren", {}),
    ("car_horn", "CarHorn", {}),
    ("voice", "Voice", {}),
    ("music", "Music", {}),
    ("wind", "Wind", {}),
    ("vehicle_pass_by", "VehiclePassBy", {"span": ("enter_s", "exit_s")}),
    ("traffic", "Traffic", {}),
]:
    register_optional(_name, _cls, _CONFUSERS, salt_seed=True, **_extra)
