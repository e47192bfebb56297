"""`sensor-hub` command line.

    sensor-hub demo    embedded broker + hub + API + demo scenario, one process
    sensor-hub serve     hub + API against a broker and a database given by URL
    sensor-hub simulate  run a scenario live into a broker or a hub
    sensor-hub record    render a scenario into SigMF / WAV captures and truth.json
    sensor-hub replay    publish captures (or real recordings) to a broker or a hub
    sensor-hub detect    run the detectors on SigMF / WAV files, print JSON lines
    sensor-hub evaluate  score a hub's alerts against a recording's truth

A later issue adds collect.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from sensor_hub import __version__
from sensor_hub.errors import SensorHubError
from sensor_hub.service import Running, run
from sensor_hub.settings import Settings
from sensor_hub.site import SiteConfig, SiteFileError, load_site

log = logging.getLogger("sensor_hub")


def _db_url(value: str) -> str:
    """Accept a SQLAlchemy URL or a plain file path (which means SQLite)."""
    return value if "://" in value else f"sqlite:///{value}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sensor-hub",
        description="Detect drones and contraband handsets from RF and acoustic sensors.",
    )
    p.add_argument("--version", action="version", version=f"sensor-hub {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="embedded broker + hub + API + simulated sensors")
    demo.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    demo.add_argument("--host", default="127.0.0.1", help="API bind address (default 127.0.0.1)")
    demo.add_argument("--db", default="sensor-hub.db", help="SQLite file or database URL")
    demo.add_argument(
        "--broker",
        default=None,
        help="use this broker (mqtt://host:port) instead of the embedded one",
    )
    demo.add_argument("--speed", type=float, default=1.0, help="scenario speed factor")

    serve = sub.add_parser("serve", help="hub + API against a broker and a database")
    serve.add_argument(
        "--broker", default=None, help="mqtt://host:port (default: start the embedded broker)"
    )
    serve.add_argument("--mqtt-protocol", default="auto", choices=["auto", "5", "3.1.1"])
    serve.add_argument("--db", default="sensor-hub.db", help="SQLite file or database URL")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--site",
        default=None,
        metavar="FILE",
        help="site YAML: zones, cells, sensors, floor plan, allow rules (see README); "
        "or a simulator scenario, whose site and sensors it takes",
    )

    # the simulator's tools live in simulator/ (which may import sensor_hub, not the reverse
    # at import time): import their argument wiring here, when the CLI is built
    from sensor_hub.detect_cli import add_detect_parser
    from simulator.commands import add_record_parser, add_replay_parser, add_simulate_parser
    from simulator.evaluate_cli import add_evaluate_parser

    add_simulate_parser(sub)
    add_record_parser(sub)
    add_replay_parser(sub)
    add_detect_parser(sub)
    add_evaluate_parser(sub)
    return p


def _banner(demo: bool) -> object:
    def on_ready(r: Running) -> None:
        broker = (
            f"{r.broker_url} (embedded amqtt, MQTT 3.1.1)" if r.embedded_broker else r.broker_url
        )
        print(f"sensor-hub {__version__} {'demo ' if demo else ''}running", flush=True)
        print(
            f"  alerts:   {r.api_url}/   (API {r.api_url}/v1/alerts, docs {r.api_url}/docs)",
            flush=True,
        )
        print(f"  broker:   {broker}", flush=True)
        print(f"  database: {r.hub.settings.db_url}", flush=True)
        print("  press Ctrl-C to stop", flush=True)

    return on_ready


async def _main_async(settings: Settings, demo: bool, speed: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, demo=demo, stop=stop, on_ready=_banner(demo), demo_speed=speed)  # type: ignore[arg-type]


def _site(path: str) -> SiteConfig:
    """A site file, or a simulator scenario file (its site, sensors and undated rules: for
    replaying its recordings into this hub)."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        doc = None  # load_site reports it
    if isinstance(doc, dict) and "emitters" in doc:
        from sensor_hub.service import site_config_of
        from simulator.scenario_file import load_scenario

        scenario = load_scenario(path)
        dated = [r["name"] for r in scenario.allow if r.get("windows")]
        if dated:
            logging.getLogger(__name__).warning(
                "%s: allow rules with windows in scenario time are left out: %s",
                path, ", ".join(dated),
            )  # fmt: skip
        try:
            return site_config_of(scenario)
        except ValidationError as exc:
            raise SiteFileError(f"{path}: its site is not a valid site: {exc}") from None
    return load_site(path)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    if args.command == "evaluate":
        from simulator.evaluate_cli import run_evaluate

        return run_evaluate(args)
    if hasattr(args, "run"):  # simulate, record, replay, detect
        code: int = args.run(args)
        return code
    try:
        settings = Settings(
            broker_url=args.broker,
            db_url=_db_url(args.db),
            host=args.host,
            port=args.port,
            mqtt_protocol=getattr(args, "mqtt_protocol", "auto"),
        )
        if getattr(args, "site", None):
            settings = settings.model_copy(update={"site": _site(args.site)})
        asyncio.run(_main_async(settings, args.command == "demo", getattr(args, "speed", 1.0)))
    except (SensorHubError, SiteFileError) as exc:
        print(f"sensor-hub: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sensor-hub: error: {exc}", file=sys.stderr)
        return 2
    print("sensor-hub stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
