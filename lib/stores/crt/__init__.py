"""A lean request engine for the per-object S3 calls: HEAD, GET, PUT, copy, parts.

botocore costs about a millisecond of CPU per request, nearly all of it in its
generic per-call machinery. The engine sends the same requests through awscrt's
HTTP client and SigV4 signer (AWS's C runtime, already a dependency) for a sixth
of that or less, with many requests in flight on a few threads, and keeps what botocore
gave: where each piece lives —

- addressing.py: region and endpoint per bucket, resolved once by botocore's own
  rules (a request botocore prepares but never sends); keys quoted as S3 signs them.
- signer.py: SigV4 with the credentials of the botocore client, read per request,
  so refreshed and session credentials work.
- pool.py: keep-alive connections per endpoint, TLS for https.
- answers.py: response headers and XML error bodies in botocore's shapes (errors
  are botocore ClientErrors, so lib/leaves/retry.py judges them as before).
- calls.py: the plain values of a call (Call, Limits, Upload, Sink).
- operations.py: one method per S3 operation, each building a Call (the engine's API).
- engine.py: one request's life: attempts, backoff, per-request timeouts (stalls,
  and the adaptive ones of lib/stores/transfer.py), redirects to a bucket's region, the
  fail-fast on a refused endpoint, and an adaptive window of requests in flight.
- reader.py: an object read as a file by parallel ranged GETs, in order.
- requests.py: the S3 store's per-object requests through the engine.

Nothing is imported here, and lib/stores/crt/requests.py makes its engine on the first
request: a run that sends no per-object request (a listing) builds no engine.
"""
