"""The engine's signer (lib/stores/crt/signer.py): awscrt's binding called with a callback
signs exactly as awscrt's public aws_sign_request does, with botocore's credentials."""

from __future__ import annotations

import botocore.credentials
import botocore.exceptions
import pytest
from awscrt import auth, http

from lib.stores.crt import signer as signer_module
from lib.stores.crt.signer import Signer


def _request() -> http.HttpRequest:
    headers = [("Host", "127.0.0.1:9000"), ("x-amz-checksum-mode", "ENABLED")]
    return http.HttpRequest("HEAD", "/bucket/a%20b/c", http.HttpHeaders(headers))


@pytest.mark.parametrize("binding", [True, False])
def test_the_binding_signs_as_the_public_function_does(
    binding: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert signer_module._sign_request_aws is not None  # this awscrt has it: the fast way runs
    if not binding:  # an awscrt without it: the public function, through its Future
        monkeypatch.setattr(signer_module, "_sign_request_aws", None)
    signer = Signer(botocore.credentials.Credentials("AKIDEXAMPLE", "secret", "session-token"))
    ours, ended = _request(), []
    signer.sign(ours, "eu-west-1", "s3", ended.append)
    assert ended == [None]  # static credentials: signed at once
    theirs = _request()
    config = signer._config_for("eu-west-1", "s3", None)  # the same config: the same date
    auth.aws_sign_request(theirs, config).result()
    signed = dict(ours.headers)
    assert signed == dict(theirs.headers)
    assert signed["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert signed["X-Amz-Security-Token"] == "session-token"


def test_no_credentials_fail_before_anything_is_signed() -> None:
    ended: list[BaseException | None] = []
    with pytest.raises(botocore.exceptions.NoCredentialsError):
        Signer(None).sign(_request(), "us-east-1", "s3", ended.append)
    assert ended == []
