"""s3-delete's logic with an injected client: batching, retries, guards, resume, local files."""

import io
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lib.engine.window import AdaptiveWindow
from lib.io.ndjson import RecordReader
from lib.leaves.location import Location, parse_location
from lib.leaves.records import DeleteRecord, Header, ObjectRecord, Summary, new_decoder, new_encoder
from lib.pipelines.delete import DeleteOptions, DeletePipeline, judge
from lib.stores.protocol import store_for


class FakeS3:
    """Records DeleteObjects calls; fails chosen keys a number of times; answers verbosely
    (each deleted key under the name `reported` maps it to, or left out if None)."""

    def __init__(
        self,
        failures: dict[str, list[str]] | None = None,
        reported: dict[str, str | None] | None = None,
    ) -> None:
        self.failures = failures or {}
        self.reported = reported or {}
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def get_bucket_versioning(self, Bucket: str) -> dict[str, Any]:
        return {}

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        keys = [item["Key"] for item in Delete["Objects"]]
        with self.lock:
            self.batches.append(keys)
            errors, deleted = [], []
            for item in Delete["Objects"]:
                key = item["Key"]
                codes = self.failures.get(key)
                if codes:
                    errors.append({"Key": key, "Code": codes.pop(0)})
                elif self.reported.get(key, key) is not None:
                    deleted.append({**item, "Key": self.reported.get(key, key)})
        if Delete.get("Quiet"):
            return {"Errors": errors}
        return {"Errors": errors, "Deleted": deleted}


def listing(keys: list[str], bucket: str = "b") -> bytes:
    records: list[Any] = [Header(stage="s3-manifest", source=f"s3://{bucket}/")]
    records += [ObjectRecord(bucket=bucket, key=key, size=10) for key in keys]
    records.append(Summary(stage="s3-manifest", complete=True))
    encoder = new_encoder()
    return b"".join(encoder.encode(record) + b"\n" for record in records)


def run(
    data: bytes, scope: Location, client: Any, cursor: dict[str, Any] | None = None, **options: Any
) -> tuple[DeletePipeline, list[DeleteRecord]]:
    reader = RecordReader(io.BytesIO(data), new_decoder())
    reader.read_header()
    store = store_for(scope, client)
    pipeline = DeletePipeline(reader, store, DeleteOptions(**options), cursor)
    records = [r for r in pipeline if isinstance(r, DeleteRecord)]
    return pipeline, records


KEYS = [f"k{n:04d}" for n in range(2345)]


def test_batches_of_at_most_batch_size_and_results_in_input_order() -> None:
    client = FakeS3()
    pipeline, records = run(listing(KEYS), parse_location("s3://b/"), client, concurrency=4)
    assert [r.key for r in records] == KEYS
    assert {r.status for r in records} == {"deleted"}
    assert sorted(len(batch) for batch in client.batches) == [345, 1000, 1000]
    assert pipeline.complete


def test_failed_keys_are_retried_then_reported_with_their_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lib.stores.s3delete.backoff", lambda attempt: None)
    client = FakeS3(
        {"k0003": ["InternalError"], "k0004": ["AccessDenied"], "k0005": ["SlowDown"] * 9}
    )
    pipeline, records = run(listing(KEYS[:10]), parse_location("s3://b/"), client)
    statuses = {r.key: (r.status, r.error) for r in records}
    assert statuses["k0003"] == ("deleted", None)
    assert statuses["k0004"] == ("failed", "AccessDenied")
    assert statuses["k0005"] == ("failed", "SlowDown")
    assert [len(batch) for batch in client.batches] == [10, 2, 1, 1, 1, 1]
    assert pipeline.window.throttled >= 1


def test_max_delete_stops_before_the_next_deletion_even_after_resume() -> None:
    data = listing(KEYS[:50])
    first = run(data, parse_location("s3://b/"), FakeS3(), max_delete=20, batch_size=7)
    assert len(first[1]) == 20 and not first[0].complete
    cursor = first[0].cursor()
    assert cursor["issued"] == 20
    second = run(data, parse_location("s3://b/"), FakeS3(), cursor=cursor, max_delete=20)
    assert second[1] == []


