"""SigV4 for the engine's requests: awscrt's signer with botocore's credentials.

The credentials are read from the botocore client's own credentials object at every
signing (`get_frozen_credentials()`), so a refreshing source (assumed roles, SSO,
instance metadata) hands over new keys and session tokens as botocore would.

awscrt's public aws_sign_request wraps its binding in a Future: ~5 µs of the ~16 µs a
signature costs in Python, on every request. The binding itself takes a callback, so
the signer calls it directly where it exists, and the public function otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import awscrt.exceptions
from awscrt import auth

try:
    from _awscrt import sign_request_aws as _sign_request_aws  # (request, config, on_done)
except ImportError:  # pragma: no cover - an awscrt without it: the public way
    _sign_request_aws = None

Signed = Callable[[BaseException | None], None]  # called once signing ended: its error or None

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
        self,
        request: Any,
        region: str,
        service: str,
        signed: Signed,
        payload_hash: str | None = None,
    ) -> None:
        """Signs `request` in place, then calls signed(None), or signed(error): at once for
        static credentials, as awscrt does. The body is UNSIGNED-PAYLOAD unless its
        SHA-256 is given. Raises what reading the credentials raises."""
        config = self._config_for(region, service, payload_hash)
        if _sign_request_aws is None:
            done = auth.aws_sign_request(request, config)
            done.add_done_callback(lambda future: signed(future.exception()))
            return

        def ended(error_code: int) -> None:
            signed(awscrt.exceptions.from_code(error_code) if error_code else None)

        _sign_request_aws(request, config, ended)

    def _config_for(self, region: str, service: str, payload_hash: str | None) -> Any:
        keys = self.frozen()
        wanted = (keys, region, service, payload_hash)
        now = time.monotonic()
        cached = self._config
        if cached is not None and cached[0] == wanted and now - cached[1] < CONFIG_REUSE_S:
            config = cached[2]
        else:
            config = self._new_config(keys, region, service, payload_hash)
            self._config = (wanted, now, config)
        return config

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
