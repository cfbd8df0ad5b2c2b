"""s3deep's library, in layers; a module imports only from its own layer and those below
(tests/unit/test_layers.py holds that), and never the stages or typer.

- leaves: records, errors, locations, hashing, the retry vocabulary
- io: NDJSON streams, checkpoints, durable writes, the local path guard, file formats
- engine: the stage runner, the ordered window, interrupts, progress, shards
- stores: the Store protocol, S3 (botocore; per-object requests behind a seam) and local
- pipelines: manifest, check, repair and delete, each with its plan function

Each layer's __init__ says what every file in it is.
"""
