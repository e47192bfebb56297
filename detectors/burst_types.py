"""The measured burst, shared by segmentation (`bursts`), `carriers` and `splatter`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Burst:
    """One time-frequency burst measured on a spectrogram.

    Times in s from the first sample; frequencies are baseband offsets in Hz.
    snr_db: in-band SNR per sample (excess power over noise in the occupied band).
    mean_power_dbfs / peak_power_dbfs: in-band signal power (noise removed), mean over the
    burst and highest frame, dB re full scale (|x|^2 = 1).
    cut_start / cut_end: the burst touches the first / last spectrogram frame, so it may
    have begun before / lasted beyond the snapshot: its duration is only a lower bound.
    fill: share of the burst's box cells 6 dB or more over the floor: ~1 for a strong
    block (OFDM, noise-like), small for a line sweeping across the box (an oven).
    tracked: found only against the sensor's receiver-shape history (`floor_track`), which
    can be wrong: `detect_rf` reports it as an emitter of its own, under the alert cut.
    """

    t_start_s: float
    duration_s: float
    freq_offset_hz: float
    bandwidth_hz: float
    snr_db: float
    mean_power_dbfs: float
    peak_power_dbfs: float
    cells: int
    cut_start: bool = False
    cut_end: bool = False
    fill: float = 1.0
    tracked: bool = False

    @property
    def truncated(self) -> bool:
        return self.cut_start or self.cut_end

    @property
    def t_end_s(self) -> float:
        return self.t_start_s + self.duration_s
