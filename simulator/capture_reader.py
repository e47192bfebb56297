"""Read capture directories and plain recordings back as SHF1 frames.

`read_capture` takes what `simulator.capture.record` writes, plain SigMF recordings
(a capture segment per retune, cut into frames of at most `max_frame_s`) and plain WAV
files (1 s frames); `capture_frames` turns them into frames in time order, re-stamped
to a given start time.
"""

from __future__ import annotations

import heapq
import json
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import sigmf
from numpy.typing import NDArray
from scipy.io import wavfile

from sensor_hub.codec import encode_frame
from sensor_hub.schemas import DATATYPE_SIZE, FrameHeader
from sensor_hub.topics import frames_topic
from simulator.capture import (
    _ID_BAD,
    CAPTURE_FORMAT,
    DEFAULT_FULL_SCALE_DB_SPL,
    DEFAULT_MAX_FRAME_S,
    DEFAULT_SITE,
    EXT,
    IQ_WIRE_DATATYPES,
    TRUTH_FILE,
    CaptureError,
    parse_iso_utc_ns,
)


# ================================================================ reading
class CapturedFrame(NamedTuple):
    due_s: float  # seconds after the start of the replay at which the frame is complete
    topic: str
    payload: bytes


@dataclass(frozen=True)
class RfSegment:
    sample_start: int
    num_samples: int
    t_s: float  # time of the first sample, seconds from the start of the capture
    center_freq_hz: float
    seq: int


@dataclass(frozen=True)
class RfSource:
    """An RF recording: where its samples are and how to stamp them as frames."""

    sensor_id: str
    path: Path  # the .sigmf-meta
    data_path: Path
    file_datatype: str
    frame_datatype: str  # what the frames carry: the file's if on the wire, else cf32_le
    sample_rate_hz: float
    segments: tuple[RfSegment, ...]
    site: str | None = None
    boot_id: str | None = None
    gain_db: float | None = None
    full_scale_dbm: float | None = None

    @property
    def raw(self) -> bool:
        """True when frames can carry the file's bytes unchanged."""
        return self.file_datatype == self.frame_datatype


@dataclass(frozen=True)
class AudioSource:
    sensor_id: str
    path: Path  # the .wav
    sample_rate_hz: float
    num_channels: int
    datatype: str  # ri16_le or rf32_le
    frame_samples: int
    full_scale_db_spl: float
    t0_s: float = 0.0
    site: str | None = None
    boot_id: str | None = None
    mic_offsets_m: list[tuple[float, ...]] | None = None  # an array's geometry (sidecar)


Source = RfSource | AudioSource


@dataclass(frozen=True)
class Capture:
    sources: tuple[Source, ...]
    truth: dict[str, Any] | None = None
    root: Path | None = None


def sensor_id_from_stem(stem: str) -> str:
    return _ID_BAD.sub("-", stem)[:64] or "sensor"


