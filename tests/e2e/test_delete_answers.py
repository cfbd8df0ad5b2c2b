"""s3-delete believes only what the server's DeleteObjects answer says, key by key.

The proxy plays a server that acts on and reports another key than the one asked
for (s3rver trims spaces: asked for ' lead.txt', it answers Deleted 'lead.txt'), or
leaves a key out of its answer; a `deleted` record must name a key the server
reported deleted under exactly that name.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]


def test_a_key_the_server_reports_under_another_name_is_failed_and_stays(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    put_objects: Callable[..., dict[str, str]],
    s3_client: Any,
    slow_endpoint: Callable[[float], Any],
) -> None:
    bucket = make_bucket()
    keys = [" lead.txt", "gone.txt", "omitted.txt", "z.txt"]
    put_objects(bucket, {key: b"data" for key in keys})
    listing = run_cli("s3-manifest", f"s3://{bucket}/", "--quiet")
    proxy = slow_endpoint(0)
    proxy.faults.delete_misreport = {" lead.txt": "lead.txt", "omitted.txt": None}
    result = run_cli(
        "s3-delete", f"s3://{bucket}/", "--endpoint-url", proxy.url, input=listing.stdout
    )
    assert result.returncode == 1, result.stderr
    records = {r["key"]: r for r in parse_ndjson(result.stdout) if r["type"] == "delete"}
    deleted = sorted(key for key, record in records.items() if record["status"] == "deleted")
    assert deleted == ["gone.txt", "z.txt"] and len(records) == 4
    assert records[" lead.txt"]["status"] == records["omitted.txt"]["status"] == "failed"
    assert "it named 'lead.txt'" in records[" lead.txt"]["error"]
    assert records["omitted.txt"]["error"] == "the server did not report 'omitted.txt' deleted"
    remaining = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert sorted(item["Key"] for item in remaining) == [" lead.txt", "omitted.txt"]
