"""SigV4 for the engine's requests: awscrt's signer with botocore's credentials.

The credentials are read from the botocore client's own credentials object at every
signing (`get_frozen_credentials()`), so a refreshing source (assumed roles, SSO,
instance metadata) hands over new keys and session tokens as botocore would.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any

from awscrt import auth

UNSIGNED_PAYLOAD = auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD
# A signing config carries its date; S3 accepts a request date up to 15 minutes off, so
# one config serves the requests of a few seconds (the date is taken anew after that).
CONFIG_REUSE_S = 5.0


class Signer:
    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials  # botocore Credentials (or None: none found)
        self._providers: dict[tuple[str, str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._config: tuple[Any, float, Any] | None = None  # (what it is for, made, config)

    def frozen(self) -> tuple[str, str, str | None]:
        """The credentials to sign with now: access key, secret key, session token."""
        if self._credentials is None:
            import botocore.exceptions

            raise botocore.exceptions.NoCredentialsError()
        frozen = self._credentials.get_frozen_credentials()
        return frozen.access_key, frozen.secret_key, frozen.token

    def _provider(self, keys: tuple[str, str, str | None]) -> Any:
        provider = self._providers.get(keys)
        if provider is None:
            provider = auth.AwsCredentialsProvider.new_static(*keys)
            with self._lock:
                if len(self._providers) > 16:  # rotated keys: forget the old ones
                    self._providers.clear()
                self._providers[keys] = provider
        return provider

    def sign(
        self, request: Any, region: str, service: str, payload_hash: str | None = None
    ) -> concurrent.futures.Future[Any]:
        """Signs `request` in place (a Future of it); the body is UNSIGNED-PAYLOAD unless
        its SHA-256 is given."""
        keys = self.frozen()
        wanted = (keys, region, service, payload_hash)
        now = time.monotonic()
        cached = self._config
        if cached is not None and cached[0] == wanted and now - cached[1] < CONFIG_REUSE_S:
            config = cached[2]
        else:
            config = self._new_config(keys, region, service, payload_hash)
            self._config = (wanted, now, config)
        future: concurrent.futures.Future[Any] = auth.aws_sign_request(request, config)
        return future

    def _new_config(
        self, keys: tuple[str, str, str | None], region: str, service: str, payload_hash: str | None
    ) -> Any:
        return auth.AwsSigningConfig(
            algorithm=auth.AwsSigningAlgorithm.V4,
            signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
            credentials_provider=self._provider(keys),
            region=region,
            service=service,
            # S3 signs the path as sent: no double encoding, no `..` or `//` folded away.
            use_double_uri_encode=False,
            should_normalize_uri_path=False,
            signed_body_value=payload_hash or UNSIGNED_PAYLOAD,
            signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
        )
