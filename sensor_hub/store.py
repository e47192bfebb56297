"""Persistence of sensors, detections, alerts, live events and the audit trail.

SQLAlchemy 2 Core over one schema (`store_tables.py`) for SQLite (the embedded
default, WAL) and PostgreSQL (psycopg 3). SQLAlchemy appears nowhere else in
the project: callers hand in and get back the pydantic models of `schemas.py`.

Threading: the API calls the store from FastAPI's threadpool while the hub writes
from the event-loop thread. A `Store` owns an `Engine` with a connection pool,
each method is one short transaction (`engine.begin()`), and no connection is
shared between calls. An in-memory SQLite database has exactly one connection,
so calls on it are serialised with a lock.

Retention (`purge_before`):

- detections that ended before the cutoff, except those of alerts that are
  still open (active or acknowledged): their evidence stays while they are open;
- frames_seen rows recorded before the cutoff (idempotency only needs to cover
  redelivery, which is minutes, not days);
- resolved alerts whose last_seen and updated_at are both before the cutoff, and with
  them their evidence media (spectrogram PNG, audio clip): evidence lives exactly as long
  as its alert, and each item is capped at `MAX_EVIDENCE_BYTES`;
- live events before the cutoff, except the newest one, so that
  `last_event_id()` never goes back and event ids stay monotonic across restarts;
- the audit trail is KEPT: it is the accountability record of operator actions
  (who acknowledged or resolved what, when, with which note), small, and is
  what an investigation asks for after the alert itself has been purged.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sensor_hub import store_tables as t
from sensor_hub.errors import ConflictError, NotFoundError
from sensor_hub.schemas import (
    Alert,
    AlertPage,
    AuditEntry,
    Detection,
    Event,
    EvidenceInfo,
    Sensor,
    utc_now,
)
from sensor_hub.store_tables import as_utc

__all__ = ["MAX_EVIDENCE_BYTES", "Store"]

#: the largest evidence item the store accepts (renderers aim far lower: 1 MB PNG, 2 MB WAV)
MAX_EVIDENCE_BYTES = 4 * 1024 * 1024

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    delta = as_utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_cursor(first_seen: datetime, alert_id: str) -> str:
    """Opaque, URL-safe position after the alert (`first_seen`, `alert_id`)."""
    raw = json.dumps([_micros(first_seen), alert_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Inverse of `encode_cursor`; ValueError says what is wrong with a bad cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        position = json.loads(raw)
    except (UnicodeError, binascii.Error, ValueError) as exc:
        raise ValueError(f"malformed cursor {cursor[:80]!r}: not a cursor from this API") from exc
    if (
        not isinstance(position, list)
        or len(position) != 2
        or type(position[0]) is not int
        or not isinstance(position[1], str)
    ):
        raise ValueError(f"malformed cursor {cursor[:80]!r}: unexpected content")
    try:
        first_seen = _EPOCH + timedelta(microseconds=position[0])
    except OverflowError as exc:
        raise ValueError(f"malformed cursor {cursor[:80]!r}: time out of range") from exc
    return first_seen, position[1]


class Store:
    """The project's database: open with `Store.open(url)`, close when done."""

    def __init__(
        self, engine: Engine, *, serialize: bool = False, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._engine = engine
        self._lock = threading.RLock() if serialize else None
        self._clock = clock
        self._dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], datetime] = utc_now) -> Self:
        """Connect to `url` and create missing tables; ConfigError on a bad URL.

        `sqlite:///path.db` (file, WAL), `sqlite://` (in memory, one connection),
        `postgresql+psycopg://user@host:port/db` (`postgresql://` means the same).
        `clock` stamps frames_seen rows (tests pass a fake clock).
        """
        engine, serialize = t.create_engine_for(url)
        try:
            t.metadata.create_all(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, serialize=serialize, clock=clock)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """One short transaction, committed on success, rolled back on error."""
        if self._lock is None:
            with self._engine.begin() as conn:
                yield conn
        else:
            with self._lock, self._engine.begin() as conn:
                yield conn

    def _upsert(self, conn: Connection, table: Table, row: dict[str, Any], keys: list[str]) -> None:
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(table).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={name: stmt.excluded[name] for name in row if name not in keys},
        )
        conn.execute(stmt)

    def ping(self) -> bool:
        """True if the database answers (for /readyz)."""
        try:
            with self._begin() as conn:
                conn.execute(select(1)).scalar_one()
        except SQLAlchemyError:
            return False
        return True

    # -- frames ---------------------------------------------------------------

    def frame_seen(self, site: str, sensor_id: str, boot_id: str, seq: int) -> bool:
        """Record the frame's idempotency key; True if it had been recorded already."""
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = (
            dialect_insert(t.frames_seen)
            .values(site=site, sensor_id=sensor_id, boot_id=boot_id, seq=seq, seen_at=self._clock())
            .on_conflict_do_nothing()
            # RETURNING yields no row when the key existed; the driver's rowcount for
            # INSERT is not reliable across dialects (SQLAlchemy does not keep it).
            .returning(t.frames_seen.c.seq)
        )
        with self._begin() as conn:
            return conn.execute(stmt).first() is None

    # -- detections -----------------------------------------------------------

    def add_detections(self, detections: Sequence[Detection], alert_id: str | None = None) -> None:
        if not detections:
            return
        rows = [
            {
                "alert_id": alert_id,
                "site": d.site,
                "sensor_id": d.sensor_id,
                "kind": d.kind,
                "signature": d.signature,
                "t_start": as_utc(d.t_start, "Detection.t_start"),
                "t_end": as_utc(d.t_end, "Detection.t_end"),
                "confidence": d.confidence,
                "data": d.model_dump(mode="json"),
            }
            for d in detections
        ]
        with self._begin() as conn:
            conn.execute(insert(t.detections), rows)

    def link_detections(
        self,
        site: str,
        kind: str,
        since: datetime,
        alert_id: str,
        *,
        signatures: Sequence[str] | None = None,
        sensors: Sequence[str] | None = None,
    ) -> int:
        """Attach unlinked detections of (site, kind) ending at or after `since` (and of one
        of `signatures`, from one of `sensors`, when given) to an alert.

        Used when persistence is reached: the frames that built up to the alert become its
        evidence. Returns the number of detections linked.
        """
        where = [
            t.detections.c.alert_id.is_(None),
            t.detections.c.site == site,
            t.detections.c.kind == kind,
            t.detections.c.t_end >= as_utc(since, "since"),
        ]
        if signatures is not None:
            where.append(t.detections.c.signature.in_(list(signatures)))
        if sensors is not None:
            where.append(t.detections.c.sensor_id.in_(list(sensors)))
        stmt = update(t.detections).where(*where).values(alert_id=alert_id)
        with self._begin() as conn:
            return int(conn.execute(stmt).rowcount or 0)

    def alert_detections(self, alert_id: str, limit: int = 200) -> list[Detection]:
        """The alert's detections, newest first (by t_start)."""
        stmt = (
            select(t.detections.c.data)
            .where(t.detections.c.alert_id == alert_id)
            .order_by(t.detections.c.t_start.desc(), t.detections.c.id.desc())
            .limit(_check_limit(limit))
        )
        with self._begin() as conn:
            return [Detection.model_validate(data) for data in conn.execute(stmt).scalars()]

    # -- alerts ---------------------------------------------------------------

    def save_alert(self, alert: Alert) -> None:
        """Insert the alert, or replace the stored one with the same id."""
        row = {
            "id": alert.id,
            "site": alert.site,
            "zone": alert.zone,
            "kind": alert.kind,
            "state": alert.state,
            "severity": alert.severity,
            "confidence": alert.confidence,
            "first_seen": as_utc(alert.first_seen, "Alert.first_seen"),
            "last_seen": as_utc(alert.last_seen, "Alert.last_seen"),
            "updated_at": as_utc(alert.updated_at, "Alert.updated_at"),
            "data": alert.model_dump(mode="json"),
        }
        with self._begin() as conn:
            self._upsert(conn, t.alerts, row, ["id"])

    def get_alert(self, alert_id: str) -> Alert:
        with self._begin() as conn:
            data = conn.execute(select(t.alerts.c.data).where(t.alerts.c.id == alert_id)).scalar()
        if data is None:
            raise NotFoundError(f"alert {alert_id!r} does not exist")
        return Alert.model_validate(data)

    def list_alerts(
        self,
        *,
        state: Sequence[str] | None = None,
        kind: Sequence[str] | None = None,
        zone: str | None = None,
        site: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AlertPage:
        """Alerts newest first by (first_seen desc, id desc), one page at a time.

        `since` keeps alerts still seen at or after it (last_seen >= since), `until`
        those that began at or before it (first_seen <= until). Pages are keyset
        pages: updating alerts between pages neither repeats nor skips any, because
        first_seen and id never change. A malformed `cursor` raises ValueError.
        """
        limit = _check_limit(limit)
        stmt = select(t.alerts.c.data, t.alerts.c.first_seen, t.alerts.c.id)
        if state is not None:
            stmt = stmt.where(t.alerts.c.state.in_(list(state)))
        if kind is not None:
            stmt = stmt.where(t.alerts.c.kind.in_(list(kind)))
        if zone is not None:
            stmt = stmt.where(t.alerts.c.zone == zone)
        if site is not None:
            stmt = stmt.where(t.alerts.c.site == site)
        if since is not None:
            stmt = stmt.where(t.alerts.c.last_seen >= as_utc(since, "since"))
        if until is not None:
            stmt = stmt.where(t.alerts.c.first_seen <= as_utc(until, "until"))
        if cursor is not None:
            after_first_seen, after_id = decode_cursor(cursor)
            stmt = stmt.where(
                or_(
                    t.alerts.c.first_seen < after_first_seen,
                    and_(t.alerts.c.first_seen == after_first_seen, t.alerts.c.id < after_id),
                )
            )
        stmt = stmt.order_by(t.alerts.c.first_seen.desc(), t.alerts.c.id.desc()).limit(limit + 1)
        with self._begin() as conn:
            rows = conn.execute(stmt).all()
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = encode_cursor(last.first_seen, last.id)
        return AlertPage(
            items=[Alert.model_validate(r.data) for r in page], next_cursor=next_cursor
        )

    # -- evidence -------------------------------------------------------------

    def save_evidence(self, info: EvidenceInfo, content: bytes) -> bool:
        """Keep `content` as the alert's evidence of `info.modality` unless the stored item
        has an equal or higher snr_db; True if stored. Safe against racing writers: the
        comparison happens in the database. ValueError beyond MAX_EVIDENCE_BYTES."""
        if len(content) > MAX_EVIDENCE_BYTES:
            raise ValueError(
                f"evidence of {len(content)} bytes exceeds the limit of {MAX_EVIDENCE_BYTES}"
            )
        info = info.model_copy(update={"size_bytes": len(content)})
        row = {
            "alert_id": info.alert_id,
            "modality": info.modality,
            "media_type": info.media_type,
            "snr_db": info.snr_db,
            "created_at": as_utc(info.created_at, "EvidenceInfo.created_at"),
            "data": info.model_dump(mode="json"),
            "content": content,
        }
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(t.evidence).values(row)
        upsert = stmt.on_conflict_do_update(
            index_elements=["alert_id", "modality"],
            set_={
                name: stmt.excluded[name] for name in row if name not in ("alert_id", "modality")
            },
            where=stmt.excluded.snr_db > t.evidence.c.snr_db,
        ).returning(t.evidence.c.alert_id)
        with self._begin() as conn:
            return conn.execute(upsert).first() is not None

    def list_evidence(self, alert_id: str) -> list[EvidenceInfo]:
        """The alert's evidence items (without their bytes), ordered by modality."""
        stmt = (
            select(t.evidence.c.data)
            .where(t.evidence.c.alert_id == alert_id)
            .order_by(t.evidence.c.modality)
        )
        with self._begin() as conn:
            return [EvidenceInfo.model_validate(data) for data in conn.execute(stmt).scalars()]

    def get_evidence(self, alert_id: str, modality: str) -> tuple[EvidenceInfo, bytes]:
        """One evidence item and its bytes; NotFoundError if there is none."""
        stmt = select(t.evidence.c.data, t.evidence.c.content).where(
            t.evidence.c.alert_id == alert_id, t.evidence.c.modality == modality
        )
        with self._begin() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"alert {alert_id!r} has no {modality} evidence")
        return EvidenceInfo.model_validate(row.data), bytes(row.content)

    # -- audit ----------------------------------------------------------------

    def add_audit(self, entry: AuditEntry) -> None:
        row = {
            "alert_id": entry.alert_id,
            "action": entry.action,
            "user": entry.user,
            "note": entry.note,
            "at": as_utc(entry.at, "AuditEntry.at"),
            "data": entry.model_dump(mode="json"),
        }
        with self._begin() as conn:
            conn.execute(insert(t.audit).values(row))

    def audit_for(self, alert_id: str) -> list[AuditEntry]:
        """The alert's audit trail, oldest first."""
        stmt = (
            select(t.audit.c.data)
            .where(t.audit.c.alert_id == alert_id)
            .order_by(t.audit.c.at, t.audit.c.id)
        )
        with self._begin() as conn:
            return [AuditEntry.model_validate(data) for data in conn.execute(stmt).scalars()]

    # -- live events ----------------------------------------------------------

    def add_event(self, event: Event) -> None:
        """Store a live event; ConflictError if its id is already stored."""
        row = {
            "id": event.id,
            "type": event.type,
            "site": event.site,
            "alert_id": event.alert.id if event.alert is not None else None,
            "at": as_utc(event.at, "Event.at"),
            "data": event.model_dump(mode="json"),
        }
        try:
            with self._begin() as conn:
                conn.execute(insert(t.alert_events).values(row))
        except IntegrityError as exc:
            raise ConflictError(f"event id {event.id} is already stored") from exc

    def events_after(self, event_id: int, limit: int = 500) -> list[Event]:
        """Events with id > event_id, ascending (to resume a live stream)."""
        stmt = (
            select(t.alert_events.c.data)
            .where(t.alert_events.c.id > event_id)
            .order_by(t.alert_events.c.id)
            .limit(_check_limit(limit))
        )
        with self._begin() as conn:
            return [Event.model_validate(data) for data in conn.execute(stmt).scalars()]

    def last_event_id(self) -> int:
        """The highest stored event id, 0 if none."""
        with self._begin() as conn:
            return int(
                conn.execute(select(func.coalesce(func.max(t.alert_events.c.id), 0))).scalar_one()
            )

    # -- sensors --------------------------------------------------------------

    def save_sensor(self, sensor: Sensor) -> None:
        """Insert the sensor, or replace the stored one with the same (site, sensor_id)."""
        row = {
            "site": sensor.site,
            "sensor_id": sensor.sensor_id,
            "state": sensor.state,
            "last_seen": (
                as_utc(sensor.last_seen, "Sensor.last_seen") if sensor.last_seen else None
            ),
            "data": sensor.model_dump(mode="json"),
        }
        with self._begin() as conn:
            self._upsert(conn, t.sensors, row, ["site", "sensor_id"])

    def get_sensor(self, site: str, sensor_id: str) -> Sensor:
        stmt = select(t.sensors.c.data).where(
            t.sensors.c.site == site, t.sensors.c.sensor_id == sensor_id
        )
        with self._begin() as conn:
            data = conn.execute(stmt).scalar()
        if data is None:
            raise NotFoundError(f"sensor {sensor_id!r} of site {site!r} does not exist")
        return Sensor.model_validate(data)

    def list_sensors(self, site: str | None = None) -> list[Sensor]:
        """Sensors ordered by (site, sensor_id), optionally of one site."""
        stmt = select(t.sensors.c.data).order_by(t.sensors.c.site, t.sensors.c.sensor_id)
        if site is not None:
            stmt = stmt.where(t.sensors.c.site == site)
        with self._begin() as conn:
            return [Sensor.model_validate(data) for data in conn.execute(stmt).scalars()]

    # -- retention ------------------------------------------------------------

    def purge_before(self, cutoff: datetime) -> int:
        """Delete what retention allows before `cutoff` (module docstring); rows deleted."""
        cutoff = as_utc(cutoff, "cutoff")
        open_alert = exists().where(
            t.alerts.c.id == t.detections.c.alert_id, t.alerts.c.state != "resolved"
        )
        newest_event = select(func.max(t.alert_events.c.id)).scalar_subquery()
        statements = [
            delete(t.detections).where(t.detections.c.t_end < cutoff, not_(open_alert)),
            delete(t.frames_seen).where(t.frames_seen.c.seen_at < cutoff),
            delete(t.alerts).where(
                t.alerts.c.state == "resolved",
                t.alerts.c.last_seen < cutoff,
                t.alerts.c.updated_at < cutoff,
            ),
            # after the alerts: evidence goes with its alert
            delete(t.evidence).where(not_(exists().where(t.alerts.c.id == t.evidence.c.alert_id))),
            delete(t.alert_events).where(
                t.alert_events.c.at < cutoff, t.alert_events.c.id < newest_event
            ),
        ]
        with self._begin() as conn:
            return sum(conn.execute(stmt).rowcount for stmt in statements)


def _check_limit(limit: int) -> int:
    # Callers bound page sizes (the API caps them); the store only refuses nonsense.
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return limit
