"""Rules the test suite itself keeps, so that its tests stay independent of their order."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_uses_motos_in_process_mock() -> None:
    """moto's mock_aws resets every moto backend of the process when it starts and stops,
    the buckets of the session's in-process moto server included: a test that used it
    would empty the shared buckets of whatever test xdist runs next on that worker. Tests
    reach S3 through the server (the `server_client` and `s3_client` fixtures)."""
    users = [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__).resolve() and "mock_aws(" in path.read_text()
    ]
    assert users == []
