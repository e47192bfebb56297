"""An oracle energy detector for the acoustic range bench: the yardstick.

It is told what no real detector knows: which 1 Hz bins the drone's sound occupies in
each frame (the simulator's signal-only render of that frame) and the ambience's exact
power spectral density (the simulator synthesises it bin by bin,
`AudioCollector.render_channels_pa`, so a rectangular-window FFT of a noise-only 1 s
frame has independent bins with |X_b|^2 / N_b ~ Exp(1) exactly; DC and, for even n, the
Nyquist bin are left out). Over the bins B it picks, the energy statistic
T = sum_B |X_b|^2 / N_b is Gamma(|B|, 1) under noise alone, so its threshold for a given
false-alarm probability is exact (`scipy.special.gammainccinv`), and with the drone's
own spectrum S_b added, 2T is noncentral chi-squared with 2|B| degrees of freedom and
noncentrality 2 sum_B S_b / N_b, so its detection probability is exact too
(`expected_pd`: no sampling noise from one draw of the ambience). B is the set of the
bins with the highest S_b / N_b that maximises the deflection sum_B (S_b / N_b) /
sqrt(|B|): an energy detector told where the signal is, as `bench/rf_quality.py`'s
oracle is for RF bursts (the deflection rule is near, not always at, the best set for a
given false-alarm probability). It does not search over f0 (no look-elsewhere cost) and
sees the unquantised samples. It bounds energy detection on 1 s frames summed
incoherently over a window, not every conceivable detector (one long coherent FFT of a
steady hover did not beat it on the bench's frames). A window of several frames is
judged on all their (frame, bin) cells at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import special

from simulator.audio_collector import AudioCollector

F64 = NDArray[np.float64]
#: cells kept per frame (by signal-to-noise ratio): far more than any optimal set holds
KEEP = 4096


def noise_power(c: AudioCollector) -> F64:
    """(n // 2 + 1,) expected |rfft|^2 of a noise-only frame of `c`, full-scale units."""
    n, fs = c.num_samples, c.sample_rate_hz
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    psd = np.asarray(c.ambience.psd(freqs), dtype=np.float64)
    # render: spec = CN(0, 2) * sqrt(psd * fs * n / 4), then / full_scale_pa
    out = 2.0 * psd * fs * n / 4.0 / c.full_scale_pa**2
    out[0] = np.inf  # the DC bin is zeroed in the render: never a cell
    if n % 2 == 0:
        out[-1] = np.inf  # the Nyquist bin is real: half the degrees of freedom
    return out


def frame_cells(signal: NDArray[np.float32], mixed: NDArray[np.float32], noise: F64) -> F64:
    """(2, KEEP) the frame's cells, best first: row 0 S_b / N_b, row 1 |X_b|^2 / N_b
    (signal: the drone alone; mixed: drone plus ambience; both (n,) full-scale)."""
    s = np.abs(np.fft.rfft(signal.astype(np.float64))) ** 2 / noise
    x = np.abs(np.fft.rfft(mixed.astype(np.float64))) ** 2 / noise
    top = np.argsort(s)[::-1][:KEEP]
    return np.stack((s[top], x[top]))


def _chosen(cells: list[F64], pfa: float) -> tuple[F64, F64, float]:
    """(S_b / N_b, |X_b|^2 / N_b) of the chosen cells, and the threshold on their sum."""
    both = np.concatenate(cells, axis=1)
    order = np.argsort(both[0])[::-1]
    snr, power = both[0, order], both[1, order]
    m = np.arange(1, snr.shape[0] + 1)
    size = int(np.argmax(np.cumsum(snr) / np.sqrt(m))) + 1
    return snr[:size], power[:size], float(special.gammainccinv(size, pfa))


def detects(cells: list[F64], pfa: float) -> bool:
    """Whether the oracle detects over these frames' cells at false-alarm probability pfa
    (on the ambience drawn for them)."""
    _, power, threshold = _chosen(cells, pfa)
    return float(np.sum(power)) > threshold


def expected_pd(cells: list[F64], pfa: float) -> float:
    """The oracle's detection probability over these frames' cells at false-alarm
    probability pfa, over all draws of the ambience (exact)."""
    snr, _, threshold = _chosen(cells, pfa)
    df, nc = 2.0 * snr.shape[0], 2.0 * float(np.sum(snr))
    return float(1.0 - special.chndtr(2.0 * threshold, df, nc))
