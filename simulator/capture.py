"""Capture directories: write one pass of a scenario to files, read files back as frames.

A capture directory written by `record`:

    truth.json                 ground truth and sensors (schema: `truth_document`)
    <rf sensor>.sigmf-meta     SigMF metadata: one capture segment per snapshot,
    <rf sensor>.sigmf-data       one annotation per burst that reached the sensor
    <mic>.wav                  PCM frames back to back (int16 for ri16_le sensors)
    <mic>.json                 calibration sidecar (`full_scale_db_spl`, position, zone)
    plots/*.png                with `plots=True` (see `simulator.plots`)

The samples are the exact payload bytes of the live frames (`Scenario.frame_bytes`), so
`capture_frames` rebuilds byte-identical SHF1 frames given the same `start_time_ns` and
`boot_id`. Everything written is a function of (scenario, seed, start_time_ns, duration):
JSON keys are sorted, floats are written by `repr`, and no clock is read.

`read_capture` also accepts plain SigMF recordings and plain WAV files (see there).
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import math
import re
import struct
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import sigmf
from numpy.typing import NDArray
from scipy.io import wavfile

from sensor_hub.codec import encode_frame
from sensor_hub.schemas import DATATYPE_SIZE, FrameHeader
from sensor_hub.topics import frames_topic
from simulator.audio_collector import AudioCollector
from simulator.collectors import RfCollector, SharedBursts
from simulator.propagation import SPEED_OF_LIGHT_M_S, distance_m, thermal_noise_dbm
from simulator.scenario import LinkBudget, Scenario, TruthInterval

#: 2024-01-01T00:00:00Z: the default epoch of a recording (replay re-stamps it anyway)
DEFAULT_START_TIME_NS = 1_704_067_200 * 10**9
CAPTURE_FORMAT = "sensorhub-capture/1"
GENERATOR = "sensor-hub simulator"
EXT = "sensorhub"  # SigMF extension namespace for the keys core has no name for
TRUTH_FILE = "truth.json"
DEFAULT_SITE = "replay"
DEFAULT_MAX_FRAME_S = 0.05  # foreign SigMF segments are cut into frames of at most this
DEFAULT_FULL_SCALE_DB_SPL = 120.0
IQ_WIRE_DATATYPES = frozenset({"ci8", "ci16_le", "cf32_le"})
_PREFIX = struct.Struct("<4sI")
_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")

#: progress(frames_done, frames_total)
Progress = Callable[[int, int], None]


class CaptureError(ValueError):
    """A capture directory or file cannot be written or read; the message names the file."""


# ================================================================ writing


@dataclass(frozen=True)
class RecordSummary:
    out_dir: Path
    duration_s: float
    files: tuple[Path, ...]
    frames: int
    annotations: int
    bytes_written: int


def record(
    scenario: Scenario,
    out_dir: str | Path,
    *,
    start_time_ns: int = DEFAULT_START_TIME_NS,
    duration_s: float | None = None,
    boot_id: str | None = None,
    plots: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> RecordSummary:
    """Render one pass (loop 0) of `scenario` into `out_dir`.

    `duration_s` shortens the recording to the frames complete by then (truth is clipped
    to the same window); it cannot lengthen the scenario. `boot_id` defaults to the
    scenario's (`sim-<seed>`), as in `Scenario.messages`.
    """
    out = Path(out_dir)
    if (out / TRUTH_FILE).exists() and not overwrite:
        raise CaptureError(f"{out} already holds a capture ({TRUTH_FILE}); pass overwrite=True")
    out.mkdir(parents=True, exist_ok=True)
    window_s = scenario.duration_s if duration_s is None else min(duration_s, scenario.duration_s)
    if window_s <= 0:
        raise CaptureError(f"{duration_s=} must be > 0")
    boot = scenario.default_boot_id if boot_id is None else boot_id
    counts = {c.spec.sensor_id: c.frames_per_pass(window_s) for c in scenario.collectors}
    total = sum(counts.values())
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    plot_dir = out / "plots" if plots else None
    files: list[Path] = []
    n_annotations = 0
    for c in scenario.collectors:
        n = counts[c.spec.sensor_id]
        if isinstance(c, RfCollector):
            written, n_ann = _write_rf(scenario, c, out, n, start_time_ns, boot, plot_dir, tick)
            n_annotations += n_ann
        else:
            written = _write_audio(scenario, c, out, n, start_time_ns, boot, plot_dir, tick)
        files += written
    truth = truth_document(scenario, duration_s=window_s, start_time_ns=start_time_ns,
                           boot_id=boot)  # fmt: skip
    files.append(_write_json(out / TRUTH_FILE, truth))
    if plot_dir is not None:
        files += sorted(plot_dir.glob("*.png"))
    return RecordSummary(
        out_dir=out,
        duration_s=window_s,
        files=tuple(files),
        frames=total,
        annotations=n_annotations,
        bytes_written=sum(f.stat().st_size for f in files),
    )


_FLAT_LIST = re.compile(r"\[\n\s*([-+0-9.eE,\s]*?)\n\s*\]")


def dumps_stable(doc: Any) -> str:
    """Sorted keys, repr floats, 2-space indent, numeric lists on one line: stable bytes."""
    text = json.dumps(doc, sort_keys=True, indent=2, allow_nan=False)
    return _FLAT_LIST.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text) + "\n"


def _write_json(path: Path, doc: Any) -> Path:
    path.write_text(dumps_stable(doc))
    return path


def _payload(frame: bytes) -> bytes:
    _magic, header_len = _PREFIX.unpack_from(frame)
    return frame[_PREFIX.size + header_len :]


def iso_utc(t_ns: int) -> str:
    """RFC 3339 UTC with nanoseconds, e.g. 2024-01-01T00:00:00.200000000Z (no float maths)."""
    secs, ns = divmod(t_ns, 10**9)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


def parse_iso_utc_ns(text: str) -> int:
    """Inverse of `iso_utc` for any number of fractional digits; 'Z' or '+00:00' only."""
    body = text.strip().removesuffix("Z").removesuffix("+00:00")
    whole, _, frac = body.partition(".")
    base = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return int(base.timestamp()) * 10**9 + int((frac + "000000000")[:9])


def _r(value: float, digits: int) -> float:
    return float(round(value, digits))


def _rf_annotations(
    scenario: Scenario, c: RfCollector, k: int, sample_start: int
) -> list[dict[str, Any]]:
    """One annotation per burst of snapshot k that `RfCollector.render` puts in the samples."""
    fs, n = c.sample_rate_hz, c.num_samples
    t0 = c.frame_start_s(k)
    lo_hz = c.frame_center_freq_hz(k) * (1.0 + c.frequency_offset_ppm * 1e-6)  # as render
    out: list[dict[str, Any]] = []
    for em in scenario.rf_emitters:
        for b in em.bursts(t0 - 2e-5, t0 + n / fs, 0):  # the window RfCollector.render asks for
            if not c.in_band(b.freq_hz, b.bandwidth_hz, center_freq_hz=lo_hz):
                continue
            # same sample bounds as RfCollector.render: arrival after the propagation delay
            t_arr = (
                b.start_s + float(distance_m(b.position_m, c.spec.position)) / SPEED_OF_LIGHT_M_S
            )
            k0 = max(0, math.ceil((t_arr - t0) * fs))
            k1 = min(n, math.ceil((t_arr + b.duration_s - t0) * fs))
            if k1 <= k0:
                continue
            rx_dbm = c.received_dbm(b) + 20 * math.log10(max(abs(b.gain), 1e-12))
            snr_db = rx_dbm - thermal_noise_dbm(b.bandwidth_hz, c.noise_figure_db)
            source = b.source_id or em.emitter_id
            out.append(
                {
                    "core:sample_start": sample_start + k0,
                    "core:sample_count": k1 - k0,
                    "core:freq_lower_edge": b.freq_hz - 0.5 * b.bandwidth_hz,
                    "core:freq_upper_edge": b.freq_hz + 0.5 * b.bandwidth_hz,
                    "core:label": em.signature,
                    "core:generator": GENERATOR,
                    "core:comment": f"{source} ({em.kind}) snr {snr_db:.1f} dB",
                    f"{EXT}:emitter_id": em.emitter_id,
                    f"{EXT}:source_id": source,
                    f"{EXT}:snr_db": _r(snr_db, 2),
                    f"{EXT}:rx_dbm": _r(rx_dbm, 2),
                }
            )
    return out


def _write_rf(
    scenario: Scenario,
    c: RfCollector,
    out: Path,
    n_frames: int,
    start_time_ns: int,
    boot_id: str,
    plot_dir: Path | None,
    tick: Callable[[], None],
) -> tuple[list[Path], int]:
    sid = c.spec.sensor_id
    # rendering and annotating a snapshot ask the emitters for the same bursts: draw once
    shared = [SharedBursts(em) for em in scenario.rf_emitters]
    scenario = dataclasses.replace(scenario, rf_emitters=list(shared))
    data_path, meta_path = out / f"{sid}.sigmf-data", out / f"{sid}.sigmf-meta"
    digest = hashlib.sha512()
    captures: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    plotted: set[str] = set()
    with data_path.open("wb") as f:
        for k in range(n_frames):
            payload = _payload(
                scenario.frame_bytes(sid, k, start_time_ns=start_time_ns, boot_id=boot_id)
            )
            f.write(payload)
            digest.update(payload)
            t_s = c.frame_start_s(k)
            start = k * c.num_samples
            captures.append(
                {
                    "core:sample_start": start,
                    "core:frequency": c.frame_center_freq_hz(k),
                    "core:datetime": iso_utc(start_time_ns + round(t_s * 1e9)),
                    f"{EXT}:t_s": t_s,
                    f"{EXT}:seq": k,
                }
            )
            found = _rf_annotations(scenario, c, k, start)
            annotations += found
            new = {a["core:label"] for a in found} - plotted
            if plot_dir is not None and new:
                from simulator.plots import iq_spectrogram_png

                iq = _iq_from_payload(payload, c.datatype)
                for label in sorted(new):
                    iq_spectrogram_png(plot_dir / f"{sid}_{label}.png", iq, c.sample_rate_hz)
                plotted |= new
            tick()
    annotations.sort(key=lambda a: (a["core:sample_start"], a["core:freq_lower_edge"],
                                    a["core:label"], a["core:comment"]))  # fmt: skip
    x, y, z = c.spec.position
    meta = {
        "global": {
            "core:datatype": c.datatype,
            "core:version": sigmf.__specification__,
            "core:sample_rate": c.sample_rate_hz,
            "core:num_channels": 1,
            "core:sha512": digest.hexdigest(),
            "core:recorder": GENERATOR,
            "core:description": (
                f"Simulated snapshots of RF sensor {sid} at site {scenario.site} (seed "
                f"{scenario.seed}): {c.snapshot_s * 1e3:g} ms every {c.period_s * 1e3:g} ms, "
                "one capture segment per snapshot; sensorhub:t_s is scenario time."
            ),
            "core:hw": f"virtual SDR, noise figure {c.noise_figure_db:g} dB",
            "core:extensions": [{"name": EXT, "version": "1", "optional": True}],
            f"{EXT}:format": CAPTURE_FORMAT,
            f"{EXT}:site": scenario.site,
            f"{EXT}:sensor_id": sid,
            f"{EXT}:boot_id": boot_id,
            f"{EXT}:zone": c.spec.zone,
            f"{EXT}:position_m": [x, y, z],
            f"{EXT}:gain_db": c.gain_db,
            f"{EXT}:full_scale_dbm": c.full_scale_dbm,
            f"{EXT}:noise_figure_db": c.noise_figure_db,
            f"{EXT}:snapshot_s": c.snapshot_s,
            f"{EXT}:period_s": c.period_s,
        },
        "captures": captures,
        "annotations": annotations,
    }
    sf = sigmf.SigMFFile(metadata=meta, data_file=str(data_path), skip_checksum=True)
    _validate_sigmf(meta)
    with meta_path.open("w") as fp:
        sf.dump(fp, pretty=True)
        fp.write("\n")
    return [meta_path, data_path], len(annotations)


def _validate_sigmf(meta: dict[str, Any]) -> None:
    """Schema-check the metadata with one capture and one annotation of each label.

    Every capture and every annotation is built by the same dict literal above, so one of
    each kind checks the structure; validating all of them costs ~0.5 ms per annotation
    (0.6 s of a 20 s demo recording). Tests validate whole files with `sigmf`.
    """
    firsts: dict[str, dict[str, Any]] = {}
    for a in meta["annotations"]:
        firsts.setdefault(str(a.get("core:label")), a)
    sample = meta | {"captures": meta["captures"][:1], "annotations": list(firsts.values())}
    sigmf.SigMFFile(metadata=sample, skip_checksum=True).validate()


def _iq_from_payload(payload: bytes, datatype: str) -> NDArray[np.complex64]:
    if datatype == "cf32_le":
        return np.frombuffer(payload, dtype="<c8").astype(np.complex64)
    raw = np.frombuffer(payload, dtype="<i2" if datatype == "ci16_le" else "i1")
    scale = np.float32(32768.0 if datatype == "ci16_le" else 128.0)
    return (raw.astype(np.float32) / scale).view(np.complex64)


def _write_audio(
    scenario: Scenario,
    c: AudioCollector,
    out: Path,
    n_frames: int,
    start_time_ns: int,
    boot_id: str,
    plot_dir: Path | None,
    tick: Callable[[], None],
) -> list[Path]:
    sid = c.spec.sensor_id
    wire = np.dtype("<i2") if c.datatype == "ri16_le" else np.dtype("<f4")
    blocks: list[NDArray[Any]] = []
    n_channels = 1
    for k in range(n_frames):
        payload = _payload(
            scenario.frame_bytes(sid, k, start_time_ns=start_time_ns, boot_id=boot_id)
        )
        block = np.frombuffer(payload, dtype=wire)
        n_channels = block.size // c.num_samples
        blocks.append(block.reshape(c.num_samples, n_channels))  # wire order: interleaved
        tick()
    pcm = np.concatenate(blocks) if blocks else np.zeros((0, n_channels), dtype=wire)
    wav_path = out / f"{sid}.wav"
    rate = round(c.sample_rate_hz)
    if rate != c.sample_rate_hz:
        raise CaptureError(f"{sid}: WAV needs an integer sample rate, got {c.sample_rate_hz}")
    wavfile.write(wav_path, rate, pcm[:, 0] if n_channels == 1 else pcm)
    x, y, z = c.spec.position
    sidecar = {
        "format": CAPTURE_FORMAT,
        "site": scenario.site,
        "sensor_id": sid,
        "boot_id": boot_id,
        "modality": "acoustic",
        "zone": c.spec.zone,
        "position_m": [x, y, z],
        "sample_rate_hz": c.sample_rate_hz,
        "num_channels": n_channels,
        "datatype": c.datatype,
        "frame_samples": c.num_samples,
        "full_scale_db_spl": c.full_scale_db_spl,
        "start_time_ns": start_time_ns,
        "t0_s": c.frame_start_s(0),
    }
    paths = [wav_path, _write_json(out / f"{sid}.json", sidecar)]
    if plot_dir is not None and len(pcm):
        from simulator.plots import audio_spectrogram_png

        scale = 32768.0 if c.datatype == "ri16_le" else 1.0
        mono = pcm[:, 0].astype(np.float32) / np.float32(scale)
        audio_spectrogram_png(plot_dir / f"{sid}.png", mono, c.sample_rate_hz)
    return paths


# ---------------------------------------------------------------- truth


def _ticks(start_s: float, end_s: float, step_s: float = 1.0) -> list[float]:
    n = math.floor((end_s - start_s) / step_s + 1e-9)
    ts = [start_s + i * step_s for i in range(n + 1)]
    if end_s - ts[-1] > 1e-9:
        ts.append(end_s)
    return ts


def _position(scenario: Scenario, iv: TruthInterval, t_s: float) -> tuple[float, float, float]:
    if iv.emitter_id in scenario.tracks:
        return scenario.position_of(iv.emitter_id, t_s)
    return iv.position_m


def truth_document(
    scenario: Scenario, *, duration_s: float, start_time_ns: int, boot_id: str
) -> dict[str, Any]:
    """The truth.json document (see the module docstring of `simulator.capture`).

    Top level: format, site, seed, duration_s, start_time_ns, boot_id, description, zones
    {name: [[x, y], ...]}, sensors [...], emissions [...]. An emission: emitter_id, kind,
    signature, start_s, end_s (clipped to the recording), moving, track [[t, x, y, z]]
    every 1 s plus the end, snr_db {sensor_id: median over the interval at 1 s steps}:
    RF = in-band power over thermal noise in the occupied band; acoustic = the best rotor
    line in a 1 Hz bin over the ambience (`Scenario.link_budgets`). Only sensors that can
    hear the emission appear in snr_db; a sweeping RF sensor counts as hearing it when one
    of its dwells does (its SNR is the one while tuned there). Budgets are found by id:
    `TruthInterval.budget_id` equals the `LinkBudget.emitter_id` of the same transmitter.
    """
    rf_signatures = {em.signature for em in scenario.rf_emitters}
    cache: dict[float, dict[tuple[str, str, str], float]] = {}

    def budgets(t_s: float) -> dict[tuple[str, str, str], float]:
        """(sensor, source id, unit) -> SNR dB at t_s, every dwell of a sweep included."""
        if t_s not in cache:
            found: list[LinkBudget] = []
            for c in scenario.collectors:
                if isinstance(c, RfCollector) and c.sweep:
                    for fc in dict.fromkeys(centre for centre, _ in c.sweep):
                        found += scenario.rf_budgets(c, t_s, center_freq_hz=fc)
            found += [
                b
                for b in scenario.link_budgets(t_s)
                if not isinstance(c := scenario.collector(b.sensor_id), RfCollector) or not c.sweep
            ]
            cache[t_s] = {(b.sensor_id, b.emitter_id, b.unit): b.snr_db for b in found}
        return cache[t_s]

    emissions: list[dict[str, Any]] = []
    for iv in scenario.truth():
        start, end = iv.start_s, min(iv.end_s, duration_s)
        if start >= duration_s or end <= start:
            continue
        sample_ts = [float(t) for t in range(math.ceil(start), math.ceil(end))] or [
            0.5 * (start + end)
        ]
        # RF: power in band; acoustic: the best line in a 1 Hz bin, else the A-weighted level
        units = ("dBm",) if iv.signature in rf_signatures else ("dB SPL", "dBA")
        per_sensor: dict[str, list[float]] = {}
        for t in sample_ts:
            at = budgets(t)
            for s in scenario.sensors:
                hit = next(
                    (v for u in units if (v := at.get((s.sensor_id, iv.budget_id, u))) is not None),
                    None,
                )
                if hit is not None:
                    per_sensor.setdefault(s.sensor_id, []).append(hit)
        track = [[_r(t, 6), *(_r(v, 3) for v in _position(scenario, iv, t))]
                 for t in _ticks(start, end)]  # fmt: skip
        emissions.append(
            {
                "emitter_id": iv.emitter_id,
                "source_id": iv.budget_id,
                "kind": iv.kind,
                "signature": iv.signature,
                "start_s": start,
                "end_s": end,
                "moving": iv.moving,
                "track": track,
                "snr_db": {k: _r(float(np.median(v)), 2) for k, v in sorted(per_sensor.items())},
            }
        )
    sensors: list[dict[str, Any]] = []
    for c in scenario.collectors:
        spec = c.spec
        entry: dict[str, Any] = {
            "sensor_id": spec.sensor_id,
            "modality": spec.modality,
            "kind": spec.kind,
            "position": list(spec.position),
            "zone": spec.zone,
            "sample_rate_hz": c.sample_rate_hz,
        }
        if isinstance(c, RfCollector):
            entry |= {
                "center_freq_hz": c.center_freq_hz,
                "sweep": [[centre, dwell] for centre, dwell in c.sweep],
                "snapshot_s": c.snapshot_s,
                "period_s": c.period_s,
                "noise_figure_db": c.noise_figure_db,
                "full_scale_dbm": c.full_scale_dbm,
                "files": [f"{spec.sensor_id}.sigmf-meta", f"{spec.sensor_id}.sigmf-data"],
            }
        else:
            entry |= {
                "full_scale_db_spl": c.full_scale_db_spl,
                "frame_s": c.frame_duration_s,
                "files": [f"{spec.sensor_id}.wav", f"{spec.sensor_id}.json"],
            }
        sensors.append(entry)
    return {
        "format": CAPTURE_FORMAT,
        "site": scenario.site,
        "seed": scenario.seed,
        "duration_s": duration_s,
        "start_time_ns": start_time_ns,
        "boot_id": boot_id,
        "description": scenario.description.strip(),
        "zones": {k: [list(p) for p in v] for k, v in sorted(scenario.zones.items())},
        "sensors": sensors,
        "emissions": emissions,
    }


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
    )


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
    "DEFAULT_START_TIME_NS",
    "AudioSource",
    "Capture",
    "CaptureError",
    "CapturedFrame",
    "RecordSummary",
    "RfSegment",
    "RfSource",
    "capture_duration_s",
    "capture_frames",
    "iso_utc",
    "read_capture",
    "record",
    "truth_document",
]
