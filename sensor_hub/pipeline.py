"""Stage 1: one validated frame in, candidate detections out (pure, CPU-bound).

Runs in worker threads (numpy and scipy.fft release the GIL for the heavy parts)
or, later, in separate worker processes sharing an MQTT v5 subscription.

Stateless except for two optional per-sensor states, owned by the caller:
- the acoustic modulation history (`detectors.acoustic_history.HistoryRegistry`): a rotor
  comb whose sensor's recent candidate combs at about the same f0 are modulated like
  voices or music is relabelled `voice_music` (kind other), which stage 2 never alerts,
  and the frame is searched once more for a comb away from that source's f0; it also
  learns the sensor's steady machinery lines, and a comb that stands only on them is
  relabelled `generator_hvac` (kind other, `detectors.acoustic_plant`); and while the
  station is quiet it sums the sensor's recent frames (`detectors.acoustic_integrate`);
- the IQ sensors' receiver-shape references (`detectors.floor_track`): weak wide
  continuous emitters (an analogue FPV video link) that came on while the sensor ran.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from detectors.acoustic import AcousticDetection, detect_rotor, detect_with_history
from detectors.acoustic_history import HistoryRegistry
from detectors.bearing import estimate_bearing
from detectors.floor_track import FloorTrack
from detectors.psd import detect_psd
from detectors.rf import RfDetection, detect_rf
from detectors.sensor_states import SensorStates
from sensor_hub.codec import Frame
from sensor_hub.schemas import Detection, FrameHeader

RfFloorTracks = SensorStates[FloorTrack]


def _finite(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(value)


def _detection(h: FrameHeader, d: RfDetection | AcousticDetection, **extra: Any) -> Detection:
    """The fields every detector reports, placed in absolute time; `extra` adds the rest."""
    t0 = h.t0
    return Detection(
        site=h.site,
        sensor_id=h.sensor_id,
        modality="acoustic" if isinstance(d, AcousticDetection) else "rf",
        kind=d.kind,
        signature=d.signature,
        t_start=t0 + timedelta(seconds=float(d.t_start_s)),
        t_end=t0 + timedelta(seconds=float(max(d.t_end_s, d.t_start_s))),
        confidence=float(np.clip(d.confidence, 0.0, 1.0)),
        snr_db=round(float(d.snr_db), 2),
        frame_seq=h.seq,
        **extra,
    )


def _from_rf(h: FrameHeader, d: RfDetection) -> Detection:
    return _detection(
        h,
        d,
        freq_hz=_finite(d.freq_hz),
        bandwidth_hz=_finite(d.bandwidth_hz),
        rssi_dbm=_finite(d.rssi_dbm),
        burst_count=d.burst_count,
    )


#: a bearing is reported only when the array hears a coherent plane wave: diffuse noise gives
#: a steered coherence of ~0.1 (99th percentile 0.14-0.16 on 4-mic arrays); simulated drones
#: at line SNR >= 10 dB with coherence >= 0.15 have median errors of 2-4 degrees
#: (bench/acoustic_bearing.py)
MIN_BEARING_COHERENCE = 0.15


def _from_acoustic(frame: Frame, d: AcousticDetection) -> Detection:
    h = frame.header
    bearing: dict[str, float] = {}
    if h.mic_offsets_m is not None and h.num_channels >= 2:
        b = estimate_bearing(
            frame.samples, h.sample_rate_hz, np.asarray(h.mic_offsets_m), f0_hz=d.f0_hz
        )
        if b is not None and b.coherence >= MIN_BEARING_COHERENCE:
            bearing = {"bearing_deg": round(b.azimuth_deg, 2),
                       "elevation_deg": round(b.elevation_deg, 2)}  # fmt: skip
    return _detection(h, d, f0_hz=_finite(d.f0_hz), harmonics=d.harmonics, **bearing)


def rf_floor_tracks(max_sensors: int = 4096, idle_s: float = 3600.0) -> RfFloorTracks:
    """Per-sensor receiver-shape references for `detect_frame` (bounded, thread-safe)."""
    return SensorStates(FloorTrack, max_sensors, idle_s)


def detect_frame(
    frame: Frame,
    history: HistoryRegistry | None = None,
    rf_floors: RfFloorTracks | None = None,
) -> list[Detection]:
    """Run the detector for the frame's kind and convert its output to `Detection`s;
    `history`: the acoustic modulation history to consult and update (None: none);
    `rf_floors`: the IQ sensors' receiver-shape references (`rf_floor_tracks`) to test
    frames against and teach (None: none)."""
    h = frame.header
    if h.kind == "iq":
        assert h.center_freq_hz is not None  # guaranteed by FrameHeader validation
        found = detect_rf(
            frame.samples[0],
            h.sample_rate_hz,
            h.center_freq_hz,
            full_scale_dbm=h.full_scale_dbm,
            floor_track=None if rf_floors is None else rf_floors.use((h.site, h.sensor_id)),
        )
        return [_from_rf(h, d) for d in found]
    if h.kind == "audio":
        if history is None:
            heard = detect_rotor(
                frame.samples, h.sample_rate_hz, full_scale_db_spl=h.full_scale_db_spl
            )
        else:
            heard = detect_with_history(
                frame.samples, h.sample_rate_hz, (h.site, h.sensor_id), h.t0_ns / 1e9, history,
                full_scale_db_spl=h.full_scale_db_spl,
            )  # fmt: skip
        return [_from_acoustic(frame, d) for d in heard]
    assert h.freq_start_hz is not None and h.bin_hz is not None
    seen = detect_psd(frame.samples, h.freq_start_hz, h.bin_hz, h.sample_rate_hz)
    return [_from_rf(h, d) for d in seen]
