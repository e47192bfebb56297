"""A scenario: a site (zones, sensors), emitters with schedules, and the frames they produce.

`Scenario.messages` renders one pass lazily, in the order the messages fall due:
retained status heartbeats and SHF1 frames, with topics from `sensor_hub.topics`.
`Scenario.truth` is the ground truth (who emitted what, when, where);
`Scenario.link_budgets` the expected levels and SNRs at each sensor at a given time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensor_hub.codec import encode_frame, int_wire, samples_to_wire
from sensor_hub.schemas import FrameHeader, SensorStatusMessage
from sensor_hub.topics import frames_topic, status_topic
from simulator.acoustic_emitters import AcousticSource, EmittingSource, RotorSource
from simulator.collectors import AudioCollector, Collector, RfCollector, RfEmitter, SensorSpec
from simulator.link_budget import BudgetedEmitter, BudgetSource
from simulator.propagation import (
    DB_FLOOR,
    REFERENCE_PRESSURE_PA,
    a_weighting_db,
    distance_m,
    received_power_dbm,
    thermal_noise_dbm,
)
from simulator.trajectory import Track, Vec3

Polygon = list[tuple[float, float]]


@dataclass(frozen=True)
class TruthInterval:
    """One emitter emitting one signature from start_s to end_s (scenario seconds)."""

    emitter_id: str
    kind: str  # 'drone' | 'handset' | 'other'
    signature: str
    start_s: float
    end_s: float
    position_m: Vec3  # at start_s; see `moving` and Scenario.position_of
    moving: bool = False
    #: the id its bursts and link budgets carry (`drone-1/pilot` for the pilot end of
    #: drone-1's RC link); "" = emitter_id
    source_id: str = ""

    @property
    def budget_id(self) -> str:
        return self.source_id or self.emitter_id


@dataclass(frozen=True)
class Message:
    due_s: float  # scenario time at which the message exists (frame complete)
    topic: str
    payload: bytes
    retain: bool
    qos: int


@dataclass(frozen=True)
class LinkBudget:
    """Expected level of one source at one sensor (RF: dBm in its band; audio: dB SPL / dBA).

    `emitter_id` is the source id (`BudgetSource.source_id`, `TruthInterval.budget_id`)."""

    emitter_id: str
    sensor_id: str
    t_s: float
    distance_m: float
    level_db: float
    noise_db: float
    snr_db: float
    unit: str
    note: str = ""


@dataclass
class Scenario:
    site: str
    duration_s: float
    seed: int
    zones: dict[str, Polygon]
    collectors: list[Collector]
    rf_emitters: list[RfEmitter]
    acoustic_sources: list[AcousticSource]
    tracks: dict[str, Track]
    truth_intervals: list[TruthInterval]
    status_interval_s: float = 10.0
    description: str = ""
    #: rooms inside the zones (the hub's site cells)
    cells: dict[str, Polygon] = field(default_factory=dict)
    #: the site's allow rules, windows in scenario seconds (`AllowSpec` as dicts)
    allow: list[dict[str, Any]] = field(default_factory=list)
    #: sensor id -> [(start_s, end_s)] when the sensor is cut: no frames, no heartbeats
    outages: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    path_loss_exponent: float = 2.0
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {c.spec.sensor_id: i for i, c in enumerate(self.collectors)}

    @property
    def sensors(self) -> list[SensorSpec]:
        return [c.spec for c in self.collectors]

    @property
    def default_boot_id(self) -> str:
        return f"sim-{self.seed}"

    def silent(self, sensor_id: str, t_s: float) -> bool:
        """True while the sensor is cut (`outages`): it sends nothing due at t_s."""
        return any(a <= t_s < b for a, b in self.outages.get(sensor_id, ()))

    def truth(self) -> list[TruthInterval]:
        return list(self.truth_intervals)

    def position_of(self, emitter_id: str, t_s: float) -> Vec3:
        return self.tracks[emitter_id].point(t_s)

    def collector(self, sensor_id: str) -> Collector:
        return self.collectors[self._index[sensor_id]]

    # ------------------------------------------------------------ rendering

    def frame_rng(self, sensor_id: str, k: int, loop_index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, loop_index, self._index[sensor_id], k, 0x5EED])

    def render(
        self,
        sensor_id: str,
        k: int,
        *,
        loop_index: int = 0,
        include_noise: bool = True,
        include_signals: bool = True,
    ) -> NDArray[np.complex64] | NDArray[np.float32]:
        """Samples of frame k (within a pass) of one sensor, full scale 1.0."""
        c = self.collector(sensor_id)
        rng = self.frame_rng(sensor_id, k, loop_index)
        t0 = c.frame_start_s(k)
        if isinstance(c, RfCollector):
            return c.render(
                self.rf_emitters,
                t0,
                rng,
                loop_index,
                include_noise=include_noise,
                include_signals=include_signals,
            )
        return c.render(self.acoustic_sources, t0, rng, loop_index,
                        include_noise=include_noise, include_signals=include_signals)  # fmt: skip

    def frame_bytes(
        self, sensor_id: str, k: int, *, start_time_ns: int, loop_index: int = 0,
        boot_id: str | None = None,
    ) -> bytes:  # fmt: skip
        header = self.frame_header(sensor_id, k, start_time_ns=start_time_ns,
                                   loop_index=loop_index, boot_id=boot_id)  # fmt: skip
        return encode_frame(
            header, self.frame_payload(sensor_id, k, loop_index=loop_index).tobytes()
        )

    def frame_header(
        self, sensor_id: str, k: int, *, start_time_ns: int, loop_index: int = 0,
        boot_id: str | None = None,
    ) -> FrameHeader:  # fmt: skip
        c = self.collector(sensor_id)
        seq = loop_index * c.frames_per_pass(self.duration_s) + k
        boot = self.default_boot_id if boot_id is None else boot_id
        t0_ns = start_time_ns + round(c.frame_start_s(k) * 1e9)
        if isinstance(c, RfCollector):  # k within the pass: a sweep's centre on every loop
            return c.header(site=self.site, seq=seq, boot_id=boot, t0_ns=t0_ns, frame_index=k)
        return c.header(site=self.site, seq=seq, boot_id=boot, t0_ns=t0_ns)

    def frame_payload(self, sensor_id: str, k: int, *, loop_index: int = 0) -> NDArray[Any]:
        """The payload of frame k as a flat array of the wire dtype: `frame_bytes` without
        the header (`record` writes it to disk as it is)."""
        c = self.collector(sensor_id)
        if isinstance(c, RfCollector) and int_wire(c.datatype) is not None:
            rng = self.frame_rng(sensor_id, k, loop_index)
            return c.render_wire(self.rf_emitters, c.frame_start_s(k), rng, loop_index)
        header = self.frame_header(sensor_id, k, start_time_ns=0, loop_index=loop_index)
        return samples_to_wire(self.render(sensor_id, k, loop_index=loop_index), header,
                               overwrite=True)  # fmt: skip

    def messages(
        self, start_time_ns: int, *, loop_index: int = 0, boot_id: str | None = None
    ) -> Iterator[Message]:
        """One pass, in due order; frames are rendered only when reached."""
        plan: list[tuple[float, int, int, int]] = []  # (due_s, 0 status | 1 frame, sensor, k)
        for i, c in enumerate(self.collectors):
            n_status = math.ceil(self.duration_s / self.status_interval_s - 1e-9)
            plan += [(j * self.status_interval_s, 0, i, j) for j in range(n_status)]
            for k in range(c.frames_per_pass(self.duration_s)):
                plan.append((c.frame_start_s(k) + c.frame_duration_s, 1, i, k))
        plan.sort()
        for due, what, i, k in plan:
            c = self.collectors[i]
            sid = c.spec.sensor_id
            if self.silent(sid, due):
                continue
            if what == 0:
                status = SensorStatusMessage(state="online", t=(start_time_ns / 1e9) + due)
                yield Message(due, status_topic(self.site, sid),
                              status.model_dump_json().encode(), retain=True, qos=1)  # fmt: skip
            else:
                payload = self.frame_bytes(sid, k, start_time_ns=start_time_ns,
                                           loop_index=loop_index, boot_id=boot_id)  # fmt: skip
                yield Message(due, frames_topic(self.site, sid, c.spec.kind), payload,
                              retain=False, qos=1)  # fmt: skip

    # ------------------------------------------------------------ expectations

    def rf_budgets(
        self, c: RfCollector, t_s: float, *, center_freq_hz: float | None = None
    ) -> list[LinkBudget]:
        """RF link budgets at one sensor, tuned to `center_freq_hz` (default: as at t_s)."""
        fc = c.center_freq_at(t_s) if center_freq_hz is None else center_freq_hz
        out: list[LinkBudget] = []
        for em in self.rf_emitters:
            if not isinstance(em, BudgetedEmitter):
                raise TypeError(f"{type(em).__name__} ({em.emitter_id}) has no budget_sources")
            out += [b for s in em.budget_sources(t_s) if (b := _rf_budget(c, s, t_s, fc))]
        return out

    def link_budgets(self, t_s: float) -> list[LinkBudget]:
        """Expected in-band level, noise and SNR of each emitter at each sensor at t_s.

        RF: received power (path loss, the emitter's own and the site's wall losses) vs
        thermal noise in the emission's occupied band with the sensor's noise figure
        (SIGNALS.md's SNR definition), for every active `BudgetSource` of which the sensor,
        tuned as at t_s (`center_freq_at`), holds at least one channel.
        Audio: drone A-weighted level vs the ambience, and the strongest
        line of one rotor in a 1 Hz bin vs the ambience PSD at its frequency.
        """
        out: list[LinkBudget] = []
        for c in self.collectors:
            pos = c.spec.position
            if isinstance(c, RfCollector):
                out += self.rf_budgets(c, t_s)
            elif isinstance(c, AudioCollector):
                freqs = np.arange(1.0, 8000.0, 1.0)
                amb = c.ambience.psd(freqs)
                amb_dba = 10 * np.log10(
                    np.sum(amb * 10 ** (a_weighting_db(freqs) / 10)) / REFERENCE_PRESSURE_PA**2
                )
                for any_src in self.acoustic_sources:
                    if not isinstance(any_src, RotorSource):
                        out += _other_acoustic_budgets(any_src, c, t_s, freqs, amb, float(amb_dba))
                        continue
                    src = any_src
                    _tau, r = src.emission_times(pos, np.array([t_s]))
                    rr = float(r[0])
                    lines = src.line_levels_db_spl(rr)
                    k = np.arange(1, len(lines) + 1) * src.hover_bpf_hz(loaded=True)
                    la = 10 * np.log10(np.sum(10 ** ((lines + a_weighting_db(k)) / 10)))
                    out.append(LinkBudget(src.emitter_id, c.spec.sensor_id, t_s, rr,
                                          float(la), float(amb_dba), float(la - amb_dba), "dBA",
                                          "comb A-weighted vs ambience"))  # fmt: skip
                    # a 1 Hz bin holds one rotor's line: the rotors run σ 2 % apart (several
                    # Hz at the blade-pass frequency), so their lines do not add in one bin
                    lines = lines - 10 * np.log10(src.rotors)
                    best = int(
                        np.argmax(
                            lines
                            - 10 * np.log10(np.interp(k, freqs, amb) / REFERENCE_PRESSURE_PA**2)
                        )
                    )
                    amb_1hz = 10 * np.log10(
                        np.interp(k[best], freqs, amb) / REFERENCE_PRESSURE_PA**2
                    )
                    note = f"best line k={best + 1}, one rotor, 1 Hz bin"
                    out.append(LinkBudget(src.emitter_id, c.spec.sensor_id, t_s, rr,
                                          float(lines[best]), float(amb_1hz),
                                          float(lines[best] - amb_1hz), "dB SPL",
                                          note))  # fmt: skip
        return out


def _other_acoustic_budgets(
    src: AcousticSource, c: AudioCollector, t_s: float, freqs: NDArray[np.float64],
    amb_psd: NDArray[np.float64], amb_dba: float,
) -> list[LinkBudget]:  # fmt: skip
    """Confusers: A-weighted level vs the ambience, and their best line in a 1 Hz bin."""
    pos, sid = c.spec.position, c.spec.sensor_id
    la = src.level_dba(pos, t_s, c.medium)
    if la <= DB_FLOOR:  # silent at this instant (off its schedule, or not yet arrived)
        return []
    if not isinstance(src, EmittingSource):  # on the microphone itself (wind)
        return [LinkBudget(src.emitter_id, sid, t_s, 0.0, la, amb_dba, la - amb_dba, "dBA",
                           f"{src.signature} A-weighted vs ambience")]  # fmt: skip
    rr, line_f, line_db = src.line_spectrum(pos, t_s, c.medium)
    out = [LinkBudget(src.emitter_id, sid, t_s, rr, la, amb_dba, la - amb_dba, "dBA",
                      f"{src.signature} A-weighted vs ambience")]  # fmt: skip
    if len(line_f):
        amb_1hz = 10 * np.log10(np.interp(line_f, freqs, amb_psd) / REFERENCE_PRESSURE_PA**2)
        best = int(np.argmax(line_db - amb_1hz))
        note = f"best line at {line_f[best]:.1f} Hz in a 1 Hz bin"
        out.append(LinkBudget(src.emitter_id, sid, t_s, rr, float(line_db[best]),
                              float(amb_1hz[best]), float(line_db[best] - amb_1hz[best]),
                              "dB SPL", note))  # fmt: skip
    return out


def _rf_budget(c: RfCollector, s: BudgetSource, t_s: float, fc: float) -> LinkBudget | None:
    if not s.active:
        return None
    heard = s.heard_channels(lambda f, bw: c.in_band(f, bw, center_freq_hz=fc))
    if not heard:
        return None
    d = float(distance_m(s.position_m, c.spec.position))
    walls = c.wall_loss_db(s.position_m)
    p = received_power_dbm(s.eirp_dbm, s.freq_hz, d, extra_loss_db=s.extra_loss_db + walls,
                           path_loss_exponent=c.path_loss_exponent)  # fmt: skip
    nz = thermal_noise_dbm(s.bandwidth_hz, c.noise_figure_db)
    notes = [s.note] if s.note else []
    if s.channels_hz:
        notes.append(f"{len(heard)}/{len(s.channels_hz)} channels in band")
    if walls > 0:
        notes.append(f"walls {walls:g} dB")
    return LinkBudget(s.source_id, c.spec.sensor_id, t_s, d, p, nz, p - nz, "dBm", "; ".join(notes))
