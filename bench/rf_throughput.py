"""Stage 1 RF throughput: `detect_rf` on demo frames vs a bare windowed FFT, on one core.

For each frame type, `--frames` frames of the built-in demo scenario are rendered and
round-tripped through the SHF1 codec (int16 IQ, as `sensor_hub.pipeline` receives them):

- `wall`: `rf-wall-n`, 2.4 GHz, 25 MS/s x 20 ms (ELRS packets and a Wi-Fi AP);
- `gsm`: `rf-cellblock-a`, GSM-900 uplink, 2 MS/s x 50 ms, frames inside the call;
- `wall-noise`, `gsm-noise`: the same frames without signals (`include_signals=False`).

Each repeat times `detectors.rf.detect_rf` over the frames (called as the pipeline calls
it) and a bare single-precision FFT over the same samples: complex64 (frames, nfft) rows
times a cached Hann window, `scipy.fft.fft` (overwrite_x), then re.^2 + im.^2, with the
FFT size the detector chooses. The two alternate (order flipped each repeat) so both see
the same machine load; the figures are medians over repeats. ratio = detector samples/s
/ bare-FFT samples/s (1.0: the detector costs one FFT; the target is >= 0.5). "spec ratio"
is the same ratio for the detector's spectrogram stage alone (`spectra.spectrogram` with
both windows and the frame pairs, as `detect_rf` calls it), timed in the same alternation:
what the rest of the detector may cost at most is the gap between the two.

    python bench/rf_throughput.py [--repeats 15] [--frames 8] [--cpu 0] [--seed 1]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402  (the thread limits must be set before numpy is imported)
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.fft  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

import detectors.rf  # noqa: E402
from detectors.floor_track import FloorTrack  # noqa: E402
from detectors.rf import RfConfig, detect_rf  # noqa: E402
from detectors.spectra import choose_nfft, spectrogram  # noqa: E402
from sensor_hub.codec import decode_frame, encode_samples  # noqa: E402
from simulator.collectors import RfCollector  # noqa: E402
from simulator.demo import demo_scenario  # noqa: E402
from simulator.scenario import Scenario  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class RfFrame:
    """One decoded IQ frame with what `detect_rf` is called with."""

    iq: NDArray[np.complex64]
    sample_rate_hz: float
    center_freq_hz: float
    full_scale_dbm: float | None


@dataclass(frozen=True, slots=True)
class FrameType:
    name: str
    sensor_id: str
    signals: bool
    t_range_s: tuple[float, float]  # where in the demo to take frames


FRAME_TYPES = (
    FrameType("wall", "rf-wall-n", True, (0.0, 90.0)),
    FrameType("wall-noise", "rf-wall-n", False, (0.0, 90.0)),
    FrameType("gsm", "rf-cellblock-a", True, (2.0, 60.0)),  # the call runs 1-61 s
    FrameType("gsm-noise", "rf-cellblock-a", False, (2.0, 60.0)),
)


def render_frames(scenario: Scenario, kind: FrameType, count: int) -> list[RfFrame]:
    """`count` frames spread over `kind.t_range_s`, through the codec as the hub gets them."""
    collector = scenario.collector(kind.sensor_id)
    assert isinstance(collector, RfCollector)
    period_s = collector.frame_start_s(1) - collector.frame_start_s(0)
    k0 = round(kind.t_range_s[0] / period_s)
    k1 = round(kind.t_range_s[1] / period_s)
    frames = []
    for k in np.linspace(k0, k1 - 1, count).round().astype(int):
        samples = scenario.render(kind.sensor_id, int(k), include_signals=kind.signals)
        header = collector.header(
            site=scenario.site, seq=int(k), boot_id="bench", t0_ns=0, frame_index=int(k)
        )
        frame = decode_frame(encode_samples(header, samples))
        h = frame.header
        assert h.center_freq_hz is not None
        frames.append(
            RfFrame(frame.samples[0], h.sample_rate_hz, h.center_freq_hz, h.full_scale_dbm)
        )
    return frames


def run_detector(frames: list[RfFrame], tracks: dict[tuple[float, float], FloorTrack]) -> int:
    """Detections over all frames (called as `sensor_hub.pipeline.detect_frame` does, with
    a receiver-shape reference per sensor: `tracks`, one per tuning)."""
    total = 0
    for f in frames:
        track = tracks.setdefault((f.sample_rate_hz, f.center_freq_hz), FloorTrack())
        found = detect_rf(
            f.iq, f.sample_rate_hz, f.center_freq_hz, full_scale_dbm=f.full_scale_dbm,
            floor_track=track,
        )  # fmt: skip
        total += len(found)
    return total


def run_bare_fft(frames: list[RfFrame], nfft: int, window: NDArray[np.float32]) -> float:
    """Windowed single-precision FFT and squared magnitude of every frame (the floor)."""
    total = 0.0
    for f in frames:
        rows = f.iq.shape[0] // nfft
        spec = scipy.fft.fft(
            f.iq[: rows * nfft].reshape(rows, nfft) * window, axis=1, overwrite_x=True
        )
        power = spec.real**2 + spec.imag**2
        total += float(power[0, 0])  # keep the result alive
    return total


def run_spectrogram(frames: list[RfFrame], nfft: int) -> float:
    """The detector's spectrogram stage alone over every frame (as `detect_rf` calls it)."""
    total = 0.0
    for f in frames:
        spec = spectrogram(f.iq, f.sample_rate_hz, nfft, with_pairs=True, with_flat=True)
        total += float(spec.power[0, 0])
    return total


