#!/usr/bin/env python3
"""Instructions the server executes per request, for each read shape, counted by
callgrind: the same figure for the same binary and data whatever else the machine is
doing, so two builds can be compared without the noise of a shared two-core machine.

    bench/instructions.py [DATABASE_URL]

DATABASE_URL defaults to the 10,000-customer database that `bench/run` leaves behind
(`clientele_bench_10000` on BENCH_PG); it must hold the bench's admin. The release
server (BENCH_BIN, or the one `bench/run` builds) runs under valgrind; each shape is
sent 10 times to warm up, then BENCH_REQUESTS times (50) with the counters zeroed
before. User-space instructions only: the kernel's share (the sockets) is not in it."""

import glob
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "50"))
BIN = bench.BIN


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else f"{bench.PG}/clientele_bench_10000"
    workdir = tempfile.mkdtemp(prefix="clientele-instructions-")
    out = os.path.join(workdir, "callgrind.out")
    env = dict(os.environ, DATABASE_URL=url, CLIENTELE_BIND=f"127.0.0.1:{bench.PORT}",
               CLIENTELE_LOG="warn")
    with open(os.path.join(workdir, "server.log"), "w") as log:
        server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                   BIN, "serve"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(600):  # valgrind starts the server about 50 times slower
            try:
                bench.post(None, path="/health")
                break
            except OSError:
                time.sleep(0.2)
        admin = bench.admin_token()
        print("| shape | instructions per request |\n| --- | --- |")
        for label, document, variables in bench.seeded_shapes(admin):
            for _ in range(10):
                bench.gql(document, variables, admin)
            control("-z", server.pid)
            for _ in range(REQUESTS):
                bench.post({"query": document, "variables": variables}, admin)
            before = set(glob.glob(out + ".*"))
            control("-d", server.pid)
            total = 0
            for dump in set(glob.glob(out + ".*")) - before:
                with open(dump) as f:
                    total += int(re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M).group(1))
            print(f"| {label} | {total / REQUESTS / 1e6:.2f} M |", flush=True)
    finally:
        server.terminate()
        server.wait()
    print(f"(callgrind's files and the server's log: {workdir})", file=sys.stderr)


def control(flag, pid):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True)


if __name__ == "__main__":
    main()
