"""What every benchmark scenario stands on; no module here imports a scenario.

- settings: paths (bench/work, bench/results), credentials of the local server, Settings, Report
- server: `rclone serve s3` over a seeded directory, the seeded key layout, clients' environment
- latency: a proxy that adds a round-trip time to every response (its own process)
- counting: a proxy that counts the requests a client sends, per S3 operation
- launch: the bare launcher that runs one command and reports its rusage
- measure: running commands under the launcher; Sample, Series, medians, tables
- rounds: commands run in alternating rounds, each run checked; the counting round
- fixture: a seeded, served and warmed bucket; the log line
- common: scratch directories, rclone/s5cmd command lines, listings, outputs checked
- ceiling: the server's own listing ceiling (parallel s5cmd ls)
- boto3_list: the plain boto3 paginator, a peer of the listing scenario
- machine: what the numbers were measured on
- report: rate tables with ratios, the load around the runs, commands as typed
- targets: an issue's targets checked against a report's medians
"""
