"""The store against real databases: SQLite (a file per test) and PostgreSQL.

PostgreSQL: a fresh database `sensorhub_test_<hex>` per module on the server at
SENSORHUB_TEST_PG (default 127.0.0.1:5432, user postgres, trust auth), dropped
at teardown. Unreachable server: skipped, or failed when CI == "true".
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from sensor_hub.errors import ConfigError, ConflictError, NotFoundError
from sensor_hub.schemas import (
    Alert,
    AuditEntry,
    Detection,
    Event,
    EvidenceInfo,
    Location,
    Sensor,
)
from sensor_hub.store import MAX_EVIDENCE_BYTES, Store

PG_HOST = os.environ.get("SENSORHUB_TEST_PG", "postgres@127.0.0.1:5432")
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
TABLES = "sensors, frames_seen, detections, alerts, alert_events, audit, evidence"


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this module, dropped afterwards."""
    admin = f"postgresql://{PG_HOST}/postgres"
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL unreachable at {PG_HOST}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"sensorhub_test_{secrets.token_hex(6)}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_HOST}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with empty tables (or none yet) for one test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    url: str = request.getfixturevalue("pg_url")
    yield url
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        exists = conn.execute("SELECT to_regclass('public.alerts')").fetchone()
        if exists is not None and exists[0] is not None:
            conn.execute(f"TRUNCATE {TABLES}")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as opened:
        yield opened


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# -- builders -------------------------------------------------------------------


def make_alert(alert_id: str, first_seen: datetime = T0, **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": alert_id,
        "site": "hmp-north",
        "zone": "yard-a",
        "kind": "drone",
        "signatures": ["dji_droneid"],
        "state": "active",
        "severity": "high",
        "confidence": 0.8,
        "first_seen": first_seen,
        "last_seen": first_seen + timedelta(seconds=30),
        "updated_at": first_seen + timedelta(seconds=30),
        "sensors": ["rf-1", "mic-2"],
        "detection_count": 3,
        "location": Location(x_m=12.5, y_m=-3.25, radius_m=20.0),
        "evidence": {"spectrogram": "alerts/a1.png", "bands_hz": [2.4e9, 5.8e9]},
    }
    fields.update(changes)
    return Alert(**fields)


def make_detection(t_start: datetime, **changes: Any) -> Detection:
    fields: dict[str, Any] = {
        "site": "hmp-north",
        "sensor_id": "rf-1",
        "modality": "rf",
        "kind": "drone",
        "signature": "dji_droneid",
        "t_start": t_start,
        "t_end": t_start + timedelta(milliseconds=250),
        "confidence": 0.91,
        "snr_db": 17.5,
        "freq_hz": 2.4595e9,
        "bandwidth_hz": 10e6,
        "frame_seq": 7,
    }
    fields.update(changes)
    return Detection(**fields)


def make_event(event_id: int, at: datetime, alert: Alert | None = None) -> Event:
    return Event(id=event_id, type="alert.updated", site="hmp-north", at=at, alert=alert)


def make_sensor(sensor_id: str, site: str = "hmp-north", **changes: Any) -> Sensor:
    fields: dict[str, Any] = {
        "site": site,
        "sensor_id": sensor_id,
        "state": "online",
        "modality": "rf",
        "last_seen": T0,
        "last_status": {"state": "online", "t": 1714564800.5, "fw": "1.2.3"},
        "frames_total": 10,
        "rejects_by_reason": {"bad_magic": 2},
    }
    fields.update(changes)
    return Sensor(**fields)


def ids(alerts: list[Alert]) -> list[str]:
    return [a.id for a in alerts]


# -- opening --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "mysql://root@localhost/hub",
        "postgresql+psycopg2://postgres@127.0.0.1/hub",
        "sqlite+aiosqlite:///hub.db",
    ],
)
def test_open_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError, match=r"URL|driver"):
        Store.open(url)


def test_open_refuses_a_missing_sqlite_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Store.open(f"sqlite:///{tmp_path / 'missing' / 'hub.db'}")


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.save_alert(make_alert("a1"))
        with closing(sqlite3.connect(path)) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with Store.open(f"sqlite:///{path}") as reopened:
        assert reopened.get_alert("a1") == make_alert("a1")


