"""One module per benchmark scenario, each with `run(settings) -> Report` (bench.run
registers them); they build on bench.harness.

- listing: s3-manifest next to s5cmd ls, rclone lsf, aws s3 ls and a boto3 paginator
- checking: s3-check (list and head mode) next to rclone check
- deleting: s3-delete next to s5cmd rm, rclone delete and aws s3 rm
- copying (and copy_checks, its checks and report): s3-repair next to rclone copy, s5cmd cp,
  aws s3 cp
- reading: s3-check --mode read next to rclone md5sum/check --download
- sharding: one process against --shard workers under GNU parallel
- objects: the per-object paths (HEAD, GET, copy) against rclone and s5cmd, CPU per object
- delete_answers: a stand-alone measurement of DeleteObjects' verbose answer
- engine_requests: a stand-alone measurement of client CPU per HEAD, GET and copy, botocore
  against the request engine (lib/stores/crt)
"""
