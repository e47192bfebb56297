"""Learned plant lines: one sensor's steady machinery lines, and the veto they give
(SIGNALS.md §4 `generator_hvac`, §6 "learned background lines").

Gensets, HVAC fans and transformers run for hours and hold their lines to < 0.1 % over
minutes, so in 1 s frames (bins `df` = 1 Hz wide) such a line is the local peak of the
same bin (or of one of two neighbours, for a line between bins) in nearly every frame.
A rotor harmonic is a cluster of sub-lines (rotors 1-5 % apart) that RPM jitter (σ
0.5-2 %, τ 0.2-1 s) moves from frame to frame: its peaks wander over many bins, and no
one bin holds a peak most of the time (a hover's 1 % p5-p95 spread is 1.8 bins at 184 Hz
and grows with k).

`PlantLines` keeps, per bin from `min_hz` up, an exponential average over frames (time
constant `tau_frames`, divided by its weights' sum so that it is a true weighted share
from the first frame) of "this bin is a local peak at least `line_ratio` over the
floor"; from `min_frames` frames on, a bin whose share plus its larger neighbour's (the
pair's share) reaches `occupancy`, and which is the larger of the two, is a plant line;
it and `guard_bins` either side (a Hann main lobe) form the mask.

A machine line heard through a mixture (wind gusts lifting the floor, music and voices
taking the peak) holds its bin in fewer frames: an HVAC fan's blade-pass lines under
wind, voices and a mower held their pairs in 0.6-0.75 of the frames in the false-alarm
bench, under the 0.9. So a pair holding at least `confined_occupancy` of the frames is a
plant line too when it holds most (`confined_share`) of the peaks within
`confined_half_width_bins` of it: the line does not leave its two bins. A rotor harmonic
does: its peaks wander over the neighbouring bins, and the pair held 0.31-0.39 of the
peaks within ±3 bins in a simulated hover (pair shares 0.4-0.7, 120-180 s at 60-500 m in
30 and 45 dBA), where the fan's lines in the mixtures held 0.83-0.96.

A machine's lines are an exact harmonic series, and a mixture hides some of them more
than others (wind and voices below 300 Hz bury a fan's fundamental, while its 2nd-4th
harmonics hold their bins). So when at least `series_lines` plant lines are harmonics
k <= `series_max_k` of one fundamental (`machine_fundamentals`: each within a bin of k
times it, the fundamental at least `min_series_bins` up, the highest that explains
them), the rest of that series is masked too: a comb found on the fan's unlearnt
fundamental and 5th harmonic beside its masked 2nd-4th is the fan (in the false-alarm
bench, a fan at a two-microphone station whose 338, 508 and 677 Hz lines were learnt
gave four such frames in a row, an alert).

Before `min_frames`, from `early_frames` (10) on, only a pair holding nearly every frame's
peak (`occupancy`) and confined as above is judged a plant line: a fan that has just
started (or a sensor just heard) holds its bins in every frame, while a rotor harmonic's
chance shares over a few frames stay under it (a rotor line with ±2 % sub-lines and 1 %
jitter: 0.62 at its 10th frame, `tests/detectors/test_acoustic_plant.py`).

A frame of another bin width or band (another frame length or sample rate) is not learnt
and not judged; after `relearn_frames` such frames in a row, learning starts again on the
new shape.

The veto (`acoustic.detect_with_history`): a frame's drone comb with mask bins in its
harmonic bands is searched again with the mask's bins holding no peak excess; the comb
stands only if that search still finds a drone comb at about its f0 (`survives`), and
then with the lower of the two confidences. Otherwise it is relabelled
`generator_hvac`, kind other (stored, never alerted). The veto never adds a detection:
the masked search's own comb, when it is another one, is not reported (the next comb of
a mixture of machinery, voices and music is no rotor comb either). So a drone beside a
louder fan is heard no better than without the mask; a rotor steadier than SIGNALS.md's
measured hover can lose a rare frame to it (BENCHMARKS.md, eleventh session).

Pure logic, no I/O; `acoustic_history.HistoryRegistry` keeps one `PlantLines` per sensor
(at most `max_sensors` of them: ~32 kB each for 1 s frames at 16 kHz).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.acoustic_config import AcousticConfig, AcousticDetection, CombAnalysis
from detectors.acoustic_spectrum import band_edges

F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

PLANT_SIGNATURE = "generator_hvac"


@dataclass(frozen=True, slots=True)
class PlantConfig:
    """line_ratio: a bin holds a line when it is a local peak this far over the floor
    (6 dB); tau_frames / min_frames / occupancy: the average's time constant, the frames
    learnt before every rule judges (from early_frames on, only the strict one: above),
    and the share of frames a plant line holds its bin (or a neighbour);
    confined_occupancy / confined_share / confined_half_width_bins: the steady line
    under a mixture (above); guard_bins: bins either side masked with it
    (Hann main lobe ±2 bins); min_hz: nothing is learnt below (the detector's high-pass,
    `AcousticConfig.highpass_hz`, holds no comb); relearn_frames: frames of another
    shape in a row before learning starts again on it; f0_tolerance: |ln ratio| within
    which the masked search's comb is the same comb; max_sensors: sensors whose lines
    are kept (the least recently heard dropped); series_lines / series_max_k /
    series_tolerance_bins / min_series_bins: plant lines that make a machine's harmonic
    series, whose other harmonics are masked too (`machine_fundamentals`)."""

    line_ratio: float = 4.0
    tau_frames: float = 30.0
    min_frames: int = 60
    early_frames: int = 10
    occupancy: float = 0.9
    confined_occupancy: float = 0.5
    confined_share: float = 0.6
    confined_half_width_bins: int = 3
    guard_bins: int = 2
    min_hz: float = 60.0
    relearn_frames: int = 10
    f0_tolerance: float = 0.05
    max_sensors: int = 512
    series_lines: int = 3
    series_max_k: int = 10
    series_tolerance_bins: float = 1.0
    min_series_bins: int = 60


class PlantLines:
    """The steady lines of one sensor; its `lock` is the caller's to hold."""

    def __init__(self, config: PlantConfig = PlantConfig()) -> None:
        self.config = config
        self.lock = threading.Lock()
        self._average: NDArray[np.float32] | None = None
        self._bin_hz = 0.0
        self._first = 1  # the lowest bin learnt
        self._frames = 0
        self._other = 0  # frames of another shape in a row

    def _same_shape(self, m: int, bin_hz: float) -> bool:
        """Bins of this frame are the bins learnt (frame lengths within 0.01 %: a 1 s frame
        one sample short at 16 kHz moves the top bin by under half a bin)."""
        a = self._average
        same_width = math.isclose(bin_hz, self._bin_hz, rel_tol=1e-4)
        return a is not None and a.shape[0] == m and same_width

    def update(self, line_ratio: F64, bin_hz: float) -> bool:
        """Learn one frame's power-over-floor spectrum (m,) of bins `bin_hz` wide; False
        when the frame is not learnt (another shape than the one being learnt, or too
        short to hold a peak): the mask does not apply to it."""
        c = self.config
        r = np.asarray(line_ratio)
        m = r.shape[0]
        if not (bin_hz > 0.0) or m < 3:
            return False
        if not self._same_shape(m, bin_hz):
            if self._average is not None and self._other + 1 < c.relearn_frames:
                self._other += 1
                return False
            self._average = np.zeros(m, dtype=np.float32)
            self._bin_hz = bin_hz
            self._first = max(1, min(m - 1, math.ceil(c.min_hz / bin_hz)))
            self._frames = 0
        self._other = 0
        inner = r[self._first : -1]
        peak = inner >= c.line_ratio
        peak &= inner >= r[self._first - 1 : -2]
        peak &= inner >= r[self._first + 1 :]
        a = self._average
        assert a is not None
        a *= np.float32(1.0 - 1.0 / c.tau_frames)  # the average of the 0/1 peak flags
        held = a[self._first : -1]
        np.add(held, np.float32(1.0 / c.tau_frames), out=held, where=peak)
        self._frames += 1
        return True

    def mask(self) -> Mask | None:
        """The plant-line bins with their guard bins, for frames of the shape learnt
        (None before `min_frames` frames, or when no bin holds a steady line)."""
        c = self.config
        if self._average is None or self._frames < min(c.early_frames, c.min_frames):
            return None
        # the average's weights sum to 1 - decay^n: divided by it, the weighted share
        a = self._average / np.float32(1.0 - (1.0 - 1.0 / c.tau_frames) ** self._frames)
        neighbour = np.zeros_like(a)
        np.maximum(a[:-2], a[2:], out=neighbour[1:-1])
        pair = a + neighbour
        # a steady line under a mixture: fewer frames, but its peaks stay in the pair
        width = 2 * c.confined_half_width_bins + 1
        around = np.convolve(a, np.ones(width, dtype=np.float32), mode="same")
        confined = (pair >= c.confined_occupancy) & (pair >= c.confined_share * around)
        held = pair >= c.occupancy
        # early (before min_frames): only a confined line in nearly every frame
        steady = held & confined if self._frames < c.min_frames else held | confined
        # the line's own bin: the larger of a pair that holds it (either, for a tie)
        plant = steady & (a >= neighbour)
        if not plant.any():
            return None
        return _with_series(plant, self._first, c)


