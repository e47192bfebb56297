"""Clip-level drone-vs-not quality of the acoustic detector on the real outdoor clips.

Every clip listed in `labels.csv` (drone / helicopter / background; 44.1 kHz stereo WAV)
is cut into back-to-back 1 s frames exactly as `sensor-hub detect --summary` does
(`simulator.capture_reader`), each frame is decoded and run through the hub's stage 1
(`pipeline.detect_frame`, i.e. `detectors.acoustic.detect_rotor` on the channel mean,
with a fresh per-sensor modulation history per clip, `detectors.acoustic_history`, as the
hub keeps one per sensor), and the clip is called a drone by stage 2's persistence rule
(`sensor_hub.detect_cli.acoustic_verdict`: >= 4 frames of one rotor track, 6 under
110 Hz, with a drone comb at the alert confidence within 8 s). Positive class: drone.
Prints per clip the verdict, the number of frames at the alert cut and the median f0,
then precision, recall and F1.

These clips are a check, never a training set: nothing in the detector is fitted to them.

Same-run baseline: `detect_rotor` as it is at git revision `--baseline` (default HEAD:
the last commit), loaded from git into a private module and judged the same way.

    python bench/acoustic_quality.py [--data /work/shared/data/acoustic] [--baseline HEAD]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import csv  # noqa: E402
import importlib  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402

import numpy as np  # noqa: E402

from detectors.acoustic import AcousticDetection  # noqa: E402
from detectors.acoustic_history import HistoryRegistry  # noqa: E402
from sensor_hub.codec import Frame, Limits, decode_frame  # noqa: E402
from sensor_hub.detect_cli import acoustic_verdict  # noqa: E402
from sensor_hub.pipeline import detect_frame  # noqa: E402
from sensor_hub.schemas import Detection  # noqa: E402
from sensor_hub.settings import FusionSettings  # noqa: E402
from simulator.capture_reader import capture_frames, read_capture  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path("/work/shared/data/acoustic")
_LIMITS = Limits(max_payload_bytes=256 * 1024 * 1024)

DetectRotor = Callable[..., list[AcousticDetection]]


def git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                         check=False)  # fmt: skip
    return out.stdout.strip()


def commit_label() -> str:
    """The commit measured, marked when detectors/ has uncommitted changes."""
    dirty = " (+ uncommitted changes)" if git("status", "--porcelain", "detectors") else ""
    return git("rev-parse", "--short", "HEAD") + dirty


def baseline_module(rev: str) -> ModuleType | None:
    """`detectors/acoustic.py` with every `detectors/acoustic_*.py` it may import, as of
    git revision `rev`, imported under private names; None when the revision lacks it."""
    names = [Path(p).stem for p in git("ls-tree", "--name-only", rev, "detectors/").split()
             if re.fullmatch(r"detectors/acoustic\w*\.py", p)]  # fmt: skip
    if "acoustic" not in names:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="acoustic-baseline-"))
    tag = "".join(c for c in rev if c.isalnum())

    def private(match: re.Match[str]) -> str:
        return f"_baseline_{match.group(1)}_{tag}" if match.group(1) in names else match.group(0)

    for name in names:
        text = re.sub(r"\bdetectors\.(acoustic\w*)\b", private,
                      git("show", f"{rev}:detectors/{name}.py"))  # fmt: skip
        (tmp / f"_baseline_{name}_{tag}.py").write_text(text)
    sys.path.insert(0, str(tmp))  # the private modules import each other by name
    try:
        return importlib.import_module(f"_baseline_acoustic_{tag}")
    finally:
        sys.path.remove(str(tmp))


def baseline_detector(rev: str) -> tuple[DetectRotor | None, str]:
    """(detect_rotor at `rev` or None, a label naming the revision)."""
    sha = git("rev-parse", "--short", rev) or "?"
    mod = baseline_module(rev)
    fn: DetectRotor | None = getattr(mod, "detect_rotor", None) if mod else None
    return fn, f"{rev} ({sha})"


def as_detection(frame: Frame, d: AcousticDetection) -> Detection:
    """What `pipeline.detect_frame` makes of a detection (the fields stage 2 reads)."""
    h = frame.header
    return Detection(
        site=h.site, sensor_id=h.sensor_id, modality="acoustic", kind=d.kind,
        signature=d.signature, t_start=h.t0 + timedelta(seconds=d.t_start_s),
        t_end=h.t0 + timedelta(seconds=d.t_end_s),
        confidence=float(np.clip(d.confidence, 0.0, 1.0)), snr_db=round(float(d.snr_db), 2),
        f0_hz=d.f0_hz, harmonics=d.harmonics,
    )  # fmt: skip


def baseline_frame(fn: DetectRotor) -> Callable[[Frame], list[Detection]]:
    def run(frame: Frame) -> list[Detection]:
        h = frame.header
        found = fn(frame.samples, h.sample_rate_hz, full_scale_db_spl=h.full_scale_db_spl)
        return [as_detection(frame, d) for d in found]

    return run


def clip_frames(path: Path) -> list[Frame]:
    capture = read_capture(path, full_scale_db_spl=120.0)
    return [decode_frame(fr.payload, _LIMITS) for fr in capture_frames(capture, start_time_ns=0)]


@dataclass
class Verdict:
    drone: bool
    confidence: float
    hits: int  # frames with a drone comb at the alert cut
    frames: int
    f0_hz: float | None


def judge(frames: list[Frame], detect: Callable[[Frame], list[Detection]]) -> Verdict:
    dets: list[Detection] = []
    for fr in frames:
        dets += detect(fr)
    drone, conf, f0 = acoustic_verdict(dets)
    cut = FusionSettings().min_confidence
    hits = sum(1 for d in dets if d.kind == "drone" and d.confidence >= cut)
    return Verdict(drone, conf, hits, len(frames), f0)


def scores(truth: list[bool], said: list[bool]) -> tuple[int, int, int, float, float, float]:
    tp = sum(t and s for t, s in zip(truth, said, strict=True))
    fp = sum(s and not t for t, s in zip(truth, said, strict=True))
    fn = sum(t and not s for t, s in zip(truth, said, strict=True))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return tp, fp, fn, p, r, f1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with labels.csv")
    ap.add_argument("--baseline", default="HEAD", help="git revision of the baseline detector")
    ap.add_argument("--cpu", type=int, default=0)
    args = ap.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    base_fn, base_label = baseline_detector(args.baseline)
    print(f"$ python {' '.join(sys.argv)}")
    print(f"acoustic_quality: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit "
          f"{commit_label()}; baseline detector: {base_label}; "
          f"data {args.data}")  # fmt: skip
    with open(args.data / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    t0 = time.perf_counter()
    truth: list[bool] = []
    now: list[Verdict] = []
    base: list[Verdict] = []
    print(f"{'clip':<20} {'label':<11} {'now':>5} {'hits':>5} {'conf':>5} {'f0 Hz':>7}   "
          f"{'base':>5} {'hits':>5} {'conf':>5} {'f0 Hz':>7}")  # fmt: skip

    def f0s(v: Verdict) -> str:
        return f"{v.f0_hz:.1f}" if v.f0_hz is not None else "-"

    for row in rows:
        frames = clip_frames(args.data / row["path"])
        truth.append(row["label"] == "drone")
        history = HistoryRegistry()  # one recording: one sensor's history
        now.append(judge(frames, lambda fr, h=history: detect_frame(fr, h)))
        b = judge(frames, baseline_frame(base_fn)) if base_fn else Verdict(False, 0, 0, 0, None)
        base.append(b)
        n = now[-1]
        print(f"{Path(row['path']).stem:<20} {row['label']:<11} {'drone' if n.drone else '-':>5} "
              f"{n.hits:>2}/{n.frames:<2} {n.confidence:>5.2f} {f0s(n):>7}   "
              f"{'drone' if b.drone else '-':>5} {b.hits:>2}/{b.frames:<2} "
              f"{b.confidence:>5.2f} {f0s(b):>7}", flush=True)  # fmt: skip
    print(f"{'':<10} {'TP':>3} {'FP':>3} {'FN':>3} {'precision':>10} {'recall':>7} {'F1':>6}")
    runs = [("now", now), ("baseline", base)] if base_fn else [("now", now)]
    for label, verdicts in runs:
        tp, fp, fn, p, r, f1 = scores(truth, [v.drone for v in verdicts])
        print(f"{label:<10} {tp:>3} {fp:>3} {fn:>3} {p:>10.3f} {r:>7.3f} {f1:>6.3f}")
    for label, verdicts in runs:
        per: dict[str, list[float]] = {}
        for row, v in zip(rows, verdicts, strict=True):
            per.setdefault(row["label"], []).append(v.hits / max(v.frames, 1))
        shares = ", ".join(f"{k} {np.mean(x):.2f}" for k, x in sorted(per.items()))
        print(f"share of 1 s frames at the alert cut ({label}): {shares}")
    print(
        f"target: F1 >= 0.9 with no parameter fitted to these clips; "
        f"wall {time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
