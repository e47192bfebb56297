"""Learned plant lines: one sensor's steady machinery lines, and the veto they give
(SIGNALS.md §4 `generator_hvac`, §6 "learned background lines").

Gensets, HVAC fans and transformers run for hours and hold their lines to < 0.1 % over
minutes, so in 1 s frames (1 Hz bins) such a line is the local peak of the same bin (or
of one of two neighbours, for a line between bins) in nearly every frame. A rotor
harmonic is a cluster of sub-lines (rotors 1-5 % apart) that RPM jitter (σ 0.5-2 %,
τ 0.2-1 s) moves from frame to frame: its peaks wander over many bins, and no one bin
holds a peak most of the time (a hover's 1 % p5-p95 spread is 1.8 bins at 184 Hz and
grows with k).

`PlantLines` keeps, per 1 Hz bin, an exponential average (time constant `tau_frames`)
of "this bin is a local peak at least `line_ratio` over the floor"; after `min_frames`
frames, a bin whose average plus its larger neighbour's reaches `occupancy`, and which
is the larger of the two, is a plant line; it and `guard_bins` either side (a Hann main
lobe) form the mask.

The veto (`acoustic.detect_with_history`): a frame's drone comb with mask bins in its
harmonic bands is searched again with the mask's bins holding no peak excess; the comb
stands only if that search still finds a drone comb at about its f0 (`survives`), and
then with the lower of the two confidences. Otherwise it is relabelled
`generator_hvac`, kind other (stored, never alerted). The veto can only lower what the
frame reports: the masked search's own comb, when it is another one, is not reported
(the next comb of a mixture of machinery, voices and music is no rotor comb either).
A drone beside a louder fan is no better heard than without the mask, and no worse.

Pure logic, no I/O; the per-sensor state lives in `acoustic_history.ModulationHistory`.
"""

from __future__ import annotations

import dataclasses
import math
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
    before any bin is judged, and the share of frames a plant line holds its bin (or a
    neighbour); guard_bins: bins either side masked with it (Hann main lobe ±2 bins);
    f0_tolerance: |ln ratio| within which the masked search's comb is the same comb."""

    line_ratio: float = 4.0
    tau_frames: float = 30.0
    min_frames: int = 60
    occupancy: float = 0.9
    guard_bins: int = 2
    f0_tolerance: float = 0.05


class PlantLines:
    """The steady lines of one sensor (not thread-safe: its owner locks)."""

    def __init__(self, config: PlantConfig = PlantConfig()) -> None:
        self.config = config
        self._average: F64 | None = None
        self._bin_hz = 0.0
        self._frames = 0

    def update(self, line_ratio: F64, bin_hz: float) -> None:
        """Learn one frame's power-over-floor spectrum (m,) of bins `bin_hz` wide; a
        change of bin width or band limit starts the learning again."""
        c = self.config
        r = np.asarray(line_ratio, dtype=np.float64)
        if self._average is None or self._average.shape != r.shape or bin_hz != self._bin_hz:
            self._average = np.zeros(r.shape, dtype=np.float64)
            self._bin_hz = bin_hz
            self._frames = 0
        if r.shape[0] < 3:
            return
        inner = r[1:-1]
        peak = inner >= c.line_ratio
        peak &= inner >= r[:-2]
        peak &= inner >= r[2:]
        a = self._average
        a *= 1.0 - 1.0 / c.tau_frames  # the average of the 0/1 peak flags
        held = a[1:-1]
        np.add(held, 1.0 / c.tau_frames, out=held, where=peak)
        self._frames += 1

    def mask(self) -> Mask | None:
        """The plant-line bins with their guard bins (None before `min_frames` frames of
        one shape, or when no bin holds a steady line)."""
        c = self.config
        a = self._average
        if a is None or self._frames < c.min_frames or a.shape[0] < 3:
            return None
        neighbour = np.zeros_like(a)
        np.maximum(a[:-2], a[2:], out=neighbour[1:-1])
        # the line's own bin: the larger of a pair that holds it (either, for a tie)
        plant = (a + neighbour >= c.occupancy) & (a >= neighbour)
        if not plant.any():
            return None
        mask = plant.copy()
        for g in range(1, c.guard_bins + 1):
            mask[g:] |= plant[:-g]
            mask[:-g] |= plant[g:]
        return mask


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
        and abs(math.log(m.f0_hz / detection.f0_hz)) <= config.f0_tolerance
    ]
    if same:
        return dataclasses.replace(detection, confidence=min(detection.confidence, max(same)))
    return dataclasses.replace(detection, signature=PLANT_SIGNATURE, kind="other")