def machine_fundamentals(lines: NDArray[np.int64], c: PlantConfig) -> list[float]:
    """The fundamentals (in bins) of the machines' harmonic series among the plant lines
    at bins `lines`: the highest fundamental, at least `min_series_bins`, of which at
    least `series_lines` of the lines are harmonics k <= `series_max_k` (each within
    `series_tolerance_bins` of k times it; refined as the least-squares fit of those
    lines), then the same among the lines it left (a transformer's 100 Hz series beside
    a fan's), highest first. Candidates are the lines' own bins divided by k."""
    f = lines.astype(np.float64)
    k = np.arange(1, c.series_max_k + 1, dtype=np.float64)
    found: list[float] = []
    while f.shape[0] >= c.series_lines:
        candidates = np.unique(f[:, None] / k[None, :])
        fits = np.zeros(f.shape[0], dtype=bool)
        for f0 in candidates[candidates >= c.min_series_bins][::-1]:  # highest first
            order = np.round(f / f0)
            fits = (order >= 1) & (order <= c.series_max_k)
            fits &= np.abs(f - order * f0) <= c.series_tolerance_bins
            if np.count_nonzero(fits) >= c.series_lines:
                found.append(float(np.dot(f[fits], order[fits]) / np.dot(order[fits], order[fits])))
                break
        else:
            return found
        f = f[~fits]
    return found


