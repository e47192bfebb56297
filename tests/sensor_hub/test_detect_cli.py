"""`sensor-hub detect`: real and simulated recordings, every SigMF IQ datatype, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sigmf
from scipy.io import wavfile

from sensor_hub.cli import main
from sensor_hub.detect_cli import acoustic_verdict
from sensor_hub.schemas import Detection
from simulator.capture import record
from simulator.demo import demo_scenario
from tests.conftest import SHARED_DATA, require_shared_data

GSM_META = SHARED_DATA / "rf" / "gsm-uplink" / "iq-ul-4bursts.sigmf-meta"
GSM_RATE = 1083333.3333333333


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["detect", *argv])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_real_gsm_uplink_is_one_handset_with_its_four_bursts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_shared_data()
    code, lines, _ = _run(capsys, str(GSM_META))
    assert code == 0
    assert len(lines) == 1, lines
    d = lines[0]
    assert (d["kind"], d["signature"], d["burst_count"]) == ("handset", "gsm_uplink", 4)
    # the bursts are annotated at samples 385 ... 15 000 + 385 + 604 (4.615 ms apart)
    assert d["t_start"] == pytest.approx(385 / GSM_RATE, abs=30e-6)
    assert d["t_end"] == pytest.approx((3 * 5000 + 385 + 604) / GSM_RATE, abs=60e-6)
    assert d["freq_hz"] == pytest.approx(890.2e6, abs=30e3)
    assert d["confidence"] >= 0.9 and d["snr_db"] > 30
    assert {"file", "t_start", "t_end", "confidence", "snr_db", "freq_hz", "bandwidth_hz"} <= set(d)

    code, lines, _ = _run(capsys, "--summary", str(GSM_META))
    assert code == 0
    assert lines == [
        {"file": str(GSM_META), "signatures": ["gsm_uplink"], "detections": 1,
         "duration_s": pytest.approx(19152 / GSM_RATE, abs=1e-6)}
    ]  # fmt: skip


def _write_sigmf(tmp: Path, name: str, iq: np.ndarray, datatype: str, fc: float | None) -> Path:
    data = tmp / f"{name}.sigmf-data"
    if datatype == "cf32_le":
        iq.astype("<c8").tofile(data)
    elif datatype == "cf64_le":
        iq.astype("<c16").tofile(data)
    else:
        scale, dt = {"ci16_le": (32767, "<i2"), "ci8": (127, "i1"), "cu8": (127, "u1")}[datatype]
        inter = np.empty(2 * len(iq), dtype=np.float64)
        inter[0::2], inter[1::2] = iq.real, iq.imag
        values = np.clip(np.round(inter * scale), -scale, scale)
        if datatype == "cu8":
            values += 128
        values.astype(dt).tofile(data)
    capture: dict[str, Any] = {"core:sample_start": 0}
    if fc is not None:
        capture["core:frequency"] = fc
    meta = sigmf.SigMFFile(
        data_file=str(data),
        global_info={
            "core:datatype": datatype,
            "core:sample_rate": GSM_RATE,
            "core:version": "1.2.0",
        },
        skip_checksum=True,
    )
    meta.add_capture(0, capture)
    meta.tofile(str(tmp / f"{name}.sigmf-meta"))
    return tmp / f"{name}.sigmf-meta"


@pytest.mark.parametrize("datatype", ["cf32_le", "cf64_le", "ci16_le", "ci8", "cu8"])
def test_any_sigmf_datatype_and_the_centre_frequency_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, datatype: str
) -> None:
    require_shared_data()
    iq = sigmf.fromfile(str(GSM_META), skip_checksum=True).read_samples()
    iq = iq / (2.0 * np.max(np.abs(iq)))  # half scale: integer types keep the bursts
    if datatype in ("ci8", "cu8"):  # an 8-bit SDR's gain puts its noise over a few LSB
        rng = np.random.default_rng(8)
        iq = iq + (rng.standard_normal(len(iq)) + 1j * rng.standard_normal(len(iq))) * 2 / 127
    meta = _write_sigmf(tmp_path, f"gsm-{datatype}", iq, datatype, fc=None)
    code, lines, err = _run(capsys, str(meta))
    assert code == 2 and "--center-freq" in err and lines == []
    code, lines, _ = _run(capsys, "--center-freq", "890.2e6", str(meta))
    assert code == 0
    assert [(d["signature"], d["burst_count"]) for d in lines] == [("gsm_uplink", 4)]


def test_simulated_capture_directory_and_wav(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record(demo_scenario(seed=2), tmp_path, duration_s=6.0)
    code, lines, _ = _run(capsys, str(tmp_path))
    assert code == 0
    by_sensor: dict[str, set[str]] = {}
    for d in lines:
        by_sensor.setdefault(d["sensor_id"], set()).add(d["signature"])
        assert 0.0 <= d["t_start"] <= d["t_end"] <= 6.0 + 1e-6
    assert "elrs_2g4" in by_sensor["rf-wall-n"]  # the demo drone's control link
    assert "gsm_uplink" in by_sensor["rf-cellblock-a"]  # the call starts at 1 s
    code, lines, _ = _run(capsys, "--summary", str(tmp_path))
    assert code == 0
    files = {Path(s["file"]).name: s for s in lines}
    assert "gsm_uplink" in files["rf-cellblock-a.sigmf-meta"]["signatures"]
    # the drone is far away and silent to the microphone in the first seconds
    assert files["mic-wall-n.wav"]["drone"] is False


def test_wav_summary_fields_and_noise_is_not_a_drone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    wav = tmp_path / "noise.wav"
    wavfile.write(wav, 16000, (rng.standard_normal(16000 * 5) * 1000).astype(np.int16))
    code, lines, _ = _run(capsys, "--summary", str(wav))
    assert code == 0
    assert lines == [
        {"file": str(wav), "signatures": [], "detections": 0, "duration_s": 5.0,
         "drone": False, "confidence": 0.0, "f0_hz": None}
    ]  # fmt: skip


def test_errors_name_the_file_and_other_files_still_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    require_shared_data()
    bad = tmp_path / "nothing.wav"
    bad.write_bytes(b"RIFF not really")
    code, lines, err = _run(capsys, "--summary", str(bad), str(tmp_path / "missing.sigmf-meta"),
                            str(GSM_META))  # fmt: skip
    assert code == 2
    assert "nothing.wav" in err and "missing.sigmf-meta" in err
    assert [line["signatures"] for line in lines] == [["gsm_uplink"]]


def _det(t: float, confidence: float, kind: str = "drone", f0_hz: float | None = None) -> Detection:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=t)
    return Detection(
        site="s", sensor_id="m", modality="acoustic", kind=kind, signature="rotor_harmonics",
        t_start=t0, t_end=t0 + timedelta(seconds=1), confidence=confidence, snr_db=10.0,
        f0_hz=180.0 + t if f0_hz is None else f0_hz,
    )  # fmt: skip


def test_acoustic_verdict_needs_stage_two_persistence() -> None:
    # 4 confident frames within 8 s: a drone; the median confidence and f0
    drone, conf, f0 = acoustic_verdict([_det(t, 0.8) for t in (0, 2, 4, 6)])
    assert (drone, conf, f0) == (True, 0.8, 183.0)
    # 4 frames spread over 12 s, or 3 frames: not a drone, confidence under the cut
    for dets in ([_det(t, 0.9) for t in (0, 4, 8, 12)], [_det(t, 0.9) for t in (0, 1, 2)]):
        drone, conf, _ = acoustic_verdict(dets)
        assert drone is False and conf < 0.5
    assert acoustic_verdict([]) == (False, 0.0, None)


def test_acoustic_verdict_counts_frames_of_one_rotor_track() -> None:
    """As stage 2: four confident frames whose f0 jumps between unrelated values are no
    drone; one f0 track with flight jumps and an octave read is."""
    jumping = [
        _det(t, 0.9, f0_hz=f)
        for t, f in zip((0, 1, 2, 3), (174.0, 114.0, 172.0, 114.0), strict=True)
    ]
    assert acoustic_verdict(jumping)[0] is False
    flying = [
        _det(t, 0.9, f0_hz=f)
        for t, f in zip((0, 1, 2, 3), (184.0, 140.0, 290.0, 181.0), strict=True)
    ]
    assert acoustic_verdict(flying) == (True, 0.9, 182.5)  # the f0 of the track's frames
    # a frame without a fundamental does not reset the track's: 120 Hz is another source
    f0s = (180.0, 0.0, 120.0, 121.0, 122.0)
    gap = [_det(t, 0.9, f0_hz=f) for t, f in zip(range(5), f0s, strict=True)]
    assert acoustic_verdict(gap)[0] is False


def test_acoustic_verdict_asks_six_frames_of_a_rotor_under_110_hz() -> None:
    """As stage 2 (`FusionSettings.acoustic_frames_needed`): a track whose median f0 lies
    under 110 Hz needs 6 frames within 8 s; an octave read counts at the track's f0."""
    f0s = (102.0, 104.0, 206.0, 101.0, 103.0, 102.0)
    five = [_det(t, 0.9, f0_hz=f) for t, f in zip(range(5), f0s[:5], strict=True)]
    drone, conf, _ = acoustic_verdict(five)
    assert drone is False and conf < 0.5
    six = [_det(t, 0.9, f0_hz=f) for t, f in zip(range(6), f0s, strict=True)]
    assert acoustic_verdict(six)[0] is True
    assert acoustic_verdict([_det(t, 0.9, f0_hz=115.0) for t in range(4)])[0] is True
    octave_low_first = (106.5, 213.0, 212.0, 214.0)
    dets = [_det(t, 0.9, f0_hz=f) for t, f in zip(range(4), octave_low_first, strict=True)]
    assert acoustic_verdict(dets)[0] is True