def test_ping(store: Store) -> None:
    assert store.ping() is True


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    with Store.open("sqlite://") as store:
        errors: list[BaseException] = []

        def write(n: int) -> None:
            try:
                for i in range(20):
                    store.save_alert(make_alert(f"m{n}-{i}", T0 + timedelta(seconds=i)))
                    store.list_alerts(limit=5)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(store.list_alerts(limit=1000).items) == 80


# -- alerts ---------------------------------------------------------------------


def test_alert_round_trip_is_exact(store: Store) -> None:
    alert = make_alert("a1", note="seen over the east wall")
    store.save_alert(alert)
    loaded = store.get_alert("a1")
    assert loaded == alert
    assert loaded.first_seen.utcoffset() == timedelta(0)
    assert loaded.first_seen.microsecond == 123456


def test_alert_with_other_offset_round_trips_to_the_same_instant(store: Store) -> None:
    cest = timezone(timedelta(hours=2))
    alert = make_alert("a1", T0.astimezone(cest))
    store.save_alert(alert)
    loaded = store.get_alert("a1")
    assert loaded == alert
    assert loaded.first_seen == T0


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.save_alert(make_alert("a1", T0.replace(tzinfo=None)))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.list_alerts(since=T0.replace(tzinfo=None))


def test_save_alert_updates_by_id(store: Store) -> None:
    store.save_alert(make_alert("a1"))
    updated = make_alert(
        "a1",
        state="acknowledged",
        zone="yard-b",
        confidence=0.95,
        last_seen=T0 + timedelta(minutes=5),
        detection_count=12,
        location=None,
    )
    store.save_alert(updated)
    assert store.get_alert("a1") == updated
    assert ids(store.list_alerts(state=["acknowledged"], zone="yard-b").items) == ["a1"]
    assert store.list_alerts(state=["active"]).items == []


def test_get_alert_missing_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.get_alert("nope")


def test_list_alerts_filters(store: Store) -> None:
    minute = timedelta(minutes=1)
    store.save_alert(make_alert("drone-a", T0, last_seen=T0 + 10 * minute))
    store.save_alert(make_alert("drone-r", T0 + minute, state="resolved", zone="yard-b"))
    store.save_alert(
        make_alert("phone", T0 + 2 * minute, kind="handset", signatures=["gsm_uplink"], zone=None)
    )
    store.save_alert(make_alert("other-site", T0 + 3 * minute, site="hmp-south"))
    store.save_alert(
        make_alert("offline", T0 + 4 * minute, kind="sensor_offline", state="acknowledged")
    )

    def listed(**filters: Any) -> list[str]:
        return ids(store.list_alerts(**filters).items)

    assert listed() == ["offline", "other-site", "phone", "drone-r", "drone-a"]
    assert listed(state=["active"]) == ["other-site", "phone", "drone-a"]
    assert listed(state=["active", "acknowledged"], kind=["drone"]) == ["other-site", "drone-a"]
    assert listed(kind=["handset", "sensor_offline"]) == ["offline", "phone"]
    assert listed(zone="yard-b") == ["drone-r"]
    assert listed(site="hmp-south") == ["other-site"]
    assert listed(state=[]) == []
    # since: still seen at or after; until: began at or before.
    assert listed(since=T0 + 5 * minute) == ["drone-a"]
    assert listed(since=T0 + 3 * minute + timedelta(seconds=30)) == [
        "offline",
        "other-site",
        "drone-a",
    ]
    assert listed(until=T0 + minute) == ["drone-r", "drone-a"]
    assert listed(since=T0 + 2 * minute, until=T0 + 3 * minute) == [
        "other-site",
        "phone",
        "drone-a",
    ]
    assert listed(limit=2) == ["offline", "other-site"]


def test_limit_out_of_range_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.list_alerts(limit=0)


