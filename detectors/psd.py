"""Detector for swept power spectra (PSD frames from sweeping analysers).

Per spectrum: noise floor from an order statistic across bins (most bins hold noise),
threshold from the per-bin Pfa for `averages` averaged periodograms (Gamma law, `cfar`),
then connected occupied regions over (spectrum, bin) are emitters, labelled by band and
bandwidth only (no timing: a sweep cannot resolve bursts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special

from detectors.cfar import known_noise_threshold
from detectors.rf import RfDetection
from detectors.rf_labels import DEFAULT_RULES, UNKNOWN, LabelRule, label_by_band
from detectors.units import power_to_db


@dataclass(frozen=True, slots=True)
class PsdConfig:
    """Settings of `detect_psd`.

    averages: periodograms averaged into each reported bin by the analyser (sets the noise
      law Gamma(averages)); pfa: per-bin false-alarm probability; floor_quantile: order
      statistic across bins used as the noise estimate; min_bins: narrowest region kept.
    """

    pfa: float = 1e-6
    averages: int = 1
    floor_quantile: float = 0.5
    min_bins: int = 2
    merge_bins: int = 1
    rules: tuple[LabelRule, ...] = field(default=DEFAULT_RULES)


def _floor_mw(spectra_mw: NDArray[np.float64], config: PsdConfig) -> NDArray[np.float64]:
    """(n_spectra,) noise mean per spectrum in mW from the floor_quantile across bins."""
    n = spectra_mw.shape[1]
    k = min(n - 1, max(0, round(config.floor_quantile * (n - 1))))
    kth = np.partition(spectra_mw, k, axis=1)[:, k]
    m = float(config.averages)
    # q-quantile of Gamma(m, 1/m) (unit mean) turns the order statistic into a mean
    unit_quantile = float(special.gammaincinv(m, (k + 0.5) / n)) / m
    return np.maximum(kth / unit_quantile, 1e-30)


def detect_psd(
    spectra_dbm: NDArray[Any],
    freq_start_hz: float,
    bin_hz: float,
    frame_rate_hz: float,
    *,
    config: PsdConfig = PsdConfig(),
) -> list[RfDetection]:
    """Detect occupied bands in a frame of power spectra.

    spectra_dbm: (n_spectra, n_bins) float32, dBm per bin, bin i centred at
    freq_start_hz + i * bin_hz; frame_rate_hz: spectra per second (time of spectrum j is
    j / frame_rate_hz from the first). Returns one `RfDetection` per connected occupied
    region (rssi_dbm = mean in-band power; burst_count = spectra it spans).
    """
    s = np.asarray(spectra_dbm, dtype=np.float64)
    if s.ndim == 1:
        s = s[np.newaxis, :]
    if s.ndim != 2:
        raise ValueError(f"spectra_dbm must be (n_spectra, n_bins), got {s.shape=}")
    if s.shape[1] < 8:
        return []  # too few bins to tell a noise floor from a signal
    if bin_hz <= 0 or frame_rate_hz <= 0:
        raise ValueError(f"bin_hz and frame_rate_hz must be > 0: {bin_hz=}, {frame_rate_hz=}")
    mw = np.power(10.0, s / 10.0)
    floor = _floor_mw(mw, config)[:, None]
    threshold = known_noise_threshold(config.pfa, float(config.averages))
    hot = mw > threshold * floor
    if config.merge_bins > 0:
        hot = ndimage.binary_closing(hot, structure=np.ones((1, 2 * config.merge_bins + 1), bool))
    labels, count = ndimage.label(hot, structure=np.ones((3, 3), dtype=bool))
    detections = []
    for ts, fs in ndimage.find_objects(labels)[:count]:
        if fs.stop - fs.start < config.min_bins:
            continue
        block = mw[ts, fs]
        noise = np.broadcast_to(floor[ts], block.shape)
        excess = np.clip(block - noise, 0.0, None)
        profile = excess.mean(axis=0)
        total = float(profile.sum())
        if total <= 0.0:
            continue
        centre_bin = fs.start + float(np.sum(profile * np.arange(profile.shape[0])) / total)
        freq_hz = freq_start_hz + centre_bin * bin_hz
        bandwidth_hz = (fs.stop - fs.start) * bin_hz
        label = label_by_band(freq_hz, bandwidth_hz, config.rules)
        snr = float(excess.sum() / noise.sum())
        confidence = 0.4 + 0.3 * float(np.clip(power_to_db(snr) / 20.0, 0.0, 1.0))
        confidence *= 0.5 if label.signature == UNKNOWN else 1.0
        detections.append(
            RfDetection(
                signature=label.signature,
                kind=label.kind,
                t_start_s=ts.start / frame_rate_hz,
                t_end_s=ts.stop / frame_rate_hz,
                freq_hz=freq_hz,
                bandwidth_hz=bandwidth_hz,
                snr_db=power_to_db(snr),
                rssi_dbm=power_to_db(float(excess.sum(axis=1).mean())),
                confidence=round(confidence, 3),
                burst_count=ts.stop - ts.start,
            )
        )
    detections.sort(key=lambda d: (d.t_start_s, d.freq_hz))
    return detections
