"""Bytes on disk and in pipes: record streams, checkpoints, durable writes, the local path
guard, sorting and the file formats (imports: leaves).

- batchcsv: `--format s3-batch-csv`: records written as an S3 Batch Operations CSV manifest
- checkpoint: The checkpoint file: what a stage has durably done, and how to continue
- columnar: Rows of S3 Inventory data files in Parquet and ORC, read with pyarrow
- durable: Making a rename survive a crash: after `os.replace`, the directory that holds the new
  name is fsynced too, or a power cut may bring back the old file
- extsort: Sorting more items than fit in memory: sorted runs on disk, merged with heapq.merge
- inventory_csv: Rows of S3 Inventory data files in CSV, as AWS writes them
- localpath: Keys as files under a local directory, opened so that no key can leave it
- ndjson: Newline-delimited JSON record streams: bounded memory in, buffered and syncable out
"""
