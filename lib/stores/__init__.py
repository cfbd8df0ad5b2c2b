"""Where objects live: the Store protocol with its S3 and local implementations, listings
(single and parallel ranges), per-object requests, DeleteObjects, transfer timeouts
(imports: leaves, io, engine).

- crt: the request engine: per-object S3 requests through awscrt's HTTP client and
  SigV4 signer with botocore's credentials, addressing, retry rules and errors
  (docs/engine.md); `crt.requests.EngineRequests` is the s3requests seam's engine
- local: walking a local directory in S3 key order (keys: relative paths with `/`)
- localstore: The local-directory implementation of the Store (lib/stores/protocol.py)
- protocol: The Store: everything a pipeline asks of the place objects live
- ranges: Listing one prefix as ordered key ranges: several streams at once (`--parallel N`) or
  one range out of N (`--shard K/N`), with the records still coming out in S3 key order
- s3: S3 through boto3: clients and a fast streaming listing (errors: lib/leaves/retry.py)
- s3delete: S3's DeleteObjects for the S3 store: one batch, its retries, and its verbose answer
- s3requests: The per-object requests of the S3 store: the seam for a faster request engine
- s3store: The S3 implementation of the Store (lib/stores/protocol.py), over botocore
- transfer: What the copier (lib/pipelines/copier.py) moves bytes with: timeouts, retries,
  upload state
"""
