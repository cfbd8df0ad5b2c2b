"""Baseline lister: a plain boto3 `list_objects_v2` paginator printing one key per line.

What a user writes first; the benchmark runs it as a separate process, with stdout
redirected to a file:

    python bench/boto3_list.py BUCKET [--prefix P] [--endpoint-url URL] > keys.txt
"""

from __future__ import annotations

import argparse
import sys

import boto3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bucket")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--endpoint-url", default=None)
    args = parser.parse_args()
    client = boto3.client("s3", endpoint_url=args.endpoint_url)
    paginator = client.get_paginator("list_objects_v2")
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    write = sys.stdout.write
    for page in paginator.paginate(Bucket=args.bucket, Prefix=args.prefix):
        for item in page.get("Contents", ()):
            write(item["Key"] + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
