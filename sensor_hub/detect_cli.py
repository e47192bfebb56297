"""`sensor-hub detect FILE...`: run stage 1 on recordings and print JSON lines.

Each file (SigMF recording, WAV, or a capture directory from `sensor-hub record`) is cut
into frames exactly as `replay` would publish them (`simulator.capture_reader`), each
frame is decoded and run through the hub's own stage 1 (`pipeline.detect_frame`, with an
acoustic modulation history per file, as the hub keeps one per sensor), and every
detection is printed as one JSON object per line, with times in seconds from the
start of the file:

    {"file": ..., "sensor_id": ..., "modality": "rf", "kind": "handset",
     "signature": "gsm_uplink", "t_start": 0.000355, "t_end": 0.01424,
     "confidence": 0.97, "snr_db": 41.8, "freq_hz": 890200000.0, ...}

`--summary` prints one line per file instead: for RF, the signatures found; for audio,
a clip-level drone decision made with stage 2's acoustic persistence rule (at least
`acoustic_min_frames` frames of one rotor f0 track with a drone comb at the alert
confidence within any `acoustic_window_s`), its confidence and the median blade-pass
fundamental (of that track's frames when the rule holds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from detectors.acoustic_history import HistoryConfig, HistoryRegistry
from sensor_hub.codec import Limits, decode_frame
from sensor_hub.errors import FrameError
from sensor_hub.pipeline import RfFloorTracks, detect_frame, rf_floor_tracks
from sensor_hub.schemas import Detection
from sensor_hub.settings import FusionSettings
from sensor_hub.tracks import Track, TrackSettings, valid_f0

#: local files are trusted more than the network: a frame may be up to this large
_FILE_LIMITS = Limits(max_payload_bytes=256 * 1024 * 1024)
_EPOCH_NS = 0  # frames are stamped from the epoch, so t0 is seconds from the file's start
_ROUND = 6  # decimals of seconds (1 µs) in the output


def add_detect_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "detect",
        help="run the detectors on SigMF / WAV files, print detections as JSON lines",
        description="Run stage 1 (the hub's detectors) on SigMF recordings (any sample rate "
        "and SigMF datatype), WAV files and capture directories; print one JSON line per "
        "detection (times in s from the start of the file), or with --summary one line "
        "per file.",
    )
    p.add_argument("files", nargs="+", help=".sigmf-meta / .sigmf-data / .wav files or dirs")
    p.add_argument(
        "--center-freq", type=float, default=None, help="Hz, for SigMF files without one"
    )
    p.add_argument(
        "--frame-s",
        type=float,
        default=0.05,
        help="cut SigMF capture segments into frames of at most this many s (default 0.05)",
    )
    p.add_argument(
        "--full-scale-db-spl",
        type=float,
        default=120.0,
        help="calibration of plain WAV files: dB SPL of a full-scale sine (default 120)",
    )
    p.add_argument("--summary", action="store_true", help="one JSON line per file")
    p.set_defaults(run=run_detect)


def _frames(path: Path, args: argparse.Namespace) -> Iterator[tuple[str, Any]]:
    """(source file, decoded frame) for every frame of `path`, in time order."""
    from simulator.capture_reader import capture_frames, read_capture

    capture = read_capture(
        path,
        center_freq_hz=args.center_freq,
        full_scale_db_spl=args.full_scale_db_spl,
        max_frame_s=args.frame_s,
    )
    names = {src.sensor_id: str(src.path) for src in capture.sources}
    for fr in capture_frames(capture, start_time_ns=_EPOCH_NS):
        frame = decode_frame(fr.payload, _FILE_LIMITS)
        yield names.get(frame.header.sensor_id, str(path)), frame


def _seconds(when: datetime) -> float:
    return round(when.timestamp(), _ROUND)


def detection_line(file: str, d: Detection) -> dict[str, Any]:
    """The JSON object printed for one detection (None fields left out)."""
    out: dict[str, Any] = {
        "file": file,
        "sensor_id": d.sensor_id,
        "modality": d.modality,
        "kind": d.kind,
        "signature": d.signature,
        "t_start": _seconds(d.t_start),
        "t_end": _seconds(d.t_end),
        "confidence": round(d.confidence, 3),
        "snr_db": d.snr_db,
    }
    for key in ("freq_hz", "bandwidth_hz", "rssi_dbm", "f0_hz", "harmonics", "bearing_deg",
                "burst_count", "frame_seq"):  # fmt: skip
        value = getattr(d, key)
        if value is not None:
            out[key] = value
    return out


def acoustic_verdict(
    detections: list[Detection],
    fusion: FusionSettings = FusionSettings(),
    tracks: TrackSettings = TrackSettings(),
) -> tuple[bool, float, float | None]:
    """(drone?, confidence, median f0 in Hz: of the frames that made the verdict, else of
    all drone frames) for one clip, by stage 2's persistence rule:
    a drone when at least `acoustic_min_frames` frames of one rotor track (`rotor_tracks`)
    within any `acoustic_window_s` hold a drone comb at `min_confidence` or more (more
    under 110 Hz: `FusionSettings.acoustic_frames_needed` of the window's median f0 as
    heard, as stage 2's `Track.rotor_f0_hz`).
    Confidence: the median over those frames when the rule holds, else the largest
    single-frame confidence scaled by the fraction of the rule met (so a clip with one
    loud frame stays below the cut)."""
    hits = sorted(
        (d for d in detections if d.kind == "drone" and d.confidence >= fusion.min_confidence),
        key=lambda d: d.t_start,
    )
    drone_frames = [d for d in detections if d.kind == "drone"]
    f0s = [d.f0_hz for d in drone_frames if d.f0_hz is not None]
    f0 = round(float(np.median(f0s)), 2) if f0s else None
    best: list[Detection] = []
    best_needed = fusion.acoustic_min_frames
    for track in rotor_tracks(hits, fusion, tracks):
        for i, first in enumerate(track):
            window = [
                d for d in track[i:]
                if (d.t_start - first.t_start).total_seconds() < fusion.acoustic_window_s
            ]  # fmt: skip
            heard = [d.f0_hz for d in window if valid_f0(d.f0_hz)]
            needed = fusion.acoustic_frames_needed(statistics.median(heard) if heard else None)
            if len(window) / needed > len(best) / best_needed:
                best, best_needed = window, needed
    if len(best) >= best_needed:
        track_f0s = [d.f0_hz for d in best if d.f0_hz is not None]
        f0 = round(float(np.median(track_f0s)), 2) if track_f0s else f0
        return True, round(float(np.median([d.confidence for d in best])), 3), f0
    top = max((d.confidence for d in drone_frames), default=0.0)
    met = len(best) / best_needed
    return False, round(min(top * met, fusion.min_confidence - 0.01) if top else 0.0, 3), f0


def rotor_tracks(
    hits: list[Detection], fusion: FusionSettings, tracks: TrackSettings
) -> list[list[Detection]]:
    """The hits (time order) split into rotor tracks as stage 2 splits one sensor's
    (`tracks.choose_track`): each joins the track heard last among those heard within
    `quiet_s` whose fundamental it agrees with (`Track.takes_rotor`), else starts one."""
    groups: list[tuple[Track, list[Detection]]] = []
    for d in hits:
        live = [
            (tr, g) for tr, g in groups
            if (d.t_start - g[-1].t_start).total_seconds() < fusion.quiet_s
            and tr.takes_rotor(d, tracks)
        ]  # fmt: skip
        if live:
            track, group = max(live, key=lambda pair: pair[1][-1].t_start)
        else:
            track, group = Track(site=d.site, kind="drone", family="acoustic"), []
            groups.append((track, group))
        group.append(d)
        track.note_rotor(d, tracks)
    return [group for _, group in groups]


def summary_line(file: str, detections: list[Detection], duration_s: float) -> dict[str, Any]:
    signatures = sorted({d.signature for d in detections})
    out: dict[str, Any] = {
        "file": file,
        "signatures": signatures,
        "detections": len(detections),
        "duration_s": round(duration_s, _ROUND),
    }
    audio = [d for d in detections if d.modality == "acoustic"]
    if audio or file.lower().endswith(".wav"):
        drone, confidence, f0 = acoustic_verdict(audio)
        out.update(drone=drone, confidence=confidence, f0_hz=f0)
    return out


def run_detect(args: argparse.Namespace) -> int:
    from simulator.capture import CaptureError

    status = 0
    for name in args.files:
        path = Path(name)
        per_file: dict[str, list[Detection]] = {}
        ends: dict[str, float] = {}
        histories: dict[str, HistoryRegistry] = {}  # one recording: one sensor's history
        rf_floors: dict[str, RfFloorTracks] = {}
        try:
            for file, frame in _frames(path, args):
                h = frame.header
                ends[file] = max(
                    ends.get(file, 0.0), h.t0_ns / 1e9 + h.num_samples / h.sample_rate_hz
                )
                history = histories.get(file)
                if history is None:
                    history = histories[file] = HistoryRegistry(
                        HistoryConfig(alert_confidence=FusionSettings().min_confidence)
                    )
                floors = rf_floors.setdefault(file, rf_floor_tracks())
                found = detect_frame(frame, history, floors)
                per_file.setdefault(file, []).extend(found)
                if not args.summary:
                    for d in found:
                        print(json.dumps(detection_line(file, d)), flush=True)
        except (CaptureError, FrameError, OSError, ValueError) as exc:
            print(f"sensor-hub detect: {name}: {exc}", file=sys.stderr)
            status = 2
            continue
        if args.summary:
            for file in sorted(ends, key=list(ends).index):
                line = summary_line(file, per_file.get(file, []), ends[file])
                print(json.dumps(line), flush=True)
    return status
