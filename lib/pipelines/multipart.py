"""Multipart transfers into a store: resume, send the missing parts, complete, abort.

An upload is registered in `Uploads` as it starts and as each part lands, so a
resumed run lists the parts the server already holds (only those of the expected
size count) and sends only the rest; a failed copy aborts its upload so no orphaned
parts keep costing money.

Parts go in parallel, except to a server that refuses to complete an upload whose
parts arrived out of order or overlapping (`rclone serve s3` writes an upload into its
file in part order): when a completion is refused with InvalidPart or
InvalidPartOrder, that upload is aborted and sent again with one part in flight, in
order, and so is every later upload of the run.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from lib.engine import logs
from lib.leaves.retry import error_code
from lib.stores.protocol import SourceInfo, Store
from lib.stores.transfer import Retrier, Uploads, UploadState, multipart_etag, part_size_for

# Sends part `number` (1-based) of bytes [start, end) and returns its ETag.
PartSender = Callable[[str, int, int, int], str]

# A completion refused for how the parts arrived, not for what they hold.
ORDER_CODES = ("InvalidPart", "InvalidPartOrder")


class Multipart:
    def __init__(
        self,
        target: Store,
        uploads: Uploads,
        part_pool: concurrent.futures.Executor,
        part_size: int,
    ) -> None:
        self.target = target
        self.uploads = uploads
        self.part_pool = part_pool
        self.part_size = part_size
        self.in_order = False  # the target wants one part at a time, in order

    def transfer(self, key: str, info: SourceInfo, retrier: Retrier, send: PartSender) -> str:
        """Sends the parts the upload lacks (on the part pool), completes it, and
        returns the multipart ETag the object should now have; once more in order if
        the server refuses the parts as they arrived."""
        in_order = self.in_order
        try:
            return self._transfer(key, info, retrier, send, in_order)
        except Exception as exc:
            if in_order or error_code(exc) not in ORDER_CODES:
                raise
        if not self.in_order:
            self.in_order = True
            logs.log(
                "s3-repair", "warning",
                f"the target refused parts sent in parallel ({self.target.where(key)}): "
                "multipart uploads now send one part at a time, in order",
            )  # fmt: skip
        self.abort(key, retrier)
        return self._transfer(key, info, retrier, send, True)

    def _transfer(
        self, key: str, info: SourceInfo, retrier: Retrier, send: PartSender, in_order: bool
    ) -> str:
        state = self._open(key, info, retrier)
        size, part_size = info.size, state.part_size
        count = max(1, -(-size // part_size))

        def one(number: int) -> None:
            start = (number - 1) * part_size
            etag = send(state.upload_id, number, start, min(size, start + part_size))
            self.uploads.part_done(key, number, etag)

        missing = [n for n in range(1, count + 1) if str(n) not in state.parts]
        if in_order:
            for number in missing:
                one(number)
        futures = [] if in_order else [self.part_pool.submit(one, n) for n in missing]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        etags = [state.parts[str(n)] for n in range(1, count + 1)]
        self.target.complete_upload(key, state.upload_id, etags, retrier)
        self.uploads.finish(key)
        return multipart_etag(etags)

    def _open(self, key: str, info: SourceInfo, retrier: Retrier) -> UploadState:
        """The upload to continue (its parts confirmed by listing them), or a new one."""
        state = self.uploads.get(key)
        if state is not None:
            try:
                listed = self.target.listed_parts(key, state.upload_id, retrier)
                count = max(1, -(-info.size // state.part_size))
                last_size = info.size - (count - 1) * state.part_size
                state.parts = {
                    str(number): etag
                    for number, size, etag in listed
                    if size == (last_size if number == count else state.part_size)
                }
                return state
            except Exception:
                self.uploads.finish(key)  # gone or unusable: start again
        part_size = part_size_for(info.size, self.part_size)
        upload_id = self.target.start_upload(key, info, retrier)
        state = UploadState(upload_id=upload_id, part_size=part_size)
        self.uploads.start(key, state)
        return state

    def abort(self, key: str, retrier: Retrier) -> None:
        """Gives up an open upload, so no orphaned parts keep costing money."""
        state = self.uploads.get(key)
        if state is None:
            return
        try:
            self.target.abort_upload(key, state.upload_id, retrier)
        finally:
            self.uploads.finish(key)