def _with_series(plant: Mask, first: int, c: PlantConfig) -> Mask:
    """`plant` with the rest of each machine's harmonic series (`machine_fundamentals`)
    up to the top bin, and `guard_bins` either side of every line."""
    mask = plant.copy()
    for f0 in machine_fundamentals(np.flatnonzero(plant), c):
        series = np.round(np.arange(1, mask.shape[0] / f0) * f0).astype(np.int64)
        mask[series[(series >= first) & (series < mask.shape[0])]] = True
    out = mask.copy()
    for g in range(1, c.guard_bins + 1):
        out[g:] |= mask[:-g]
        out[:-g] |= mask[g:]
    return out


def touches(comb: CombAnalysis, mask: Mask, config: AcousticConfig) -> bool:
    """Whether any mask bin lies in the harmonic bands of the comb's present clusters."""
    if mask.shape[0] == 0 or not (comb.f0_hz > 0.0 and comb.bin_hz > 0.0):
        return False
    ks: F64 = np.flatnonzero(comb.present).astype(np.float64) + 1.0
    if ks.shape[0] == 0:
        return False
    lo, hi = band_edges(ks * comb.f0_hz, comb.bin_hz, mask.shape[0], config)
    counts = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
    return bool(np.any(counts[hi + 1] > counts[lo]))


def survives(
    detection: AcousticDetection,
    masked: list[AcousticDetection],
    config: PlantConfig = PlantConfig(),
) -> AcousticDetection:
    """`detection` as the masked search judges it: kept with the lower confidence when
    the masked search found a drone comb within `f0_tolerance` of its f0, else
    relabelled `generator_hvac` (kind other)."""
    same = [
        m.confidence
        for m in masked
        if m.kind == "drone"
        and m.f0_hz > 0.0
        and detection.f0_hz > 0.0
        and abs(math.log(m.f0_hz / detection.f0_hz)) <= config.f0_tolerance
    ]
    if same:
        return dataclasses.replace(detection, confidence=min(detection.confidence, max(same)))
    return dataclasses.replace(detection, signature=PLANT_SIGNATURE, kind="other")
