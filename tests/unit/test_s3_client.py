"""make_client: credentials, profile and region come from the usual AWS places."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.leaves.errors import UsageError
from lib.stores import s3
from lib.stores.s3 import S3Config, make_client


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[default]\nregion = us-east-2\n[profile p1]\nregion = eu-west-3\n")
    credentials.write_text(
        "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s0\n"
        "[p1]\naws_access_key_id = AKPROFILE\naws_secret_access_key = s1\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setattr(s3, "_SESSIONS", {})


def access_key(client: object) -> str:
    signer = client._request_signer  # type: ignore[attr-defined]
    key: str = signer._credentials.get_frozen_credentials().access_key
    return key


@pytest.mark.usefixtures("aws_files")
@pytest.mark.parametrize(
    ("profile", "region", "key", "expected_region"),
    [
        (None, None, "AKDEFAULT", "us-east-2"),
        ("p1", None, "AKPROFILE", "eu-west-3"),
        ("p1", "ap-south-1", "AKPROFILE", "ap-south-1"),
        (None, "sa-east-1", "AKDEFAULT", "sa-east-1"),
    ],
)
def test_profile_and_region(
    profile: str | None, region: str | None, key: str, expected_region: str
) -> None:
    client = make_client(S3Config(profile=profile, region=region))
    assert access_key(client) == key
    assert client.meta.region_name == expected_region


@pytest.mark.usefixtures("aws_files")
def test_an_unknown_profile_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="nosuch"):
        make_client(S3Config(profile="nosuch"))