def test_resume_continues_after_the_last_written_record() -> None:
    data = listing(KEYS[:30])
    reader = RecordReader(io.BytesIO(data), new_decoder())
    reader.read_header()
    store = store_for(parse_location("s3://b/"), FakeS3())
    pipeline = DeletePipeline(reader, store, DeleteOptions(batch_size=4), None)
    taken = []
    for record in pipeline:
        if isinstance(record, DeleteRecord):
            taken.append(record.key)
        if len(taken) == 11:
            break
    client = FakeS3()
    _, rest = run(data, parse_location("s3://b/"), client, cursor=pipeline.cursor())
    assert taken + [r.key for r in rest] == KEYS[:30]
    assert [key for batch in client.batches for key in batch] == KEYS[11:30]


def test_adaptive_window_halves_and_recovers() -> None:
    window = AdaptiveWindow(10)
    window.throttle()
    window.throttle()
    assert window.size == 2
    for _ in range(20):
        window.success()
    assert window.size == 10
    for _ in range(10):
        window.throttle()
    assert window.size == 1


def test_local_files_and_their_empty_directories_go(tmp_path: Path) -> None:
    for name in ("a/b/c/1", "a/b/2", "a/keep"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a/link").symlink_to(tmp_path / "a/b", target_is_directory=True)
    data = listing(["a/b/c/1", "a/b/2", "a/link/2", "a/missing", "a/./keep"], bucket=str(tmp_path))
    _, records = run(data, parse_location(str(tmp_path)), None)
    assert [(r.status, r.error) for r in records] == [
        ("deleted", None),
        ("deleted", None),
        ("failed", "refused: a/link is a symlink"),
        ("deleted", None),
        ("failed", "refused: the key has an empty, '.' or '..' segment"),
    ]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "a",
        "a/keep",
        "a/link",
    ]


def test_deleted_only_when_the_answer_names_exactly_that_key_and_version() -> None:
    client = FakeS3(reported={" lead.txt": "lead.txt", "quiet": None, "v1": "v1 "})
    keys = [" lead.txt", "ok", "quiet", "v1"]
    records: list[Any] = [Header(stage="s3-manifest", source="s3://b/")]
    records += [ObjectRecord(bucket="b", key=key, size=1) for key in keys[:3]]
    records.append(ObjectRecord(bucket="b", key="v1", size=1, version_id="3"))
    records.append(Summary(stage="s3-manifest", complete=True))
    data = b"".join(new_encoder().encode(record) + b"\n" for record in records)
    pipeline, results = run(data, parse_location("s3://b/"), client)
    assert {r.key: (r.status, r.error) for r in results} == {
        " lead.txt": (
            "failed",
            "the server did not report ' lead.txt' deleted; it named 'lead.txt', which was "
            "not asked for",
        ),
        "ok": ("deleted", None),
        "quiet": ("failed", "the server did not report 'quiet' deleted"),
        "v1": (
            "failed",
            "the server did not report 'v1' version 3 deleted; it named 'v1 ', which was not "
            "asked for",
        ),
    }
    assert pipeline.complete and judge(Counter(r.status for r in results), True) == 1


def test_a_version_is_deleted_only_when_the_answer_names_that_version() -> None:
    class OtherVersion(FakeS3):
        def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
            answer = super().delete_objects(Bucket, Delete)
            for item in answer["Deleted"]:
                if item["Key"] == "b-key":
                    item["VersionId"] = "other"
            return answer

    records: list[Any] = [Header(stage="s3-manifest", source="s3://b/")]
    records += [
        ObjectRecord(bucket="b", key=key, size=1, version_id="v") for key in ("a-key", "b-key")
    ]
    data = b"".join(new_encoder().encode(record) + b"\n" for record in records)
    _, results = run(data, parse_location("s3://b/"), OtherVersion())
    assert [(r.key, r.status) for r in results] == [("a-key", "deleted"), ("b-key", "failed")]
