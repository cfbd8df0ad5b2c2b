"""What every stage runs on: the runner loop, the ordered window, interrupts, progress and
logs, shards and the input reader (imports: leaves, io).

- inputs: A stage's input records: the reader, the upstream header, and what a checkpoint
  remembers of them
- interrupts: SIGINT/SIGTERM become a flag that stages check at safe points
- logs: What a stage says on stderr, as text lines or, with --progress-format json, JSON lines
- progress: Progress on stderr: a live line on a terminal, a plain line every 10 s otherwise
- runner: The loop every stage shares: header, records, commits, progress, summary, exit code
- shard: `--shard K/N`: which part of the work this process does, when N processes share it
- window: The ordered window every per-record stage runs its requests in
"""
