#!/usr/bin/env python3
"""Two server binaries on the same data, in alternating rounds: what a change bought
in requests per second and in share of the database's ceiling.

    bench/compare.py BASELINE [CANDIDATE]

CANDIDATE defaults to the release build (BENCH_BIN, or the one `bench/run` builds).
Seeds a fresh `clientele_bench_N` database (BENCH_CUSTOMERS, the first size) on
PostgreSQL with the candidate, captures each read shape's statements for its pgbench
ceiling as bench.py does, then runs BENCH_RUNS rounds. In each round each binary, in
turn, gets a server of its own (and a fresh admin session), a warm-up, one wrk run per
shape, each followed at once by its ceiling. On this shared two-core machine the
ceiling moves by a quarter or more within minutes; alternating the two builds within
a round, and dividing each run by the ceiling taken right after it, is what lets two
builds be compared at all. Both binaries must run the same migrations."""

import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

# The shapes the share goals are about, and what they cost: the customer by
# id and the page of 50.
SHAPES = ("customer by id + addresses + groups", "50 customers + addresses + groups + totalCount")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    binaries = {"baseline": sys.argv[1], "candidate": sys.argv[2] if len(sys.argv) > 2 else bench.BIN}
    for path in binaries.values():
        if not os.path.exists(path):
            raise SystemExit(f"no binary at {path}")
    customers = bench.CUSTOMERS[0]
    workdir = tempfile.mkdtemp(prefix="clientele-compare-")
    with open(os.path.join(workdir, "server.log"), "w") as log:
        db, url, _, _ = bench.prepare("postgres", customers, workdir, log)
        server = bench.Server(url, log)
        try:
            admin = bench.admin_token()
            bodies = [(label, {"query": document, "variables": variables})
                      for label, document, variables in bench.seeded_shapes(admin) if label in SHAPES]
        finally:
            server.stop()
        scripts = {label: bench.pgbench_script(bench.captured_statements(db, url, log, body, admin), workdir)
                   for label, body in bodies}
        files = {}
        for label, body in bodies:
            files[label] = os.path.join(workdir, f"{len(files)}.json")
            with open(files[label], "w") as f:
                json.dump(body, f)
        results = {(name, label): [] for name in binaries for label, _ in bodies}
        print(f"{customers:,} customers, {bench.RUNS} rounds of {bench.SECONDS} s runs; logs in {workdir}")
        for round_number in range(bench.RUNS):
            for name, binary in binaries.items():
                server = bench.Server(url, log, binary=binary)
                try:
                    env = {"BENCH_TOKEN": bench.admin_token()}  # a session per server: they expire
                    for label, _ in bodies:
                        env["BENCH_BODY"] = files[label]
                        bench.wrk("post.lua", 2, env)
                        result = bench.one_run(server, "post.lua", env, bench.postgres_pids)
                        result["ceiling"] = bench.pgbench_ceiling(db, scripts[label])
                        result["share"] = result["rps"] / result["ceiling"]
                        results[(name, label)].append(result)
                        print(f"round {round_number + 1} {name:9} {label[:40]:40} {result['rps']:7,.0f} req/s "
                              f"ceiling {result['ceiling']:7,.0f} share {result['share']:4.0%} "
                              f"server CPU {result['server_cpu_ms']:.2f} ms", flush=True)
                finally:
                    server.stop()
    print("\n| shape | build | req/s (median) | server CPU ms (median) | share (median) | shares |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, _ in bodies:
        for name in binaries:
            runs = results[(name, label)]
            print(f"| {label} | {name} | {statistics.median(r['rps'] for r in runs):,.0f} | "
                  f"{statistics.median(r['server_cpu_ms'] for r in runs):.2f} | "
                  f"{statistics.median(r['share'] for r in runs):.0%} | "
                  f"{', '.join(format(r['share'], '.0%') for r in runs)} |")


if __name__ == "__main__":
    main()
