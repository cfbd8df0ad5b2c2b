"""What the stages do: one pipeline and one plan function per stage, with the parts only
pipelines use (verification, coverage, copying, inventory and key-list sources)
(imports: every layer below).

- check: s3-check's pipelines: classify expected object records against a target
- check_list: s3-check's list mode: merge-join the key-sorted input with a live listing of the
  target
- check_objects: s3-check's head and read modes: each expected record checked on its own
- check_plan: s3-check's plan: from the options to its pipeline (ListCheck or ObjectCheck) and
  its StageRun
- copier: Copying one object from a source store to a target store, the cheapest way there is
- coverage: What a stream covers, and where s3-check may therefore call an object `extra`
- delete: s3-delete's pipeline: batched, guarded, resumable deletion
- delete_plan: s3-delete's plan: from the options to a DeletePipeline and its StageRun
- inventory: s3-manifest --inventory: an S3 Inventory report (CSV, Parquet or ORC) as object
  records, in S3 key order
- keylist: s3-manifest --keys: a plain list of keys, one per line, as object records, without a
  request
- listed: What is at a key now, answered from listing pages instead of one HEAD per key
- manifest: s3-manifest's pipeline: a location listed as object records, resumable by cursor
- manifest_plan: s3-manifest's plan: from the options to a listing (ManifestPipeline), a
  published manifest's copy (PublishedPipeline), or another source (lib/pipelines/sources.py),
  and its StageRun
- multipart: Multipart transfers into a store: resume, send the missing parts, complete, abort
- plan: What a stage runs: a Plan, made by one plan function per pipeline from the stage's
  options (lib/pipelines/check_plan.py, delete_plan.py, repair_plan.py, manifest_plan.py)
- publish: Published manifests: one complete listing shared by many readers
- repair: s3-repair's pipeline: make TARGET whole again from SOURCE, one check record at a time
- repair_plan: s3-repair's plan: from the options to a RepairPipeline (with its Copier and
  Verifier) and its StageRun
- sources: s3-manifest's other sources than a listing: an S3 Inventory report and a plain key
  list
- verify: Deciding whether an object is what a record expects: by metadata, or by its bytes
"""
