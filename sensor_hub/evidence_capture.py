"""Which frames become an alert's evidence, and rendering them (no I/O, no event loop).

The hub offers every accepted frame after stage 2 (`EvidenceCapture.offer`) together with
`Fusion.links` (each detection and the alert it now belongs to). For each alert and
modality the capture keeps the strongest detection's media:

- RF: the spectrogram PNG of the frame with the alert's highest-SNR RF detection. Frames
  heard before the alert existed (persistence needs several) are remembered briefly,
  the best per (site, kind, signature), and considered when the alert appears.
- acoustic: a WAV of the sensor's last `clip_s` seconds of contiguous audio, ending with
  the frame of the alert's highest-SNR acoustic detection. Each audio sensor has a ring
  of frames covering at most `clip_s` seconds (references to the decoded arrays).

Work is capped: at most one render per alert and modality per `min_interval_s`, unless
the SNR beats the last render by `improve_db`; one render per slot at a time. A better
candidate that has to wait is kept as the slot's `pending` one (a frame reference) and
handed out by `due()` once the interval has passed. Memory is bounded: rings by
duration and sensor count, candidates and slots by age and count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensor_hub.codec import Frame
from sensor_hub.evidence import iq_spectrogram_png, psd_spectrogram_png, wav_clip
from sensor_hub.schemas import Detection, EvidenceInfo, FrameHeader, Modality

__all__ = ["CaptureSettings", "EvidenceCapture", "EvidenceJob", "render_job"]

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    clip_s: float = 10.0
    min_interval_s: float = 5.0
    improve_db: float = 3.0
    #: how long an RF frame heard before its alert existed stays a candidate
    candidate_s: float = 15.0
    #: one per (site, kind, signature): a 20 ms frame at 25 MS/s is 4 MB decoded
    max_candidates: int = 8
    max_audio_sensors: int = 64
    #: all audio rings together (10 s of 16 kHz mono is 640 kB; 8 channels at 48 kHz, 15 MB)
    max_audio_bytes: int = 64 * 1024 * 1024
    #: forget audio rings, and slots of alerts without news, after this long
    idle_s: float = 600.0


@dataclass(frozen=True, slots=True)
class EvidenceJob:
    """One render: the detection that earned it and the samples to render."""

    alert_id: str
    modality: Modality
    detection: Detection
    header: FrameHeader  # the frame of `detection` (audio: the clip's last frame)
    samples: tuple[NDArray[Any], ...]  # RF: the frame; audio: contiguous frames, oldest first
    clip_t0: datetime  # start of the first samples


@dataclass(slots=True)
class _Slot:
    """Evidence state of one (alert, modality)."""

    best_db: float = float("-inf")  # rendered or in flight
    stored_db: float = float("-inf")  # known to be in the store
    last_render: datetime | None = None
    in_flight: bool = False
    pending: EvidenceJob | None = None
    seen: datetime | None = None


@dataclass(slots=True)
class _AudioRing:
    sample_rate_hz: float
    channels: int
    frames: deque[Frame] = field(default_factory=deque)
    samples: int = 0
    nbytes: int = 0
    last: datetime | None = None

    def end_ns(self) -> int:
        h = self.frames[-1].header
        return h.t0_ns + round(h.num_samples / h.sample_rate_hz * 1e9)


def _strongest(links: Iterable[tuple[Detection, str | None]]) -> dict[tuple[str, str], Detection]:
    best: dict[tuple[str, str], Detection] = {}
    for det, alert_id in links:
        if alert_id is None:
            continue
        key = (alert_id, det.modality)
        if key not in best or det.snr_db > best[key].snr_db:
            best[key] = det
    return best


class EvidenceCapture:
    def __init__(self, clock: Clock, settings: CaptureSettings = CaptureSettings()) -> None:
        self._clock = clock
        self._settings = settings
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._rings: dict[tuple[str, str], _AudioRing] = {}
        #: (site, kind, signature) -> best RF frame not (yet) linked to an alert
        self._candidates: dict[tuple[str, str, str], tuple[datetime, EvidenceJob]] = {}

    # ---- input

    def offer(
        self, frame: Frame, links: Iterable[tuple[Detection, str | None]]
    ) -> list[EvidenceJob]:
        """One accepted frame and where its detections went: the renders to start now."""
        now = self._clock()
        links = [(d, a) for d, a in links if d.sensor_id == frame.header.sensor_id]
        if frame.header.kind == "audio":
            self._push_audio(frame, now)
        else:
            self._remember_candidates(frame, links, now)
        for (alert_id, modality), det in _strongest(links).items():
            slot = self._slots.get((alert_id, modality))
            if slot is None:
                slot = self._slots[(alert_id, modality)] = _Slot()
                if modality == "rf":  # a new alert: frames that built up to it compete too
                    for earlier in self._claim_candidates(alert_id, links):
                        self._consider(slot, earlier)
            current = self._job(alert_id, modality, det, frame)
            if current is not None:
                self._consider(slot, current)
            slot.seen = now
        return self.due()

    def due(self) -> list[EvidenceJob]:
        """Renders that may start now (pending ones whose interval has passed); prunes."""
        now = self._clock()
        jobs = []
        for key, slot in list(self._slots.items()):
            pending = slot.pending
            if pending is not None and self._may_render(slot, pending, now):
                jobs.append(self._launch(slot, pending, now))
            elif (
                not slot.in_flight
                and slot.pending is None
                and slot.seen is not None
                and (now - slot.seen).total_seconds() > self._settings.idle_s
            ):
                del self._slots[key]
        self._prune(now)
        return jobs

    def finished(self, job: EvidenceJob, stored: bool) -> None:
        """A render ended (stored, or failed / beaten by a stored item)."""
        slot = self._slots.get((job.alert_id, job.modality))
        if slot is None:
            return
        slot.in_flight = False
        if stored:
            slot.stored_db = max(slot.stored_db, job.detection.snr_db)
        else:
            slot.best_db = slot.stored_db  # let a later frame try again

    def held(self) -> dict[str, int]:
        """What the capture holds in memory (for metrics and tests)."""
        return {
            "alerts": len(self._slots),
            "audio_sensors": len(self._rings),
            "rf_candidates": len(self._candidates),
        }

    # ---- decisions

    def _may_render(self, slot: _Slot, job: EvidenceJob, now: datetime) -> bool:
        if slot.in_flight:
            return False
        if (
            slot.last_render is None
            or job.detection.snr_db >= slot.best_db + self._settings.improve_db
        ):
            return True
        return (now - slot.last_render).total_seconds() >= self._settings.min_interval_s

    def _consider(self, slot: _Slot, job: EvidenceJob) -> None:
        snr = job.detection.snr_db
        if snr <= slot.best_db:
            return
        if slot.pending is not None and snr <= slot.pending.detection.snr_db:
            return
        slot.pending = job  # `due()` (called at the end of `offer`) launches it when allowed

    def _launch(self, slot: _Slot, job: EvidenceJob, now: datetime) -> EvidenceJob:
        slot.pending = None
        slot.in_flight = True
        slot.best_db = job.detection.snr_db
        slot.last_render = now
        return job

    # ---- frames

    def _job(
        self, alert_id: str, modality: str, det: Detection, frame: Frame
    ) -> EvidenceJob | None:
        h = frame.header
        if modality == "acoustic":
            ring = self._rings.get((h.site, h.sensor_id))
            if h.kind != "audio" or ring is None or not ring.frames:
                return None
            frames = tuple(ring.frames)
            return EvidenceJob(
                alert_id, "acoustic", det, h, tuple(f.samples for f in frames), frames[0].header.t0
            )
        if h.kind == "audio":
            return None
        return EvidenceJob(alert_id, "rf", det, h, (frame.samples,), h.t0)

    def _push_audio(self, frame: Frame, now: datetime) -> None:
        h = frame.header
        key = (h.site, h.sensor_id)
        ring = self._rings.get(key)
        contiguous = ring is not None and (
            ring.sample_rate_hz == h.sample_rate_hz
            and ring.channels == h.num_channels
            # within a quarter frame of where the last one ended: no gap, no overlap
            and abs(h.t0_ns - ring.end_ns()) <= h.duration_s * 0.25e9
        )
        if ring is None or not contiguous:
            if ring is None and len(self._rings) >= self._settings.max_audio_sensors:
                oldest = min(self._rings, key=lambda k: self._rings[k].last or now)
                del self._rings[oldest]
            ring = self._rings[key] = _AudioRing(h.sample_rate_hz, h.num_channels)
        ring.frames.append(frame)
        ring.samples += h.num_samples
        ring.nbytes += frame.samples.nbytes
        ring.last = now
        limit = self._settings.clip_s * h.sample_rate_hz
        while len(ring.frames) > 1 and ring.samples - ring.frames[0].header.num_samples >= limit:
            dropped = ring.frames.popleft()
            ring.samples -= dropped.header.num_samples
            ring.nbytes -= dropped.samples.nbytes
        # over the memory cap: forget the rings heard from least recently, then this one's past
        while sum(r.nbytes for r in self._rings.values()) > self._settings.max_audio_bytes:
            others = [k for k in self._rings if k != key]
            if others:
                del self._rings[min(others, key=lambda k: self._rings[k].last or now)]
            elif len(ring.frames) > 1:
                dropped = ring.frames.popleft()
                ring.samples -= dropped.header.num_samples
                ring.nbytes -= dropped.samples.nbytes
            else:
                break

    def _remember_candidates(
        self, frame: Frame, links: list[tuple[Detection, str | None]], now: datetime
    ) -> None:
        for det, alert_id in links:
            if alert_id is not None or det.kind == "other" or det.modality != "rf":
                continue
            key = (det.site, det.kind, det.signature)
            held = self._candidates.get(key)
            if held is None or det.snr_db > held[1].detection.snr_db:
                job = EvidenceJob("", "rf", det, frame.header, (frame.samples,), frame.header.t0)
                self._candidates[key] = (now, job)
        while len(self._candidates) > self._settings.max_candidates:
            oldest = min(self._candidates, key=lambda k: self._candidates[k][0])
            del self._candidates[oldest]

    def _claim_candidates(
        self, alert_id: str, links: list[tuple[Detection, str | None]]
    ) -> list[EvidenceJob]:
        keys = {(d.site, d.kind, d.signature) for d, a in links if a == alert_id}
        claimed = [self._candidates.pop(k)[1] for k in keys if k in self._candidates]
        return [
            EvidenceJob(alert_id, "rf", j.detection, j.header, j.samples, j.clip_t0)
            for j in claimed
        ]

    def _prune(self, now: datetime) -> None:
        horizon = timedelta(seconds=self._settings.candidate_s)
        for old in [k for k, (at, _) in self._candidates.items() if now - at > horizon]:
            del self._candidates[old]
        idle = timedelta(seconds=self._settings.idle_s)
        for key in [
            k for k, r in self._rings.items() if r.last is not None and now - r.last > idle
        ]:
            del self._rings[key]


def render_job(job: EvidenceJob, created_at: datetime) -> tuple[EvidenceInfo, bytes]:
    """Render a job's media (CPU work: run it off the event loop)."""
    h, det = job.header, job.detection
    common: dict[str, Any] = {
        "alert_id": job.alert_id,
        "modality": job.modality,
        "site": h.site,
        "sensor_id": h.sensor_id,
        "signature": det.signature,
        "snr_db": det.snr_db,
        "frame_seq": h.seq,
        "sample_rate_hz": h.sample_rate_hz,
        "channels": h.num_channels,
        "created_at": created_at,
    }
    if job.modality == "acoustic":
        clip = wav_clip(np.concatenate(job.samples, axis=1), h.sample_rate_hz)
        info = EvidenceInfo(
            media_type="audio/wav",
            t=job.clip_t0 + timedelta(seconds=clip.offset_s),
            duration_s=clip.duration_s,
            size_bytes=len(clip.wav),
            **common | {"channels": clip.channels},
        )
        return info, clip.wav
    if h.kind == "psd":
        assert h.freq_start_hz is not None and h.bin_hz is not None  # checked by the schema
        image = psd_spectrogram_png(job.samples[0], h.sample_rate_hz, h.freq_start_hz, h.bin_hz)
    else:
        assert h.center_freq_hz is not None  # iq frames carry it (schema)
        image = iq_spectrogram_png(job.samples[0], h.sample_rate_hz, h.center_freq_hz)
    info = EvidenceInfo(
        media_type="image/png",
        t=job.clip_t0,
        duration_s=image.duration_s,
        size_bytes=len(image.png),
        width_px=image.width,
        height_px=image.height,
        freq_min_hz=image.freq_min_hz,
        freq_max_hz=image.freq_max_hz,
        top_db=image.top_db,
        dynamic_range_db=image.dynamic_range_db,
        **common,
    )
    return info, image.png
