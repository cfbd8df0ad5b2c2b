"""botocore's model files read by msgspec (lib/stores/s3.py, ModelFiles): the same files
and the same data as botocore's own JSON loader, one loader for every session, and
clients that resolve AWS endpoints exactly as stock botocore's do."""

from __future__ import annotations

import os
from pathlib import Path

import botocore.exceptions
import botocore.loaders
import botocore.session
import pytest

from lib.stores import s3
from lib.stores.s3 import ModelFiles, S3Config, make_client

DATA = Path(botocore.loaders.BOTOCORE_ROOT) / "data"
S3_MODELS = DATA / "s3" / "2006-03-01"


@pytest.mark.parametrize(
    "name",
    [
        "endpoints",  # plain .json
        "partitions",
        "sdk-default-configuration",
        "s3/2006-03-01/service-2",  # .json.gz
        "s3/2006-03-01/endpoint-rule-set-1",
    ],
)
def test_model_files_load_what_botocore_loads(name: str) -> None:
    path = str(DATA / name)
    stock = botocore.loaders.JSONFileLoader()
    assert ModelFiles().exists(path) and stock.exists(path)
    assert ModelFiles().load_file(path) == stock.load_file(path)


def test_a_missing_model_file_is_none_as_in_botocore(tmp_path: Path) -> None:
    path = str(tmp_path / "service-2")
    assert not ModelFiles().exists(path)
    assert ModelFiles().load_file(path) is None
    (tmp_path / "service-2.json").write_text('{"metadata": {"x": 1}}')
    assert ModelFiles().exists(path)
    assert ModelFiles().load_file(path) == {"metadata": {"x": 1}}


@pytest.fixture
def fresh_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3, "_SESSIONS", {})
    monkeypatch.setattr(s3, "_LOADERS", {})
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DATA_PATH"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("fresh_sessions")
def test_sessions_of_two_regions_share_one_loader_that_parsed_each_model_once() -> None:
    first, second = (
        make_client(S3Config(region="eu-west-1")),
        make_client(S3Config(region="cn-north-1")),
    )
    assert first.meta.region_name == "eu-west-1"
    assert second.meta.region_name == "cn-north-1"
    (loader,) = s3._LOADERS.values()
    assert isinstance(loader.file_loader, ModelFiles)
    sessions = list(s3._SESSIONS.values())
    assert len(sessions) == 2
    assert all(session.get_component("data_loader") is loader for session in sessions)


@pytest.mark.usefixtures("fresh_sessions")
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"])
def test_clients_address_objects_as_stock_botocore_does(region: str) -> None:
    ours = make_client(S3Config(region=region))
    session = botocore.session.Session()
    session.set_config_variable("region", region)
    stock = session.create_client("s3")
    params = {"Bucket": "my-bucket", "Key": "a b/c+d"}
    assert ours.meta.endpoint_url == stock.meta.endpoint_url
    url = ours.generate_presigned_url("get_object", Params=params).split("?")[0]
    assert url == stock.generate_presigned_url("get_object", Params=params).split("?")[0]


@pytest.mark.usefixtures("fresh_sessions")
def test_aws_data_path_is_still_searched_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model under AWS_DATA_PATH wins over botocore's, as with botocore's own loader."""
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    (tmp_path / "partitions.json").write_text('{"partitions": [], "version": "1.1"}')
    make_client(S3Config(region="eu-west-1"))
    loader = s3._LOADERS[str(tmp_path)]
    assert loader.load_data("partitions") == {"partitions": [], "version": "1.1"}
    assert os.fspath(tmp_path) in loader.search_paths


@pytest.mark.usefixtures("fresh_sessions")
def test_the_loader_knows_s3_without_listing_every_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_client(S3Config(region="eu-west-1"))
    (loader,) = s3._LOADERS.values()
    listed: list[str] = []
    real_listdir = os.listdir

    def listdir(path: str) -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    assert loader.list_available_services("waiters-2") == ["s3"]
    assert all("/s3" in path for path in listed), listed  # S3's directories only
    # A model type S3 lacks: botocore's own answer, every service that has one.
    services = loader.list_available_services("no-such-type-1")
    assert services == [] and len(listed) > 100
    with pytest.raises(botocore.exceptions.UnknownServiceError):
        loader.load_service_model("no-such-service", "service-2")