def test_cursor_pages_neither_repeat_nor_skip_while_alerts_change(store: Store) -> None:
    # Ties on first_seen (three alerts per second) exercise the id tie-break.
    originals = [make_alert(f"a{n:02d}", T0 + timedelta(seconds=n // 3)) for n in range(25)]
    for alert in originals:
        store.save_alert(alert)
    expected = [a.id for a in sorted(originals, key=lambda a: (a.first_seen, a.id), reverse=True)]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = store.list_alerts(limit=4, cursor=cursor)
        seen.extend(ids(page.items))
        pages += 1
        # Between pages: update alerts already listed and still to come, and
        # raise a brand-new one; none of this may disturb the remaining pages.
        for alert in (originals[pages], originals[-pages]):
            store.save_alert(
                alert.model_copy(
                    update={
                        "state": "acknowledged",
                        "last_seen": T0 + timedelta(hours=pages),
                        "updated_at": T0 + timedelta(hours=pages),
                        "confidence": 0.99,
                    }
                )
            )
        store.save_alert(make_alert(f"new{pages}", T0 + timedelta(days=1)))
        if page.next_cursor is None:
            break
        assert page.next_cursor.replace("-", "").replace("_", "").isalnum()
        cursor = page.next_cursor
    assert seen == expected
    assert pages == 7


def test_cursor_on_exact_page_boundary_ends_with_no_cursor(store: Store) -> None:
    for n in range(4):
        store.save_alert(make_alert(f"a{n}", T0 + timedelta(seconds=n)))
    first = store.list_alerts(limit=2)
    assert first.next_cursor is not None
    second = store.list_alerts(limit=2, cursor=first.next_cursor)
    assert ids(second.items) == ["a1", "a0"]
    assert second.next_cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not-a-cursor",
        "eyJhIjoxfQ",  # {"a":1}
        "WzEuNSwieCJd",  # [1.5,"x"]
        "WzEsMiwzXQ",  # [1,2,3]
        "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAsIngiXQ",  # time out of range
    ],
)
def test_malformed_cursor_raises_value_error(store: Store, cursor: str) -> None:
    with pytest.raises(ValueError, match="malformed cursor"):
        store.list_alerts(cursor=cursor)


# -- detections -----------------------------------------------------------------


def test_detections_round_trip_newest_first(store: Store) -> None:
    dets = [make_detection(T0 + timedelta(seconds=s)) for s in (2, 0, 1)]
    store.add_detections(dets, alert_id="a1")
    store.add_detections([make_detection(T0 + timedelta(seconds=9), sensor_id="rf-9")])
    store.add_detections([], alert_id="a1")
    assert store.alert_detections("a1") == [dets[0], dets[2], dets[1]]
    assert store.alert_detections("a1", limit=1) == [dets[0]]
    assert store.alert_detections("unknown") == []


# -- frames ---------------------------------------------------------------------


def test_frame_seen_is_idempotent(store: Store) -> None:
    assert store.frame_seen("hmp-north", "rf-1", "boot-a", 1) is False
    assert store.frame_seen("hmp-north", "rf-1", "boot-a", 1) is True
    assert store.frame_seen("hmp-north", "rf-1", "boot-a", 1) is True
    # Any differing part of the key is a different frame.
    assert store.frame_seen("hmp-north", "rf-1", "boot-a", 2) is False
    assert store.frame_seen("hmp-north", "rf-1", "boot-b", 1) is False
    assert store.frame_seen("hmp-north", "rf-2", "boot-a", 1) is False
    assert store.frame_seen("hmp-south", "rf-1", "boot-a", 1) is False
    assert store.frame_seen("hmp-north", "rf-1", "", 1) is False
    assert store.frame_seen("hmp-north", "rf-1", "", 1) is True


# -- events and audit -----------------------------------------------------------


def test_events_after_is_ascending_and_resumable(store: Store) -> None:
    assert store.last_event_id() == 0
    assert store.events_after(0) == []
    alert = make_alert("a1")
    events = {
        n: make_event(n, T0 + timedelta(seconds=n), alert if n % 2 else None) for n in range(1, 8)
    }
    for n in (3, 1, 7, 2, 5, 4, 6):
        store.add_event(events[n])
    assert store.last_event_id() == 7
    assert store.events_after(0) == [events[n] for n in range(1, 8)]
    assert store.events_after(4) == [events[5], events[6], events[7]]
    assert store.events_after(2, limit=2) == [events[3], events[4]]
    assert store.events_after(7) == []


def test_duplicate_event_id_is_a_conflict(store: Store) -> None:
    store.add_event(make_event(1, T0))
    with pytest.raises(ConflictError, match="event id 1"):
        store.add_event(make_event(1, T0 + timedelta(seconds=1)))
    assert store.events_after(0) == [make_event(1, T0)]


def test_audit_is_oldest_first(store: Store) -> None:
    entries = [
        AuditEntry(
            alert_id="a1",
            action="resolve",
            user="bob",
            note="false alarm: bird",
            at=T0 + timedelta(minutes=5),
        ),
        AuditEntry(alert_id="a1", action="ack", user="alice", note="", at=T0),
        AuditEntry(alert_id="a2", action="ack", user="alice", note="other", at=T0),
        AuditEntry(alert_id="a1", action="ack", user="carol", note="same time", at=T0),
    ]
    for entry in entries:
        store.add_audit(entry)
    assert store.audit_for("a1") == [entries[1], entries[3], entries[0]]
    assert store.audit_for("missing") == []


# -- sensors --------------------------------------------------------------------


def test_sensors_upsert_get_and_list(store: Store) -> None:
    store.save_sensor(make_sensor("rf-2"))
    store.save_sensor(make_sensor("mic-1", modality="acoustic", last_seen=None))
    store.save_sensor(make_sensor("rf-1", site="hmp-south"))
    changed = make_sensor("rf-2", state="offline", frames_total=99, rejects_by_reason={})
    store.save_sensor(changed)
    assert store.get_sensor("hmp-north", "rf-2") == changed
    assert [(s.site, s.sensor_id) for s in store.list_sensors()] == [
        ("hmp-north", "mic-1"),
        ("hmp-north", "rf-2"),
        ("hmp-south", "rf-1"),
    ]
    assert [s.sensor_id for s in store.list_sensors("hmp-south")] == ["rf-1"]
    with pytest.raises(NotFoundError):
        store.get_sensor("hmp-south", "rf-2")


# -- retention ------------------------------------------------------------------


def test_purge_before_keeps_open_evidence_audit_and_newest_event(db_url: str) -> None:
    day = timedelta(days=1)
    clock = FakeClock(T0)
    with Store.open(db_url, clock=clock) as store:
        old, recent = T0, T0 + 10 * day
        cutoff = T0 + 5 * day
        store.save_alert(make_alert("old-resolved", old, state="resolved"))
        store.save_alert(make_alert("old-active", old))
        store.save_alert(make_alert("recent-resolved", recent, state="resolved"))
        # Old, but resolved after the cutoff: kept until its resolution ages out.
        store.save_alert(make_alert("late-resolved", old, state="resolved", updated_at=recent))
        store.add_detections([make_detection(old)], alert_id="old-resolved")  # purged
        store.add_detections([make_detection(old)], alert_id="old-active")  # kept: alert open
        store.add_detections([make_detection(old)])  # purged: no alert
        store.add_detections([make_detection(recent)], alert_id="recent-resolved")  # kept
        store.frame_seen("hmp-north", "rf-1", "b", 1)  # seen at T0: purged
        clock.now = recent
        store.frame_seen("hmp-north", "rf-1", "b", 2)  # kept
        store.add_audit(
            AuditEntry(alert_id="old-resolved", action="resolve", user="u", note="n", at=old)
        )
        for n in (1, 2, 3):
            store.add_event(make_event(n, old))  # 1, 2 purged; 3 kept as the newest

        assert store.purge_before(cutoff) == 2 + 1 + 1 + 2

        remaining = ids(store.list_alerts().items)
        assert remaining == ["recent-resolved", "old-active", "late-resolved"]
        assert len(store.alert_detections("old-active")) == 1
        assert len(store.alert_detections("recent-resolved")) == 1
        assert store.alert_detections("old-resolved") == []
        assert store.frame_seen("hmp-north", "rf-1", "b", 1) is False
        assert store.frame_seen("hmp-north", "rf-1", "b", 2) is True
        assert [e.action for e in store.audit_for("old-resolved")] == ["resolve"]
        assert store.last_event_id() == 3
        assert [e.id for e in store.events_after(0)] == [3]
        assert store.purge_before(cutoff) == 0


# -- evidence -------------------------------------------------------------------


def make_evidence(alert_id: str, modality: str = "rf", snr_db: float = 12.0) -> EvidenceInfo:
    return EvidenceInfo(
        alert_id=alert_id,
        modality=modality,  # type: ignore[arg-type]
        media_type="image/png" if modality == "rf" else "audio/wav",
        site="hmp-north",
        sensor_id="rf-1" if modality == "rf" else "mic-2",
        signature="dji_droneid" if modality == "rf" else "rotor_harmonics",
        snr_db=snr_db,
        t=T0,
        duration_s=0.02,
        size_bytes=0,  # the store counts the bytes
        created_at=T0 + timedelta(seconds=1),
        freq_min_hz=2.4245e9 if modality == "rf" else None,
    )


def test_evidence_keeps_the_strongest_item_per_alert_and_modality(store: Store) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # NUL and high bytes survive
    assert store.save_evidence(make_evidence("a1", snr_db=12.0), png)
    assert store.save_evidence(make_evidence("a1", "acoustic", 3.0), b"RIFF....WAVE")
    assert store.save_evidence(make_evidence("a2", snr_db=1.0), b"other")
    info, content = store.get_evidence("a1", "rf")
    assert content == png and info.size_bytes == len(png) and info.snr_db == 12.0
    assert info == make_evidence("a1", snr_db=12.0).model_copy(update={"size_bytes": len(png)})
    # weaker or equal: kept as it is
    assert not store.save_evidence(make_evidence("a1", snr_db=12.0), b"equal")
    assert not store.save_evidence(make_evidence("a1", snr_db=9.0), b"weaker")
    assert store.get_evidence("a1", "rf")[1] == png
    # stronger: replaced
    assert store.save_evidence(make_evidence("a1", snr_db=15.5), b"stronger")
    assert store.get_evidence("a1", "rf") == (
        make_evidence("a1", snr_db=15.5).model_copy(update={"size_bytes": 8}),
        b"stronger",
    )
    assert [(e.modality, e.snr_db) for e in store.list_evidence("a1")] == [
        ("acoustic", 3.0),
        ("rf", 15.5),
    ]
    assert store.list_evidence("nothing") == []
    with pytest.raises(NotFoundError):
        store.get_evidence("a2", "acoustic")
    with pytest.raises(ValueError, match="exceeds the limit"):
        store.save_evidence(make_evidence("a3"), bytes(MAX_EVIDENCE_BYTES + 1))


def test_racing_evidence_writers_leave_the_strongest(store: Store) -> None:
    values = [float(v) for v in np.random.default_rng(3).permutation(40)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def write(share: list[float]) -> None:
        try:
            start.wait()
            for snr in share:
                store.save_evidence(make_evidence("race", snr_db=snr), f"{snr}".encode())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(values[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    info, content = store.get_evidence("race", "rf")
    assert (info.snr_db, content) == (39.0, b"39.0")


def test_purge_removes_evidence_with_its_alert(db_url: str) -> None:
    day = timedelta(days=1)
    with Store.open(db_url) as store:
        store.save_alert(make_alert("old-resolved", T0, state="resolved"))
        store.save_alert(make_alert("old-active", T0))
        for alert_id in ("old-resolved", "old-active"):
            store.save_evidence(make_evidence(alert_id), b"png")
            store.save_evidence(make_evidence(alert_id, "acoustic"), b"wav")
        store.save_evidence(make_evidence("never-saved"), b"orphan")
        assert store.purge_before(T0 + 5 * day) == 1 + 2 + 1
        assert store.list_evidence("old-resolved") == []
        assert store.list_evidence("never-saved") == []
        assert [e.modality for e in store.list_evidence("old-active")] == ["acoustic", "rf"]


# -- threads --------------------------------------------------------------------


def test_concurrent_writers_and_readers(store: Store) -> None:
    writers, per_writer = 4, 25
    errors: list[BaseException] = []
    start = threading.Barrier(writers + 3)

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(per_writer):
                alert = make_alert(f"w{n}-{i:02d}", T0 + timedelta(seconds=i, microseconds=n))
                store.save_alert(alert)
                store.save_alert(alert.model_copy(update={"state": "acknowledged"}))
                store.add_event(make_event(n * 1000 + i + 1, T0))
                store.frame_seen("hmp-north", f"rf-{n}", "b", i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            start.wait()
            for _ in range(15):
                page = store.list_alerts(limit=20)
                while page.next_cursor is not None:
                    page = store.list_alerts(limit=20, cursor=page.next_cursor)
                store.events_after(0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    threads += [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    everything = store.list_alerts(limit=1000).items
    assert len(everything) == writers * per_writer
    assert {a.state for a in everything} == {"acknowledged"}
    assert len(store.events_after(0, limit=1000)) == writers * per_writer
