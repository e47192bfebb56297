"""Capture directories: write one pass of a scenario to files (`record`) and its truth.

Reading captures back as frames lives in `simulator.capture_reader`.

A capture directory written by `record`:

    truth.json                 ground truth and sensors (schema: `truth_document`)
    <rf sensor>.sigmf-meta     SigMF metadata: one capture segment per snapshot,
    <rf sensor>.sigmf-data       one annotation per burst that reached the sensor
    <mic>.wav                  PCM frames back to back (int16 for ri16_le sensors)
    <mic>.json                 calibration sidecar (`full_scale_db_spl`, position, zone,
                               `mic_offsets_m` of an array)
    plots/*.png                with `plots=True` (see `simulator.plots`)

The samples are the exact payload bytes of the live frames (`Scenario.frame_bytes`), so
`capture_reader.capture_frames` rebuilds byte-identical SHF1 frames given the same
`start_time_ns` and `boot_id`. Everything written is a function of (scenario, seed,
start_time_ns, duration): JSON keys are sorted, floats are written by `repr`, and no
clock is read.

"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import sigmf
from numpy.typing import NDArray
from scipy.io import wavfile

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
    checksum: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> RecordSummary:
    """Render one pass (loop 0) of `scenario` into `out_dir`.

    `duration_s` shortens the recording to the frames complete by then (truth is clipped
    to the same window); it cannot lengthen the scenario. `boot_id` defaults to the
    scenario's (`sim-<seed>`), as in `Scenario.messages`. `checksum` writes SigMF's
    optional `core:sha512` of each data file (costs about a tenth of the recording time).
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
            written, n_ann = _write_rf(
                scenario, c, out, n, start_time_ns, boot, plot_dir, tick, checksum=checksum
            )
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
    for em in c.may_hear(scenario.rf_emitters, lo_hz):
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


#: Bytes written between `_release_written` calls.
_RELEASE_BYTES = 64 << 20


def _release_written(f: BinaryIO) -> None:
    """Start writing `f`'s data to disk and drop it from the page cache once written.

    A capture holds gigabytes that nobody reads back soon. Left to the page cache, they
    fill memory until the kernel reclaims it inside `write` (on the machines measured, a
    5 GB capture's writes fell from 5 GB/s to under 1 GB/s of the recorder's own CPU);
    advising DONTNEED as it goes starts the writeback early and keeps the cache small.
    """
    if hasattr(os, "posix_fadvise"):  # POSIX only; elsewhere the OS's default stands
        f.flush()
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _write_rf(
    scenario: Scenario,
    c: RfCollector,
    out: Path,
    n_frames: int,
    start_time_ns: int,
    boot_id: str,
    plot_dir: Path | None,
    tick: Callable[[], None],
    *,
    checksum: bool,
) -> tuple[list[Path], int]:
    sid = c.spec.sensor_id
    # rendering and annotating a snapshot ask the emitters for the same bursts: draw once
    shared = [SharedBursts(em) for em in scenario.rf_emitters]
    scenario = dataclasses.replace(scenario, rf_emitters=list(shared))
    data_path, meta_path = out / f"{sid}.sigmf-data", out / f"{sid}.sigmf-meta"
    digest = hashlib.sha512() if checksum else None
    captures: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    plotted: set[str] = set()
    unreleased = 0
    with data_path.open("wb") as f:
        for k in range(n_frames):
            payload = scenario.frame_payload(sid, k)
            f.write(payload.data)
            unreleased += payload.nbytes
            if unreleased >= _RELEASE_BYTES:
                _release_written(f)
                unreleased = 0
            if digest is not None:
                digest.update(payload.data)
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

                iq = _iq_from_payload(payload.tobytes(), c.datatype)
                for label in sorted(new):
                    iq_spectrogram_png(plot_dir / f"{sid}_{label}.png", iq, c.sample_rate_hz)
                plotted |= new
            tick()
    annotations.sort(key=lambda a: (a["core:sample_start"], a["core:freq_lower_edge"],
                                    a["core:label"], a["core:comment"]))  # fmt: skip
    x, y, z = c.spec.position
    meta: dict[str, Any] = {
        "global": {
            "core:datatype": c.datatype,
            "core:version": sigmf.__specification__,
            "core:sample_rate": c.sample_rate_hz,
            "core:num_channels": 1,
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
    if digest is not None:
        meta["global"]["core:sha512"] = digest.hexdigest()
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
        block = scenario.frame_payload(sid, k).astype(wire, copy=False)
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
        "mic_offsets_m": c.header_mic_offsets,
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
        "outages": [
            {"sensor_id": sid, "start_s": a, "end_s": min(b, duration_s)}
            for sid, spans in sorted(scenario.outages.items())
            for a, b in spans
            if a < duration_s
        ],
    }