def read_capture(
    paths: str | Path | Sequence[str | Path],
    *,
    center_freq_hz: float | None = None,
    full_scale_db_spl: float = DEFAULT_FULL_SCALE_DB_SPL,
    max_frame_s: float = DEFAULT_MAX_FRAME_S,
) -> Capture:
    """Index capture directories, SigMF recordings (.sigmf-meta or .sigmf-data) and WAVs.

    A directory contributes every *.sigmf-meta and *.wav in it, ordered as its truth.json
    lists the sensors (then by name). Recordings not written by `record`: sensor_id from
    the file stem; a SigMF capture segment is cut into frames of at most `max_frame_s`;
    `center_freq_hz` stands in for a missing `core:frequency`; a WAV gets 1 s frames at
    `full_scale_db_spl`, keeping its channels.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    truth: dict[str, Any] | None = None
    root: Path | None = None
    for item in map(Path, items):
        if item.is_dir():
            found = sorted([*item.glob("*.sigmf-meta"), *item.glob("*.wav")])
            if (item / TRUTH_FILE).exists():
                doc = json.loads((item / TRUTH_FILE).read_text())
                truth = truth if truth is not None else doc
                root = root if root is not None else item
                order = {s["sensor_id"]: i for i, s in enumerate(doc.get("sensors", []))}
                found.sort(key=lambda p: (order.get(p.stem, len(order)), p.name))
            if not found:
                raise CaptureError(f"{item}: no *.sigmf-meta or *.wav files")
            files += found
        elif item.suffix == ".sigmf-data":
            files.append(item.with_suffix(".sigmf-meta"))
        elif item.suffix in (".sigmf-meta", ".wav"):
            files.append(item)
        else:
            raise CaptureError(f"{item}: expected a directory, .sigmf-meta, .sigmf-data or .wav")
    sources: list[Source] = []
    for f in files:
        if not f.exists():
            raise CaptureError(f"{f}: no such file")
        if f.suffix == ".wav":
            sources.append(_audio_source(f, full_scale_db_spl))
        else:
            sources.append(_rf_source(f, center_freq_hz, max_frame_s))
    return Capture(sources=tuple(sources), truth=truth, root=root)


def _rf_source(meta_path: Path, center_freq_hz: float | None, max_frame_s: float) -> RfSource:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # undeclared foreign extensions
            sf = sigmf.fromfile(str(meta_path), skip_checksum=True)
    except Exception as exc:  # sigmf raises a zoo of types for bad files
        raise CaptureError(f"{meta_path}: not a readable SigMF recording: {exc}") from exc
    g = sf.get_global_info()
    datatype = str(g["core:datatype"])
    fs = float(g.get("core:sample_rate") or 0.0)
    if fs <= 0:
        raise CaptureError(f"{meta_path}: core:sample_rate is missing")
    simple = (
        int(g.get("core:num_channels", 1)) == 1
        and not g.get("core:trailing_bytes")
        and not any(c.get("core:header_bytes") for c in sf.get_captures())
    )
    frame_datatype = datatype if (datatype in IQ_WIRE_DATATYPES and simple) else "cf32_le"
    ours = g.get(f"{EXT}:format") == CAPTURE_FORMAT
    caps = sf.get_captures()
    total = int(sf.sample_count)
    datetimes = [c.get("core:datetime") for c in caps]
    t_ref = parse_iso_utc_ns(datetimes[0]) if all(datetimes) else None
    max_n = total if ours else max(1, math.floor(max_frame_s * fs + 1e-9))
    segments: list[RfSegment] = []
    for i, cap in enumerate(caps):
        start = int(cap["core:sample_start"])
        stop = int(caps[i + 1]["core:sample_start"]) if i + 1 < len(caps) else total
        freq = cap.get("core:frequency", center_freq_hz)
        if center_freq_hz is not None and "core:frequency" not in cap:
            freq = center_freq_hz
        if freq is None:
            raise CaptureError(
                f"{meta_path}: capture {i} has no core:frequency: give the centre frequency "
                "(--center-freq HZ)"
            )
        if f"{EXT}:t_s" in cap:
            t_seg = float(cap[f"{EXT}:t_s"])
        elif t_ref is not None:
            t_seg = (parse_iso_utc_ns(str(cap["core:datetime"])) - t_ref) / 1e9
        else:
            t_seg = start / fs
        for j in range(start, stop, max_n):
            n = min(max_n, stop - j)
            seq = int(cap[f"{EXT}:seq"]) if f"{EXT}:seq" in cap else len(segments)
            segments.append(RfSegment(j, n, t_seg + (j - start) / fs, float(freq), seq))
    return RfSource(
        sensor_id=str(g.get(f"{EXT}:sensor_id") or sensor_id_from_stem(meta_path.stem)),
        path=meta_path,
        data_path=Path(sf.data_file),
        file_datatype=datatype,
        frame_datatype=frame_datatype,
        sample_rate_hz=fs,
        segments=tuple(segments),
        site=g.get(f"{EXT}:site"),
        boot_id=g.get(f"{EXT}:boot_id"),
        gain_db=g.get(f"{EXT}:gain_db"),
        full_scale_dbm=g.get(f"{EXT}:full_scale_dbm"),
    )


def _audio_source(wav_path: Path, full_scale_db_spl: float) -> AudioSource:
    sidecar_path = wav_path.with_suffix(".json")
    side: dict[str, Any] = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
    try:
        rate, data = wavfile.read(wav_path, mmap=True)
    except ValueError as exc:
        raise CaptureError(f"{wav_path}: not a readable WAV file: {exc}") from exc
    n_channels = 1 if data.ndim == 1 else int(data.shape[1])
    datatype = "ri16_le" if data.dtype == np.int16 else "rf32_le"
    del data
    return AudioSource(
        sensor_id=str(side.get("sensor_id") or sensor_id_from_stem(wav_path.stem)),
        path=wav_path,
        sample_rate_hz=float(side.get("sample_rate_hz", rate)),
        num_channels=n_channels,
        datatype=datatype,
        frame_samples=int(side.get("frame_samples", rate)),
        full_scale_db_spl=float(side.get("full_scale_db_spl", full_scale_db_spl)),
        t0_s=float(side.get("t0_s", 0.0)),
        site=side.get("site"),
        boot_id=side.get("boot_id"),
        mic_offsets_m=_mic_offsets(side.get("mic_offsets_m"), n_channels, wav_path),
    )


def _mic_offsets(value: Any, n_channels: int, wav_path: Path) -> list[tuple[float, ...]] | None:
    if value is None:
        return None
    try:
        offsets = [tuple(float(v) for v in o) for o in value]
    except (TypeError, ValueError) as exc:
        raise CaptureError(f"{wav_path}: sidecar mic_offsets_m is not a list of [x, y, z]") from exc
    if len(offsets) != n_channels:
        raise CaptureError(
            f"{wav_path}: sidecar mic_offsets_m has {len(offsets)} entries, "
            f"the WAV {n_channels} channels"
        )
    return offsets


def _rf_frames(
    src: RfSource, start_time_ns: int, site: str, boot_id: str
) -> Iterator[CapturedFrame]:
    topic = frames_topic(site, src.sensor_id, "iq")
    size = DATATYPE_SIZE[src.file_datatype] if src.raw else 0
    reader = None if src.raw else sigmf.fromfile(str(src.path), skip_checksum=True)
    with src.data_path.open("rb") as f:
        for seg in src.segments:
            header = FrameHeader(
                site=site,
                sensor_id=src.sensor_id,
                seq=seg.seq,
                boot_id=boot_id,
                kind="iq",
                t0_ns=start_time_ns + round(seg.t_s * 1e9),
                sample_rate_hz=src.sample_rate_hz,
                datatype=src.frame_datatype,
                num_samples=seg.num_samples,
                center_freq_hz=seg.center_freq_hz,
                gain_db=src.gain_db,
                full_scale_dbm=src.full_scale_dbm,
            )
            if reader is None:
                f.seek(seg.sample_start * size)
                payload = f.read(seg.num_samples * size)
                if len(payload) != seg.num_samples * size:
                    raise CaptureError(f"{src.data_path}: truncated at segment seq {seg.seq}")
            else:
                iq = np.asarray(reader.read_samples(seg.sample_start, seg.num_samples))
                payload = iq.astype("<c8").tobytes()
            yield CapturedFrame(seg.t_s + seg.num_samples / src.sample_rate_hz, topic,
                                _frame(header, payload))  # fmt: skip


def _frame(header: FrameHeader, payload: bytes) -> bytes:
    return encode_frame(header, payload)


def _wav_pcm(path: Path, datatype: str) -> NDArray[Any]:
    _rate, data = wavfile.read(path)
    if data.ndim == 1:
        data = data[:, np.newaxis]
    if datatype == "ri16_le":
        out = np.ascontiguousarray(data, dtype="<i2")
    elif data.dtype == np.uint8:
        out = ((data.astype(np.float32) - 128.0) / 128.0).astype("<f4")
    elif np.issubdtype(data.dtype, np.integer):
        full_scale = np.float32(2 ** (8 * data.dtype.itemsize - 1))
        out = (data.astype(np.float32) / full_scale).astype("<f4")
    else:
        out = np.ascontiguousarray(data, dtype="<f4")
    return np.asarray(out)


def _audio_frames(
    src: AudioSource, start_time_ns: int, site: str, boot_id: str
) -> Iterator[CapturedFrame]:
    """Back-to-back frames of `frame_samples`; a trailing part shorter than half is dropped."""
    topic = frames_topic(site, src.sensor_id, "audio")
    pcm = _wav_pcm(src.path, src.datatype)
    fs, n = src.sample_rate_hz, src.frame_samples
    for k, j in enumerate(range(0, len(pcm), n)):
        block = pcm[j : j + n]
        if len(block) < n and 2 * len(block) < n:
            break
        t_s = src.t0_s + j / fs
        header = FrameHeader(
            site=site,
            sensor_id=src.sensor_id,
            seq=k,
            boot_id=boot_id,
            kind="audio",
            t0_ns=start_time_ns + round(t_s * 1e9),
            sample_rate_hz=fs,
            datatype=src.datatype,
            num_samples=len(block),
            num_channels=src.num_channels,
            full_scale_db_spl=src.full_scale_db_spl,
            mic_offsets_m=src.mic_offsets_m,
        )
        yield CapturedFrame(t_s + len(block) / fs, topic, _frame(header, block.tobytes()))


def capture_frames(
    capture: Capture,
    *,
    start_time_ns: int,
    site: str | None = None,
    boot_id: str | None = None,
) -> Iterator[CapturedFrame]:
    """SHF1 frames of every source in due order, t0_ns re-stamped from `start_time_ns`.

    `site` / `boot_id` default to the recorded ones (`DEFAULT_SITE` / "" for foreign
    files); given, they override. Ties in due time keep the capture's sensor order,
    as `Scenario.messages` does.
    """
    streams: list[Iterable[CapturedFrame]] = []
    for src in capture.sources:
        s = site or src.site or DEFAULT_SITE
        b = boot_id if boot_id is not None else (src.boot_id or "")
        if isinstance(src, RfSource):
            streams.append(_rf_frames(src, start_time_ns, s, b))
        else:
            streams.append(_audio_frames(src, start_time_ns, s, b))
    # heapq.merge is stable: equal due times come out in source order
    return heapq.merge(*streams, key=lambda fr: fr.due_s)


def capture_duration_s(capture: Capture) -> float:
    """Scenario seconds spanned by the capture's frames (for progress and pacing reports)."""
    ends: list[float] = []
    for src in capture.sources:
        if isinstance(src, RfSource) and src.segments:
            last = src.segments[-1]
            ends.append(last.t_s + last.num_samples / src.sample_rate_hz)
        elif isinstance(src, AudioSource):
            info = wavfile.read(src.path, mmap=True)[1]
            ends.append(src.t0_s + len(info) / src.sample_rate_hz)
    return max(ends, default=0.0)


__all__ = [
    "AudioSource",
    "Capture",
    "CapturedFrame",
    "RfSegment",
    "RfSource",
    "capture_duration_s",
    "capture_frames",
    "read_capture",
]
