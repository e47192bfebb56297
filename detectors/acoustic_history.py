"""Per-sensor history of rotor combs: voices and music over seconds, track continuation.

One 1 s frame of a weak voice comb (10-13 dB peak, 3-4 harmonics) looks like a distant
rotor comb; its 4-5 Hz syllabic AM (SIGNALS.md §4 `voice_music`: one glottal source, so
common to all harmonics) and the beat-synchronous decay of plucked notes are there but
buried in noise: `acoustic_subframes.common_envelope` gives such a frame a p-value of
~0.1 in the median, where a rotor comb (independent beats per harmonic, scintillation
over seconds) gives ~0.3 and rarely under 0.1. Stage 2 needs several frames anyway (4 in
8 s), so the evidence is pooled over the sensor's recent candidate combs (frames whose
comb scored enough to be reported, whether a single-frame rule then rejected it or not:
a voice's loud syllables are often rejected by `dropouts` or `comb_share`, and they are
the clearest evidence of what the source at that f0 is) with about the same fundamental:
Fisher's method, -2 sum ln p ~ chi2(2n) for independent frames.

One frame's evidence is capped (`p_floor`): outdoors a gust or a manoeuvre can modulate
all of a real rotor's harmonics together within one frame (BENCHMARKS.md, third session),
so one very small p-value must not make a voice; a voice or a song keeps modulating.

A detection whose pooled p-value falls under `alpha` is relabelled `voice_music`, kind
``other``: stored, never alerted (stage 2 drops kind ``other``).

Track continuation: a drone comb reported below stage 2's alert cut (`alert_confidence`)
is raised to the cut when a comb at the cut, not relabelled, was reported within
`continue_s` before it within `continue_tolerance` of its f0: the same rotor comb heard a
little weaker (a distant hover jitters about 1 % over seconds, SIGNALS.md §4). Under
noise alone a comb at the reporting level falls within ±4 % of a given f0 in about 2 % of
the frames it occurs in, so continuation adds ~1e-4 per frame to the noise rate; it adds
nothing to a sensor that has no hit at the cut.

A second search (`acoustic.detect_with_history`): when the frame's comb is a modulated source,
the frame is searched again with that f0 and its octaves left out, and a comb found there
is reported only as the continuation of a rotor track the sensor heard on its own: one
comb per frame would otherwise let a talker near the microphone hide a drone.

A frame pools the frames already added within `window_s` of it, either side, and
continuation looks back only: a frame judged before its neighbours arrive sees fewer of
them, so the hub's worker threads (which may finish a sensor's frames out of order) can
judge a few frames differently from an in-order replay (`sensor-hub detect`, the
benches). Entries are kept by arrival, at most `max_entries` per sensor, and pooled by
|t0 difference|, so a sensor clock that jumps either way or one bogus timestamp neither
grows a history nor wipes it; a frame without a finite t0 is judged alone.

Where the settings come from: `f0_tolerance` and `continue_tolerance` from SIGNALS.md §4,
`narrow_f0_tolerance` from §4's voice model (added after a simulated false alert showed
the dilution, eighth session); `window_s` and `alpha` were picked on the simulated
false-alarm bench's frames (simulator output only); `p_floor` was set after seeing that
single frames of real drone recordings sometimes have envelope p-values of 1e-4..1e-5
(the issue 5 dev clips: said so in BENCHMARKS.md). Limit: a voice or a song clearly
louder than a drone at the same station still hides it in the frames it wins, and a comb
found by the second search needs the drone to have won some frames on its own.

Pure logic, no I/O: `ModulationHistory` holds one sensor's recent combs; `HistoryRegistry`
holds many, bounded in count and idle time, thread-safe.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from scipy import special

from detectors.acoustic_config import AcousticConfig, AcousticDetection, CombAnalysis
from detectors.acoustic_integrate import IntegratorConfig, IntegratorRegistry
from detectors.acoustic_plant import Mask, PlantConfig, PlantLines
from detectors.sensor_states import SensorStates


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """window_s: frames pooled lie within this of the new frame (two stage-2 windows: a
    talk spurt is < 2 s, a conversation or a song goes on); f0_tolerance: |ln(f0/f0')| up
    to which two frames are the same source (manoeuvre sweeps ±10-30 %, §4); a second,
    narrow pool (`narrow_f0_tolerance`: a talker's f0 moves about ±12 % around its mean,
    §4's syllable targets) is judged too, since in a mixture another source's comb within
    ±30 % (traffic or a mower at 96 Hz next to a voice at 122 Hz) dilutes the wide pool;
    each pool is held to alpha, so the two together to at most 2 alpha (p_floor makes
    Fisher's pooling conservative: an unmodulated rotor with flight jitter is relabelled
    in 0.5-0.9 % of frames, 0.35-0.7 % with the wide pool alone, in
    `tests/detectors/test_acoustic_history.py`'s simulations);
    p_floor: the smallest p-value one frame contributes; alpha: pooled p-value under
    which the comb is a modulated source; min_frames: frames pooled before a verdict (the
    new one included); alert_confidence: stage 2's alert cut (`FusionSettings.min_confidence`);
    continue_s / continue_tolerance: how far back and how close in |ln f0 ratio| a hit at
    the cut lets a weaker comb continue its track; max_sensors / idle_s: the registry
    keeps at most this many sensors and forgets those not updated for idle_s seconds;
    plant: each sensor's learned machinery lines (`acoustic_plant`, kept apart from the
    modulation histories and bounded by its own `max_sensors`); integrate: each sensor's
    sum of recent frames' band statistics (`acoustic_integrate`, likewise kept apart)."""

    window_s: float = 16.0
    f0_tolerance: float = 0.3
    narrow_f0_tolerance: float = 0.15
    p_floor: float = 0.01
    alpha: float = 0.01
    min_frames: int = 2
    alert_confidence: float = 0.5
    continue_s: float = 8.0
    continue_tolerance: float = 0.04
    max_sensors: int = 4096
    idle_s: float = 300.0
    #: candidate combs (and hits) kept per sensor, by arrival: bounds memory and work
    #: whatever the sensor's clock does (±16 s of 1 s frames, twice for second searches)
    max_entries: int = 80
    plant: PlantConfig = field(default_factory=PlantConfig)
    integrate: IntegratorConfig = field(default_factory=IntegratorConfig)


def pooled_p_value(p_values: Sequence[float], p_floor: float) -> float:
    """Fisher's combination of independent p-values, each floored at p_floor."""
    if not p_values:
        return 1.0
    stat = -2.0 * sum(math.log(min(max(p, p_floor), 1.0)) for p in p_values)
    return float(special.chdtrc(2 * len(p_values), stat))  # chi2.sf, without its overhead


@dataclass(frozen=True, slots=True)
class Candidate:
    """A frame's candidate comb: its fundamental and its common-envelope p-value."""

    f0_hz: float
    p_value: float


def candidate(
    comb: CombAnalysis | None, config: AcousticConfig = AcousticConfig()
) -> Candidate | None:
    """The frame's candidate comb when its envelope was measured (`measure_modulation`:
    enough score and lines to be reported), else None."""
    if comb is None or not config.measure_modulation or not math.isfinite(comb.f0_hz):
        return None
    lines = int(comb.present.sum())
    if comb.score < config.min_score or lines < config.min_lines or comb.f0_hz <= 0.0:
        return None
    return Candidate(comb.f0_hz, comb.common_p_value)


@dataclass(frozen=True, slots=True)
class _Entry:
    t0_s: float
    f0_hz: float
    p_value: float


@dataclass(frozen=True, slots=True)
class _Hit:
    t0_s: float
    f0_hz: float


class ModulationHistory:
    """The reported combs of one sensor over the last `window_s` seconds."""

    def __init__(self, config: HistoryConfig = HistoryConfig()) -> None:
        self.config = config
        self.lock = threading.Lock()
        # by arrival, bounded: frames pool by |t0 difference| (`pooled`), so a sensor
        # clock that jumps either way, or one bogus timestamp, neither grows nor wipes it
        self._entries: deque[_Entry] = deque(maxlen=config.max_entries)
        self._hits: deque[_Hit] = deque(maxlen=config.max_entries)  # drone combs at the cut

    def __len__(self) -> int:
        return len(self._entries)

    def _pools(self, t0_s: float, f0_hz: float, tolerances: tuple[float, ...]) -> list[list[float]]:
        """The p-values of the kept frames near t0_s within each tolerance of f0_hz in
        |ln ratio| (one pass over the frames)."""
        c = self.config
        pools: list[list[float]] = [[] for _ in tolerances]
        if not (f0_hz > 0.0 and math.isfinite(f0_hz)):
            return pools
        for e in self._entries:
            if abs(e.t0_s - t0_s) < c.window_s:
                r = abs(math.log(e.f0_hz / f0_hz))
                for pool, tolerance in zip(pools, tolerances, strict=True):
                    if r <= tolerance:
                        pool.append(e.p_value)
        return pools

    def pooled(
        self, t0_s: float, f0_hz: float, f0_tolerance: float | None = None
    ) -> tuple[int, float]:
        """(frames, pooled p-value) of the kept frames near t0_s within f0_tolerance
        (default `HistoryConfig.f0_tolerance`) of f0_hz in |ln ratio|."""
        c = self.config
        tolerance = c.f0_tolerance if f0_tolerance is None else f0_tolerance
        (ps,) = self._pools(t0_s, f0_hz, (tolerance,))
        return len(ps), pooled_p_value(ps, c.p_floor)

    def modulated(self, t0_s: float, f0_hz: float) -> bool:
        """The pooled evidence about f0_hz near t0_s, in the wide or the narrow pool, says:
        a modulated source."""
        c = self.config
        return any(
            len(ps) >= c.min_frames and pooled_p_value(ps, c.p_floor) < c.alpha
            for ps in self._pools(t0_s, f0_hz, (c.f0_tolerance, c.narrow_f0_tolerance))
        )

    def continues(self, t0_s: float, f0_hz: float) -> bool:
        """A hit at the cut within `continue_s` before t0_s had about this f0."""
        c = self.config
        if not (f0_hz > 0.0 and math.isfinite(f0_hz)):
            return False
        return any(
            0.0 < t0_s - h.t0_s <= c.continue_s
            and abs(math.log(h.f0_hz / f0_hz)) <= c.continue_tolerance
            for h in self._hits
        )

    def update(
        self, t0_s: float, found: list[AcousticDetection], heard: Candidate | None
    ) -> list[AcousticDetection]:
        """Add the frame's candidate comb `heard` (the caller holds `lock` when shared) and
        return `found` with the drone combs of a modulated source relabelled
        (`voice_music`, kind other)."""
        c = self.config
        if not math.isfinite(t0_s):
            return found  # no time to pool by: judged as if alone
        if heard is not None and math.isfinite(heard.p_value) and heard.f0_hz > 0.0:
            self._entries.append(_Entry(t0_s, heard.f0_hz, heard.p_value))
        out = []
        for d in found:
            if d.kind == "drone" and d.f0_hz > 0.0 and math.isfinite(d.f0_hz):
                if self.modulated(t0_s, d.f0_hz):
                    d = dataclasses.replace(d, signature="voice_music", kind="other")
                elif d.confidence >= c.alert_confidence:
                    self._hits.append(_Hit(t0_s, d.f0_hz))
                elif self.continues(t0_s, d.f0_hz):
                    d = dataclasses.replace(d, confidence=c.alert_confidence)
            out.append(d)
        return out


class HistoryRegistry:
    """Per-sensor `ModulationHistory`s keyed by e.g. (site, sensor_id); bounded: at most
    `max_sensors` (least recently used dropped), none idle longer than `idle_s` (by
    `clock`, monotonic seconds). Thread-safe: the registry lock guards the map, each
    history's lock its frames."""

    def __init__(
        self, config: HistoryConfig = HistoryConfig(), clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._states: SensorStates[ModulationHistory] = SensorStates(
            lambda: ModulationHistory(config), config.max_sensors, config.idle_s, clock
        )
        # a store of its own: every analysed frame teaches it, which must not evict
        # other sensors' modulation evidence
        self._plants: SensorStates[PlantLines] = SensorStates(
            lambda: PlantLines(config.plant), config.plant.max_sensors, config.idle_s, clock
        )
        #: each sensor's sum of recent frames (`acoustic.detect_with_history` feeds it)
        self.sums = IntegratorRegistry(config.integrate, clock=clock)

    def __len__(self) -> int:
        return len(self._states)

    def modulated(self, key: Hashable, t0_s: float, f0_hz: float) -> bool:
        """`ModulationHistory.modulated` for `key` (False for an unknown sensor)."""
        state = self._states.get(key)
        if state is None:
            return False
        with state.lock:
            return state.modulated(t0_s, f0_hz)

    def continues(self, key: Hashable, t0_s: float, f0_hz: float) -> bool:
        """`ModulationHistory.continues` for `key` (False for an unknown sensor)."""
        state = self._states.get(key)
        if state is None:
            return False
        with state.lock:
            return state.continues(t0_s, f0_hz)

    def plant_lines(self, key: Hashable, comb: CombAnalysis | None, judge: bool) -> Mask | None:
        """Teach the plant lines of `key` (created on first use) the frame's spectrum
        (`PlantLines.update`) and, when `judge`, return their mask for this frame
        (`PlantLines.mask`); None without a comb analysis or for a frame not learnt."""
        if comb is None or comb.line_ratio is None:
            return None
        plant = self._plants.use(key)
        with plant.lock:
            learnt = plant.update(comb.line_ratio, comb.bin_hz)
            return plant.mask() if judge and learnt else None

    def update(
        self,
        key: Hashable,
        t0_s: float,
        found: list[AcousticDetection],
        heard: Candidate | None,
    ) -> list[AcousticDetection]:
        """`ModulationHistory.update` on the history of `key` (created on first use)."""
        if heard is None and not any(d.kind == "drone" for d in found):
            return found  # nothing to add or judge
        state = self._states.use(key)
        with state.lock:
            return state.update(t0_s, found, heard)
