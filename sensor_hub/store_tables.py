"""Engine set-up and table definitions of the store: one schema for SQLite and PostgreSQL.

Only `sensor_hub/store.py` imports this module. Every row keeps the full pydantic
object as JSON in `data` (`model_dump(mode="json")`), so reading returns exactly
the model; the typed columns beside it exist only to filter, order and purge.

Timestamps are `UTCDateTime`: `timestamptz` on PostgreSQL, and on SQLite a
fixed-width `YYYY-MM-DD HH:MM:SS.ffffff` UTC string, which sorts and compares
correctly as text. Naive datetimes are refused rather than guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    URL,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from sensor_hub.errors import ConfigError


def as_utc(value: datetime, what: str = "datetime") -> datetime:
    """`value` converted to UTC; a naive datetime is an error (its zone is unknown)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        # SQLite's DATETIME storage ignores tzinfo: store naive UTC explicitly.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact); JSON text elsewhere.
JSONDoc: Any = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not BIGINT.
AutoId: Any = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

sensors = Table(
    "sensors",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("sensor_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("last_seen", UTCDateTime, nullable=True),
    Column("data", JSONDoc, nullable=False),
)

frames_seen = Table(
    "frames_seen",
    metadata,
    # The primary key is the idempotency key (site, sensor_id, boot_id, seq).
    Column("site", String(64), primary_key=True),
    Column("sensor_id", String(64), primary_key=True),
    Column("boot_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("seen_at", UTCDateTime, nullable=False, index=True),
)

detections = Table(
    "detections",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("alert_id", String(128), nullable=True),
    Column("site", String(64), nullable=False),
    Column("sensor_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("signature", String(64), nullable=False),
    Column("t_start", UTCDateTime, nullable=False),
    Column("t_end", UTCDateTime, nullable=False, index=True),
    Column("confidence", Float, nullable=False),
    Column("data", JSONDoc, nullable=False),
    Index("ix_detections_alert_time", "alert_id", "t_start", "id"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("zone", String(128), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("data", JSONDoc, nullable=False),
    # The listing order (first_seen desc, id desc) is also the keyset cursor.
    Index("ix_alerts_first_seen_id", "first_seen", "id"),
    Index("ix_alerts_state", "state"),
    Index("ix_alerts_site", "site"),
)

alert_events = Table(
    "alert_events",
    metadata,
    # Assigned by the hub (monotonic per hub), not by the database.
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(32), nullable=False),
    Column("site", String(64), nullable=False),
    Column("alert_id", String(128), nullable=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("data", JSONDoc, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("alert_id", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("user", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("data", JSONDoc, nullable=False),
    Index("ix_audit_alert_at", "alert_id", "at", "id"),
)

evidence = Table(
    "evidence",
    metadata,
    # One item per alert and modality, replaced by a stronger one; purged with its alert.
    Column("alert_id", String(128), primary_key=True),
    Column("modality", String(16), primary_key=True),
    Column("media_type", String(32), nullable=False),
    Column("snr_db", Float, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("data", JSONDoc, nullable=False),  # EvidenceInfo
    Column("content", LargeBinary, nullable=False),  # the PNG or WAV bytes (bytea / BLOB)
)


#: SQLite waits this long for a competing writer before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30.0


def create_engine_for(url: str) -> tuple[Engine, bool]:
    """A configured engine for `url`, and whether its calls must be serialised.

    Raises ConfigError for a URL that is malformed or names an unsupported
    database or driver.
    """
    try:
        parsed: URL = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if backend == "sqlite":
        if driver not in ("pysqlite", ""):
            raise ConfigError(f"unsupported SQLite driver {driver!r} in {url!r}; use sqlite:///")
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":  # bare postgresql:// means psycopg 3 here
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif driver != "psycopg":
            raise ConfigError(
                f"unsupported PostgreSQL driver {driver!r} in {url!r}; use postgresql+psycopg://"
            )
        try:
            engine = create_engine(parsed, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise ConfigError(f"cannot use database URL {url!r}: {exc}") from exc
        return engine, False
    raise ConfigError(
        f"unsupported database URL {url!r}: expected sqlite:///path.db, sqlite:// "
        "or postgresql+psycopg://user@host/db"
    )


def _sqlite_engine(parsed: URL) -> tuple[Engine, bool]:
    in_memory = parsed.database in (None, "", ":memory:")
    if parsed.database and not in_memory:
        folder = Path(parsed.database).expanduser().absolute().parent
        if not folder.is_dir():
            raise ConfigError(f"SQLite database folder {str(folder)!r} does not exist")
    connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
    if in_memory:
        # One shared connection, or every checkout would see a new empty database.
        engine = create_engine(parsed, connect_args=connect_args, poolclass=StaticPool)
    else:
        engine = create_engine(parsed, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()

    return engine, in_memory
