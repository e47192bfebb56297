"""Capture directories: SigMF + WAV + truth.json written by `record`, read back as frames."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import sigmf
from scipy.io import wavfile

from sensor_hub.codec import decode_frame
from simulator import capture
from simulator.capture import (
    DEFAULT_START_TIME_NS,
    CaptureError,
    iso_utc,
    parse_iso_utc_ns,
    record,
)
from simulator.capture_reader import (
    capture_frames,
    read_capture,
)
from simulator.collectors import RfCollector
from simulator.demo import demo_scenario
from simulator.plots import colormap, encode_png
from tests.conftest import SHARED_DATA, require_shared_data

DATA = SHARED_DATA
GSM_META = DATA / "rf" / "gsm-uplink" / "iq-ul-4bursts.sigmf-meta"
WAV_DIR = DATA / "acoustic" / "svanstrom-dev"
RECORD_S = 6.0  # the demo's GSM call starts within the first 5 s
START_NS = DEFAULT_START_TIME_NS + 123_456_789


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("capture")
    record(
        demo_scenario(seed=3),
        out,
        start_time_ns=START_NS,
        duration_s=RECORD_S,
        plots=True,
        checksum=True,
    )
    return out


def _sha256_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout(capture_dir: Path) -> None:
    names = {p.name for p in capture_dir.iterdir()}
    assert {
        "truth.json", "rf-wall-n.sigmf-meta", "rf-wall-n.sigmf-data",
        "rf-cellblock-a.sigmf-meta", "rf-cellblock-a.sigmf-data", "mic-wall-n.wav",
        "mic-wall-n.json", "plots",
    } <= names  # fmt: skip
    plots = {p.name for p in (capture_dir / "plots").iterdir()}
    assert {"rf-wall-n_elrs_2g4.png", "rf-cellblock-a_gsm_uplink.png", "mic-wall-n.png"} <= plots
    assert (capture_dir / "plots" / "mic-wall-n.png").read_bytes().startswith(b"\x89PNG\r\n")


@pytest.mark.parametrize("sensor", ["rf-wall-n", "rf-cellblock-a"])
def test_sigmf_validates_and_checksums(capture_dir: Path, sensor: str) -> None:
    meta = sigmf.fromfile(str(capture_dir / f"{sensor}.sigmf-meta"))  # verifies core:sha512
    meta.validate()
    scenario = demo_scenario(seed=3)
    c = scenario.collector(sensor)
    assert isinstance(c, RfCollector)
    caps = meta.get_captures()
    assert meta.get_global_field("core:datatype") == "ci16_le"
    assert meta.sample_rate == c.sample_rate_hz
    assert len(caps) == c.frames_per_pass(RECORD_S)
    assert meta.sample_count == len(caps) * c.num_samples
    for k, cap in enumerate(caps):
        assert cap["core:sample_start"] == k * c.num_samples
        assert cap["core:frequency"] == c.center_freq_hz
        assert cap["sensorhub:t_s"] == c.frame_start_s(k)
        assert parse_iso_utc_ns(cap["core:datetime"]) == START_NS + round(c.frame_start_s(k) * 1e9)


@pytest.mark.parametrize(
    ("sensor", "label", "min_count", "duration_s"),
    [
        ("rf-wall-n", "elrs_2g4", 50, (1.0e-3, 1.6e-3)),  # LoRa SF5 packet ≈1.5 ms on air
        ("rf-cellblock-a", "gsm_uplink", 50, (0.55e-3, 0.60e-3)),  # normal burst ≈577 µs
    ],
)
def test_annotations_mark_bursts_inside_their_snapshot(
    capture_dir: Path, sensor: str, label: str, min_count: int, duration_s: tuple[float, float]
) -> None:
    meta = sigmf.fromfile(str(capture_dir / f"{sensor}.sigmf-meta"), skip_checksum=True)
    fs = meta.sample_rate
    caps = meta.get_captures()
    seg_len = caps[1]["core:sample_start"] - caps[0]["core:sample_start"]
    anns = [a for a in meta.get_annotations() if a["core:label"] == label]
    assert len(anns) >= min_count
    offsets = [(a["core:sample_start"] % seg_len, a["core:sample_count"]) for a in anns]
    counts = [n for k0, n in offsets if k0 > 0 and k0 + n < seg_len]  # not cut by an edge
    assert duration_s[0] <= np.median(counts) / fs <= duration_s[1]
    for a in anns:
        start, n = a["core:sample_start"], a["core:sample_count"]
        seg = start // seg_len
        assert start + n <= (seg + 1) * seg_len <= meta.sample_count  # inside one snapshot
        fc = caps[seg]["core:frequency"]
        assert fc - fs / 2 <= a["core:freq_lower_edge"] < a["core:freq_upper_edge"] <= fc + fs / 2
        assert a["core:generator"] == "sensor-hub simulator"
        assert a["sensorhub:emitter_id"] in a["core:comment"]
        assert "snr" in a["core:comment"]
    # the annotated samples carry the energy: in-burst power well above the snapshot median
    x = meta.read_samples_in_capture(anns[0]["core:sample_start"] // seg_len)
    a0 = anns[0]["core:sample_start"] % seg_len
    burst = x[a0 : a0 + anns[0]["core:sample_count"]]
    assert np.mean(np.abs(burst) ** 2) > 10 * np.median(np.abs(x) ** 2)


def test_truth_json(capture_dir: Path) -> None:
    truth = json.loads((capture_dir / "truth.json").read_text())
    required = {"duration_s", "seed", "site", "start_time_ns", "zones", "sensors", "emissions"}
    assert required <= truth.keys()
    assert truth["duration_s"] == RECORD_S
    assert truth["seed"] == 3
    assert truth["start_time_ns"] == START_NS
    assert truth["site"] == "demo"
    assert set(truth["zones"]) == {"outer-perimeter", "yard", "cell-block-a"}
    sensors = {s["sensor_id"]: s for s in truth["sensors"]}
    assert sensors["rf-wall-n"]["center_freq_hz"] == 2437e6
    assert sensors["rf-wall-n"]["snapshot_s"] == 0.02
    assert sensors["rf-wall-n"]["period_s"] == 0.2
    assert sensors["mic-wall-n"]["modality"] == "acoustic"
    by_sig = {(e["emitter_id"], e["signature"]): e for e in truth["emissions"]}
    call = next(iv for iv in demo_scenario(seed=3).truth() if iv.signature == "gsm_uplink")
    gsm = by_sig["handset-1", "gsm_uplink"]
    assert (gsm["kind"], gsm["start_s"], gsm["end_s"]) == ("handset", call.start_s, RECORD_S)
    assert list(gsm["snr_db"]) == ["rf-cellblock-a"]
    assert gsm["snr_db"]["rf-cellblock-a"] > 30
    rotor = by_sig["drone-1", "rotor_harmonics"]
    assert list(rotor["snr_db"]) == ["mic-wall-n"]
    elrs = by_sig["drone-1", "elrs_2g4"]
    assert [p[0] for p in elrs["track"]] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert elrs["track"][1] == [1.0, 20.0, -242.0, 50.0]  # 8 m/s north from (20, -250, 50)
    assert set(by_sig["drone-1-rc", "elrs_2g4"]["snr_db"]) == {"rf-wall-n"}


def test_wav_and_sidecar(capture_dir: Path) -> None:
    rate, pcm = wavfile.read(capture_dir / "mic-wall-n.wav")
    side = json.loads((capture_dir / "mic-wall-n.json").read_text())
    assert rate == 16000 and pcm.dtype == np.int16
    assert len(pcm) == RECORD_S * rate
    assert side["full_scale_db_spl"] == 120.0
    assert side["position_m"] == [10.0, 5.0, 2.0]
    assert side["zone"] == "yard"


def test_record_is_byte_identical(
    capture_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # and dropping written data from the page cache after every snapshot changes nothing
    monkeypatch.setattr(capture, "_RELEASE_BYTES", 1)
    record(demo_scenario(seed=3), tmp_path, start_time_ns=START_NS, duration_s=RECORD_S,
           plots=True, checksum=True)  # fmt: skip
    assert _sha256_tree(tmp_path) == _sha256_tree(capture_dir)


def test_record_refuses_to_overwrite(capture_dir: Path) -> None:
    with pytest.raises(CaptureError, match="already holds a capture"):
        record(demo_scenario(seed=3), capture_dir, duration_s=1.0)


def test_frames_read_back_equal_live_frames(capture_dir: Path) -> None:
    scenario = demo_scenario(seed=3)
    start = 1_800_000_000 * 10**9  # re-stamped: not the recording's start time
    live = []
    for m in scenario.messages(start, boot_id="b00t"):
        if m.due_s > RECORD_S:
            break
        if "/frames/" in m.topic:
            live.append((m.due_s, m.topic, m.payload))
    frames = capture_frames(read_capture(capture_dir), start_time_ns=start, boot_id="b00t")
    replayed = [tuple(f) for f in frames]
    assert len(replayed) == len(live) == 30 + 24 + 6
    assert replayed == live


def test_real_gsm_sigmf_gives_valid_frames() -> None:
    require_shared_data()
    capture = read_capture(GSM_META)
    frames = list(capture_frames(capture, start_time_ns=START_NS, site="lab"))
    assert len(frames) == 1  # 17.7 ms <= 50 ms
    frame = decode_frame(frames[0].payload)
    h = frame.header
    assert (h.site, h.sensor_id, h.kind, h.datatype) == ("lab", "iq-ul-4bursts", "iq", "cf32_le")
    assert h.center_freq_hz == 890.2e6 and h.num_samples == 19152 and h.t0_ns == START_NS
    expected = sigmf.fromfile(str(GSM_META), skip_checksum=True).read_samples()
    np.testing.assert_array_equal(frame.samples[0], expected)
    assert frames[0].topic == "sensorhub/v1/lab/iq-ul-4bursts/frames/iq"


def test_plain_sigmf_is_cut_and_needs_a_centre_frequency(tmp_path: Path) -> None:
    require_shared_data()
    meta = json.loads(GSM_META.read_text())
    del meta["captures"][0]["core:frequency"]
    meta["global"].pop("core:sha512")
    (tmp_path / "gsm.sigmf-meta").write_text(json.dumps(meta))
    shutil.copy(GSM_META.parent / meta["global"]["core:dataset"], tmp_path)
    with pytest.raises(CaptureError, match="--center-freq"):
        read_capture(tmp_path / "gsm.sigmf-meta")
    capture = read_capture(tmp_path / "gsm.sigmf-meta", center_freq_hz=890.2e6, max_frame_s=5e-3)
    frames = [decode_frame(f.payload) for f in capture_frames(capture, start_time_ns=0)]
    fs = 1083333.3333333333
    assert [f.header.num_samples for f in frames] == [5416, 5416, 5416, 2904]
    assert [f.header.seq for f in frames] == [0, 1, 2, 3]
    assert frames[1].header.t0_ns == round(5416 / fs * 1e9)
    assert all(f.header.center_freq_hz == 890.2e6 for f in frames)


def test_real_wavs_give_valid_frames() -> None:
    require_shared_data()
    capture = read_capture(WAV_DIR)
    assert len(capture.sources) == 20
    frames = list(capture_frames(capture, start_time_ns=START_NS, site="lab"))
    assert len(frames) == 20 * 10  # 10 s clips, 1 s frames (1-2 trailing samples dropped)
    assert [f.due_s for f in frames] == sorted(f.due_s for f in frames)
    drone = [decode_frame(f.payload) for f in frames if "/DRONE_001/" in f.topic]
    h = drone[3].header
    assert (h.kind, h.datatype, h.num_channels, h.num_samples) == ("audio", "ri16_le", 2, 44100)
    assert h.full_scale_db_spl == 120.0 and h.sample_rate_hz == 44100.0
    assert h.t0_ns == START_NS + 3 * 10**9 and h.seq == 3
    _rate, pcm = wavfile.read(WAV_DIR / "DRONE_001.wav")
    np.testing.assert_array_equal(drone[3].samples, pcm[3 * 44100 : 4 * 44100].T / 32768.0)


def test_iso_utc_round_trip() -> None:
    assert iso_utc(DEFAULT_START_TIME_NS + 200_000_000) == "2024-01-01T00:00:00.200000000Z"
    for t in (0, 1, DEFAULT_START_TIME_NS + 999_999_999):
        assert parse_iso_utc_ns(iso_utc(t)) == t
    assert parse_iso_utc_ns("2024-01-01T00:00:01.5Z") == DEFAULT_START_TIME_NS + 1_500_000_000


def test_png_encoder_round_trip() -> None:
    rgb = colormap(np.linspace(0, 1, 12).reshape(3, 4))
    png = encode_png(rgb)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (w, h) = struct.unpack(">II", png[16:24])
    assert (w, h) == (4, 3)
    idat_len = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41 : 41 + idat_len])
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(3, 1 + 12)
    np.testing.assert_array_equal(rows[:, 1:].reshape(3, 4, 3), rgb)
    assert tuple(rgb[0, 0]) == (68, 1, 84) and tuple(rgb[-1, -1]) == (253, 231, 37)


@pytest.mark.slow
def test_record_speed(tmp_path: Path) -> None:
    """Record 20 s of the demo; prints the speed as a multiple of real time (one core)."""
    duration_s = 20.0
    t0 = time.process_time()
    summary = record(demo_scenario(), tmp_path, duration_s=duration_s)
    cpu_s = time.process_time() - t0
    print(f"\nrecord demo {duration_s:g} s: {cpu_s:.2f} s CPU = {duration_s / cpu_s:.1f}x real "
          f"time, {summary.bytes_written / 1e6:.0f} MB")  # fmt: skip
    assert summary.frames > 0
