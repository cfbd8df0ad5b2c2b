"""Runs one command and reports its wall time and rusage; started by bench.harness.measure as
`python -I -S bench/harness/launch.py REPORT COMMAND [ARG...]`.

Why a launcher: Linux charges a process's ru_maxrss with the peak RSS of the memory
it replaced at exec, which for a child spawned by the benchmark itself (holding
the seeded keys and parsed outputs) is the benchmark's own size. Spawned from
this bare interpreter, a command's peak RSS is exact above this launcher's own
(about 9 MB, reported by `python -m bench.run` as the floor). The command
inherits stdin, stdout, stderr and the environment; the report is one line:
`start end user_s sys_s maxrss_kib exit_status`, times from CLOCK_MONOTONIC so
that launchers running in parallel share one clock. Standard library only.
"""

import os
import sys
import time


def main() -> int:
    report, argv = sys.argv[1], sys.argv[2:]
    start = time.monotonic()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    end = time.monotonic()
    code = os.waitstatus_to_exitcode(status)
    with open(report, "w") as out:
        out.write(
            f"{start!r} {end!r} {usage.ru_utime!r} {usage.ru_stime!r} {usage.ru_maxrss} {code}\n"
        )
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
