"""Which frames become an alert's evidence: strongest wins, work is capped, memory bounded."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from scipy.io import wavfile

from sensor_hub.codec import Frame
from sensor_hub.evidence_capture import CaptureSettings, EvidenceCapture, EvidenceJob, render_job
from sensor_hub.png import png_size
from sensor_hub.schemas import Detection, FrameHeader
from sensor_hub.testing import FakeClock

T0_NS = 1_767_225_600 * 10**9
AUDIO_FS = 8000


def rf_frame(seq: int, *, sensor: str = "rf-1") -> Frame:
    h = FrameHeader(
        site="s", sensor_id=sensor, seq=seq, kind="iq", t0_ns=T0_NS + seq * 200_000_000,
        sample_rate_hz=1e6, datatype="cf32_le", num_samples=4096, center_freq_hz=2.44e9,
    )  # fmt: skip
    rng = np.random.default_rng(seq)
    iq = (rng.normal(size=(1, 4096)) + 1j * rng.normal(size=(1, 4096))) * 1e-3
    return Frame(h, iq.astype(np.complex64))


def audio_frame(seq: int, *, t0_ns: int | None = None, fs: int = AUDIO_FS) -> Frame:
    h = FrameHeader(
        site="s", sensor_id="mic-1", seq=seq, kind="audio",
        t0_ns=T0_NS + seq * 10**9 if t0_ns is None else t0_ns,
        sample_rate_hz=fs, datatype="rf32_le", num_samples=fs, full_scale_db_spl=120,
    )  # fmt: skip
    # each frame holds its own sequence number: the clip shows which frames it kept
    return Frame(h, np.full((1, fs), seq / 100, dtype=np.float32))


def det(frame: Frame, snr_db: float, **kw: Any) -> Detection:
    h = frame.header
    fields: dict[str, Any] = {
        "site": h.site, "sensor_id": h.sensor_id, "modality": h.modality,
        "kind": "drone", "signature": "elrs_2g4" if h.kind == "iq" else "rotor_harmonics",
        "t_start": h.t0, "t_end": h.t0 + timedelta(seconds=h.duration_s),
        "confidence": 0.9, "snr_db": snr_db, "frame_seq": h.seq,
    }  # fmt: skip
    fields.update(kw)
    return Detection(**fields)


def snrs(jobs: list[EvidenceJob]) -> list[float]:
    return [j.detection.snr_db for j in jobs]


def test_strongest_rf_frame_wins_at_most_one_render_per_interval() -> None:
    clock = FakeClock()
    capture = EvidenceCapture(clock, CaptureSettings(min_interval_s=5.0, improve_db=3.0))
    f1 = rf_frame(1)
    first = capture.offer(f1, [(det(f1, 10.0), "a1")])
    assert snrs(first) == [10.0] and first[0].samples[0] is f1.samples
    clock.advance(0.2)
    f2 = rf_frame(2)
    assert capture.offer(f2, [(det(f2, 20.0), "a1")]) == []  # the first is still in flight
    capture.finished(first[0], stored=True)
    clock.advance(0.2)
    f3 = rf_frame(3)
    # 20 dB is >= 3 dB better than the last render: at once, despite the interval
    (second,) = capture.offer(f3, [(det(f3, 5.0), "a1")])
    assert second.detection.snr_db == 20.0 and second.header.seq == 2
    capture.finished(second, stored=True)
    clock.advance(0.2)
    f4, f5, f6 = rf_frame(4), rf_frame(5), rf_frame(6)
    assert capture.offer(f4, [(det(f4, 21.0), "a1")]) == []  # better, but by < 3 dB: waits
    assert capture.offer(f5, [(det(f5, 22.0), "a1")]) == []  # becomes the waiting one
    assert capture.offer(f6, [(det(f6, 19.0), "a1")]) == []  # weaker than the best: ignored
    assert capture.due() == []
    clock.advance(5.0)
    waited = capture.due()
    assert snrs(waited) == [22.0] and waited[0].header.seq == 5
    assert capture.due() == []


def test_each_alert_and_modality_has_its_own_slot_and_unlinked_frames_wait() -> None:
    clock = FakeClock()
    capture = EvidenceCapture(clock)
    f1 = rf_frame(1)
    # heard before the alert existed (persistence needs several frames), and stronger
    assert capture.offer(f1, [(det(f1, 30.0), None)]) == []
    clock.advance(0.2)
    f2 = rf_frame(2, sensor="rf-2")
    jobs = capture.offer(
        f2,
        [
            (det(f2, 12.0), "a1"),
            (det(f2, 25.0, kind="handset", signature="gsm_uplink"), "a2"),
            (det(f2, 40.0, kind="other", signature="wifi"), None),
        ],
    )
    by_alert = {(j.alert_id, j.modality): j for j in jobs}
    assert set(by_alert) == {("a1", "rf"), ("a2", "rf")}
    assert by_alert[("a1", "rf")].detection.snr_db == 30.0  # the earlier, stronger frame
    assert by_alert[("a1", "rf")].header.sensor_id == "rf-1"
    assert by_alert[("a2", "rf")].detection.snr_db == 25.0


def test_audio_clip_is_the_last_ten_contiguous_seconds_ending_with_the_detection() -> None:
    clock = FakeClock()
    capture = EvidenceCapture(clock)
    for seq in range(1, 13):
        frame = audio_frame(seq)
        links = [(det(frame, 3.0), "a1")] if seq == 12 else []
        jobs = capture.offer(frame, links)
        clock.advance(1.0)
    assert len(jobs) == 1 and jobs[0].modality == "acoustic"
    job = jobs[0]
    assert [round(float(s[0, 0]) * 100) for s in job.samples] == list(range(3, 13))
    assert job.clip_t0 == audio_frame(3).header.t0
    info, wav = render_job(job, clock())
    rate, pcm = wavfile.read(io.BytesIO(wav))
    assert rate == AUDIO_FS and pcm.shape == (10 * AUDIO_FS,)
    assert info.media_type == "audio/wav" and info.duration_s == 10.0
    assert info.t == job.clip_t0 and info.size_bytes == len(wav)
    assert (info.alert_id, info.sensor_id, info.snr_db, info.frame_seq) == ("a1", "mic-1", 3.0, 12)


@pytest.mark.parametrize(
    "broken",
    [
        audio_frame(5, t0_ns=T0_NS + 7 * 10**9),  # a two-second gap
        audio_frame(5, t0_ns=T0_NS + 3 * 10**9),  # overlaps (a replay, a clock step)
        audio_frame(4, fs=16_000),  # another sample rate
    ],
)
def test_audio_ring_restarts_when_the_stream_is_not_contiguous(broken: Frame) -> None:
    clock = FakeClock()
    capture = EvidenceCapture(clock)
    for seq in range(1, 4):
        capture.offer(audio_frame(seq), [])
    jobs = capture.offer(broken, [(det(broken, 6.0), "a1")])
    assert len(jobs) == 1 and len(jobs[0].samples) == 1
    assert jobs[0].clip_t0 == broken.header.t0


def test_rf_render_describes_the_image() -> None:
    clock = FakeClock()
    capture = EvidenceCapture(clock)
    frame = rf_frame(7)
    (job,) = capture.offer(frame, [(det(frame, 17.5), "a9")])
    info, png = render_job(job, clock())
    assert info.media_type == "image/png" and png_size(png) == (info.width_px, info.height_px)
    assert info.freq_min_hz == pytest.approx(2.44e9 - 0.5e6)
    assert info.freq_max_hz == pytest.approx(2.44e9 + 0.5e6)
    assert info.t == frame.header.t0 and info.duration_s == pytest.approx(4096 / 1e6)
    assert (info.signature, info.snr_db, info.frame_seq) == ("elrs_2g4", 17.5, 7)


def test_a_failed_render_lets_a_later_frame_try_and_idle_state_is_forgotten() -> None:
    clock = FakeClock()
    capture = EvidenceCapture(clock, CaptureSettings(idle_s=60.0))
    f1, f2 = rf_frame(1), rf_frame(2)
    (job,) = capture.offer(f1, [(det(f1, 20.0), "a1")])
    capture.finished(job, stored=False)
    clock.advance(5.0)
    (retry,) = capture.offer(f2, [(det(f2, 15.0), "a1")])
    assert retry.detection.snr_db == 15.0
    capture.offer(rf_frame(3), [(det(rf_frame(3), 30.0), None)])
    for seq in range(3, 6):
        capture.offer(audio_frame(seq), [])
    assert capture.held() == {"alerts": 1, "audio_sensors": 1, "rf_candidates": 1}
    clock.advance(61.0)
    capture.due()
    assert capture.held() == {"alerts": 1, "audio_sensors": 0, "rf_candidates": 0}  # in flight
    capture.finished(retry, stored=True)
    capture.due()
    assert capture.held() == {"alerts": 0, "audio_sensors": 0, "rf_candidates": 0}


def test_audio_rings_stay_within_their_memory_cap() -> None:
    clock = FakeClock()
    one_frame = AUDIO_FS * 4  # bytes of one second of float32 mono
    capture = EvidenceCapture(clock, CaptureSettings(max_audio_bytes=5 * one_frame))
    for seq in range(1, 4):
        capture.offer(audio_frame(seq), [])
    other = Frame(
        audio_frame(1).header.model_copy(update={"sensor_id": "mic-2"}), audio_frame(1).samples
    )
    capture.offer(other, [])
    assert capture.held()["audio_sensors"] == 2
    for seq in range(4, 8):  # mic-1 grows: mic-2, heard less recently, goes first
        clock.advance(1.0)
        capture.offer(audio_frame(seq), [])
    assert capture.held()["audio_sensors"] == 1
    frame = audio_frame(8)
    (job,) = capture.offer(frame, [(det(frame, 5.0), "a1")])
    assert len(job.samples) == 5  # then its own oldest seconds


def test_psd_frames_render_as_a_waterfall() -> None:
    clock = FakeClock()
    capture = EvidenceCapture(clock)
    h = FrameHeader(
        site="s", sensor_id="rf-psd", seq=3, kind="psd", t0_ns=T0_NS, sample_rate_hz=4.0,
        datatype="rf32_le", num_samples=8, num_channels=1024, freq_start_hz=2.4e9,
        bin_hz=100e3, num_bins=1024,
    )  # fmt: skip
    frame = Frame(h, np.full((8, 1024), -100.0, dtype=np.float32))
    (job,) = capture.offer(frame, [(det(frame, 9.0), "a1")])
    info, png = render_job(job, clock())
    assert info.media_type == "image/png" and png_size(png) == (info.width_px, info.height_px)
    assert (info.freq_min_hz, info.freq_max_hz) == (2.4e9, 2.4e9 + 1024 * 100e3)
    assert info.duration_s == 2.0