def git_commit() -> str:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return out.stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "detectors", "bench")
    return f"{commit}{' + uncommitted changes in detectors/ or bench/' if dirty else ''}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15, help="timed runs per frame type")
    p.add_argument("--frames", type=int, default=8, help="demo frames per frame type")
    p.add_argument("--cpu", type=int, default=0, help="the one core to run on")
    p.add_argument("--seed", type=int, default=1, help="demo scenario seed")
    args = p.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    print("commit: ", git_commit())
    print("detectors:", Path(detectors.rf.__file__).parent)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}; "
        f"cpu {args.cpu} of {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}; "
        f"{args.frames} frames per type, median of {args.repeats} interleaved repeats"
    )
    scenario = demo_scenario(site="demo", seed=args.seed)
    header = (
        f"{'frame type':<11} {'MS/s in':>7} {'nfft':>5} {'dets':>5} {'detector ms':>12} "
        f"{'fft ms':>7} {'detector MS/s':>14} {'fft MS/s':>9} {'ratio':>6} {'spec ratio':>10}"
    )
    print(header)
    ratios = []
    for kind in FRAME_TYPES:
        frames = render_frames(scenario, kind, args.frames)
        rate = frames[0].sample_rate_hz
        nfft = choose_nfft(rate, max_bin_hz=RfConfig().max_bin_hz, min_nfft=RfConfig().min_nfft)
        window = np.hanning(nfft + 1)[:-1].astype(np.float32)  # periodic Hann, as detect_rf
        samples = sum(f.iq.shape[0] for f in frames)
        tracks: dict[tuple[float, float], FloorTrack] = {}  # learnt in the warm-up
        detections = run_detector(frames, tracks)  # warm-up: FFT plans, caches
        run_bare_fft(frames, nfft, window)
        run_spectrogram(frames, nfft)
        t_det: list[float] = []
        t_fft: list[float] = []
        t_spec: list[float] = []
        for i in range(args.repeats):
            order = (0, 1, 2) if i % 2 == 0 else (2, 1, 0)
            for which in order:
                t0 = time.perf_counter()
                if which == 0:
                    run_detector(frames, tracks)
                    t_det.append(time.perf_counter() - t0)
                elif which == 1:
                    run_bare_fft(frames, nfft, window)
                    t_fft.append(time.perf_counter() - t0)
                else:
                    run_spectrogram(frames, nfft)
                    t_spec.append(time.perf_counter() - t0)
        det_s, fft_s = statistics.median(t_det), statistics.median(t_fft)
        spec_ratio = fft_s / statistics.median(t_spec)
        ratio = fft_s / det_s
        ratios.append(ratio)
        print(
            f"{kind.name:<11} {rate / 1e6:7.1f} {nfft:5d} {detections:5d} "
            f"{det_s / len(frames) * 1e3:12.2f} {fft_s / len(frames) * 1e3:7.2f} "
            f"{samples / det_s / 1e6:14.1f} {samples / fft_s / 1e6:9.1f} {ratio:6.2f} "
            f"{spec_ratio:10.2f}",
            flush=True,
        )
    print(f"lowest ratio {min(ratios):.2f} (target >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
