"""`sensor-hub record | replay | simulate`: argparse wiring for the simulator commands.

`sensor_hub.cli` adds the subcommands with `add_record_parser(sub)` etc.; each sets
`run=<function>` as a parser default, so the CLI dispatches with `args.run(args)`, which
returns the process exit code (0 ok, 1 frames rejected, 2 error).

Scenarios are named (`SCENARIOS`, a registry others extend) or given as a path to a
YAML file (loaded by `simulator.scenario_file.load_scenario`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from simulator.capture import (
    DEFAULT_FULL_SCALE_DB_SPL,
    DEFAULT_START_TIME_NS,
    CaptureError,
    iso_utc,
    parse_iso_utc_ns,
    record,
)
from simulator.demo import demo_scenario
from simulator.replay import ReplayError, ReplaySummary, replay, simulate_async
from simulator.scenario import Scenario

#: named scenarios: name -> factory(seed)
SCENARIOS: dict[str, Callable[[int], Scenario]] = {
    "demo": lambda seed: demo_scenario(seed=seed),
}
DEFAULT_SEED = 1


class CommandError(Exception):
    """A user error worth one line on stderr and exit code 2."""


def load_scenario(name_or_path: str, *, seed: int | None = None) -> Scenario:
    """A registered name, or a path ending in .yaml / .yml."""
    if name_or_path.endswith((".yaml", ".yml")):
        try:
            module = importlib.import_module("simulator.scenario_file")
        except ModuleNotFoundError as exc:
            raise CommandError(
                f"cannot load {name_or_path}: YAML scenarios need simulator.scenario_file, "
                f"which is not available ({exc}); named scenarios: {', '.join(sorted(SCENARIOS))}"
            ) from None
        if not Path(name_or_path).exists():
            raise CommandError(f"scenario file {name_or_path} does not exist")
        scenario: Scenario = module.load_scenario(Path(name_or_path), seed=seed)
        return scenario
    factory = SCENARIOS.get(name_or_path)
    if factory is None:
        raise CommandError(
            f"unknown scenario {name_or_path!r}: give a .yaml file or one of "
            f"{', '.join(sorted(SCENARIOS))}"
        )
    return factory(DEFAULT_SEED if seed is None else seed)


def _start_time(value: str) -> int:
    """ISO-8601 UTC ('2024-01-01T00:00:00Z') or integer epoch nanoseconds."""
    if value.isdigit():
        return int(value)
    try:
        return parse_iso_utc_ns(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc}") from None


def _speed(value: str) -> float:
    speed = float(value)
    if speed < 0 or math.isnan(speed):
        raise argparse.ArgumentTypeError(f"speed {value!r} must be >= 0 (0 or inf: no pacing)")
    return speed


def _fail(message: str) -> int:
    print(f"sensor-hub: error: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------- record


def add_record_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "record",
        help="render a scenario into capture files (SigMF, WAV, truth.json)",
        description="Render one pass of a scenario: a SigMF recording per RF sensor, a WAV "
        "(+ calibration .json) per acoustic sensor and truth.json. Byte-identical for the "
        "same scenario, seed and --start-time.",
    )
    p.add_argument("scenario", help=f"a .yaml file or a name ({', '.join(sorted(SCENARIOS))})")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--duration", type=float, default=None, help="record only the first S s")
    p.add_argument(
        "--start-time",
        type=_start_time,
        default=DEFAULT_START_TIME_NS,
        help="UTC time of scenario t=0, ISO-8601 or epoch ns "
        f"(default {iso_utc(DEFAULT_START_TIME_NS)})",
    )
    p.add_argument("--plots", action="store_true", help="write spectrogram PNGs to OUT/plots/")
    p.add_argument("--sha512", action="store_true", help="write each data file's SigMF core:sha512")
    p.add_argument("--force", action="store_true", help="overwrite an existing capture in OUT")
    p.set_defaults(run=run_record)


def run_record(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario, seed=args.seed)
        last = [time.monotonic()]
        t0 = time.monotonic()

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 2.0 or done == total:
                last[0] = now
                print(f"record: {done}/{total} frames ({100 * done / max(total, 1):.0f} %)",
                      flush=True)  # fmt: skip

        summary = record(
            scenario, args.out, start_time_ns=args.start_time, duration_s=args.duration,
            plots=args.plots, checksum=args.sha512, overwrite=args.force, progress=progress,
        )  # fmt: skip
        if args.plots:  # and one audio spectrogram per acoustic emission
            from simulator.plots import acoustic_emission_pngs

            acoustic_emission_pngs(summary.out_dir)
        wall = time.monotonic() - t0
    except (CommandError, CaptureError, OSError, ValueError) as exc:
        return _fail(str(exc))
    print(
        f"recorded {summary.duration_s:g} s of {args.scenario} (seed {scenario.seed}) into "
        f"{summary.out_dir}: {summary.frames} frames, {summary.annotations} annotations, "
        f"{len(summary.files)} files, {summary.bytes_written / 1e6:.1f} MB in {wall:.1f} s "
        f"({summary.duration_s / max(wall, 1e-9):.1f}x real time)",
        flush=True,
    )
    return 0


# ---------------------------------------------------------------- replay


def _destination(p: argparse.ArgumentParser) -> None:
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--broker", default=None, help="mqtt://host:port")
    dest.add_argument("--http", default=None, help="hub base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--mqtt-protocol", default="5", choices=["5", "3.1.1"])
    p.add_argument(
        "--speed", type=_speed, default=1.0, help="time factor (default 1; 0 or inf: no pacing)"
    )


def add_replay_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="publish recorded captures to a broker or a hub",
        description="Publish capture directories, SigMF recordings and WAV files as SHF1 "
        "frames, re-stamped to start now, paced by their recorded times / --speed.",
    )
    p.add_argument("paths", nargs="+", type=Path, help="capture dirs, .sigmf-meta or .wav files")
    _destination(p)
    p.add_argument("--site", default=None, help="site id (default: the recorded one, or 'replay')")
    p.add_argument(
        "--center-freq", type=float, default=None, help="Hz, for SigMF files without core:frequency"
    )
    p.add_argument(
        "--full-scale-db-spl",
        type=float,
        default=DEFAULT_FULL_SCALE_DB_SPL,
        help="calibration of plain WAV files (default 120)",
    )
    p.set_defaults(run=run_replay)


def _print_replay(summary: ReplaySummary) -> None:
    rejected = f", rejected {summary.rejected}" if summary.rejected else ""
    dup = f", duplicates {summary.duplicates}" if summary.duplicates else ""
    print(f"replay: sent {summary.sent} frames (t = {summary.last_due_s:.1f} s){dup}{rejected}",
          flush=True)  # fmt: skip


def run_replay(args: argparse.Namespace) -> int:
    try:
        summary = replay(
            args.paths, broker_url=args.broker, http_url=args.http, speed=args.speed,
            site=args.site, center_freq_hz=args.center_freq,
            full_scale_db_spl=args.full_scale_db_spl, mqtt_protocol=args.mqtt_protocol,
            progress=_print_replay,
        )  # fmt: skip
    except (CaptureError, ReplayError, OSError, ValueError) as exc:
        return _fail(str(exc))
    for path in map(Path, args.paths):
        if (path / "truth.json").is_file():
            # `evaluate` maps alert times back to scenario time with this
            record = {"start_time_ns": summary.start_time_ns, "speed": args.speed,
                      "frames": summary.sent}  # fmt: skip
            (path / "replay.json").write_text(json.dumps(record, indent=2) + "\n")
    return 1 if summary.rejected else 0


# ---------------------------------------------------------------- simulate


def add_simulate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        help="run a scenario live into a broker or a hub",
        description="Publish a scenario's frames as they fall due (x --speed), looping "
        "with --loop until Ctrl-C.",
    )
    p.add_argument("scenario", help=f"a .yaml file or a name ({', '.join(sorted(SCENARIOS))})")
    _destination(p)
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--loop", action="store_true", help="repeat the scenario until stopped")
    p.set_defaults(run=run_simulate)


async def _simulate(args: argparse.Namespace, scenario: Scenario) -> ReplaySummary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    speed = math.inf if args.speed == 0 else args.speed
    if math.isinf(speed):
        speed = 1e9  # run_live needs a finite factor: this is "no pacing"
    return await simulate_async(
        scenario, broker_url=args.broker, http_url=args.http, speed=speed, loop=args.loop,
        stop=stop, mqtt_protocol=args.mqtt_protocol,
    )  # fmt: skip


def run_simulate(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario, seed=args.seed)
        started = datetime.now(UTC).strftime("%H:%M:%S")
        print(f"simulate: {args.scenario} (seed {scenario.seed}, {scenario.duration_s:g} s"
              f"{', looping' if args.loop else ''}) from {started} UTC", flush=True)  # fmt: skip
        summary = asyncio.run(_simulate(args, scenario))
    except (CommandError, ReplayError, OSError, ValueError) as exc:
        return _fail(str(exc))
    _print_replay(summary)
    return 1 if summary.rejected else 0
