"""Leaves: the vocabulary every other layer uses; they import nothing of lib but each other.

- errors: Exit codes and the exceptions that map onto them (DESIGN.md, "Exit codes")
- flush: The flush marker: what a record iterator yields, instead of a record, when it is about
  to wait (for the network, a worker, the next file)
- guidance: Pointed advice for a pipeline put together wrong: which stage makes the records a
  stage wants, and which --from the records' own headers name
- hashing: One-pass content verification: MD5, multipart ETags and S3's stored checksums
- location: Parsing of locations: `s3://bucket[/prefix]`, `file:///path` or a local path
- records: The record format every stage reads and writes (DESIGN.md, "Records")
- retry: One vocabulary for failed S3 requests: what a retry may fix, how long to wait before
  one, when to give up, and how a failure reads in a record or on stderr
"""
