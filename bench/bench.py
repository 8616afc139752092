#!/usr/bin/env python3
"""The Clientele benchmark: seeds fixed datasets, starts the release server, drives the
query shapes and a write mix with wrk, and prints one table. See bench/README.md.

Everything talks to 127.0.0.1. Settings come from the environment (see README)."""

import collections
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.environ.get("CARGO_TARGET_DIR", "/root/.cache/clientele-target")
# The server to measure: the release build `bench/run` makes, or BENCH_BIN.
BIN = os.environ.get("BENCH_BIN", os.path.join(TARGET, "release", "clientele"))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_LOG = os.environ.get("BENCH_PG_LOG", "/var/log/postgresql/postgresql-15-main.log")
CUSTOMERS = [int(n) for n in os.environ.get("BENCH_CUSTOMERS", "10000 100000").split()]
BACKENDS = os.environ.get("BENCH_BACKENDS", "postgres sqlite").split()
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
PORT = int(os.environ.get("BENCH_PORT", "18400"))
TICKS = os.sysconf("SC_CLK_TCK")
ADMIN_EMAIL, ADMIN_PASSWORD = "bench-admin@example.com", "bench admin password"


def shape(name):
    with open(os.path.join(HERE, "shapes", name + ".graphql")) as f:
        return f.read()


# (label, document, variables); `$customer` is replaced by a seeded customer's id.
SHAPES = [
    ("customer by id + addresses + groups", shape("customer_by_id"), {"id": "$customer"}),
    ("50 customers + addresses + groups + totalCount", shape("customer_page"), {}),
    ("the same, search \"hopper\"", shape("customer_page"), {"search": "hopper"}),
    ("customer by id + 10 latest orders", shape("customer_orders"), {"id": "$customer"}),
]


def run(*args, **kwargs):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kwargs).stdout


def psql(db, sql):
    return run("psql", f"{PG}/{db}", "-Atqc", sql).strip()


def cpu_ms(pids):
    """User + system CPU of each of these processes so far, in milliseconds."""
    used = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) * 1000 / TICKS
        except (FileNotFoundError, ProcessLookupError):
            pass
    return used


def cpu_since(before, pids):
    """CPU used since `before` by these processes (new ones count from zero)."""
    now = cpu_ms(pids)
    return sum(used - before.get(pid, 0) for pid, used in now.items())


def postgres_pids():
    out = subprocess.run(["pgrep", "-x", "postgres"], text=True, capture_output=True).stdout
    return [int(p) for p in out.split()]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def post(body, token=None, path="/graphql"):
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read().decode()
    return json.loads(text) if path == "/graphql" else text


def gql(query, variables=None, token=None):
    answer = post({"query": query, "variables": variables or {}}, token)
    if answer.get("errors"):
        raise SystemExit(f"the bench request failed: {answer['errors']}")
    return answer["data"]


def admin_token():
    """A session of the bench's admin (`prepare` creates it)."""
    return gql("mutation($e: String!, $p: String!) { adminLogin(email: $e, password: $p) { token } }",
               {"e": ADMIN_EMAIL, "p": ADMIN_PASSWORD})["adminLogin"]["token"]


def seeded_shapes(admin):
    """SHAPES with `$customer` replaced by the id of a seeded registered customer."""
    customer_id = gql("{ customers(first: 1, filter: { hasAccount: true }, sort: { field: EMAIL, direction: ASC }) "
                      "{ nodes { id } } }", token=admin)["customers"]["nodes"][0]["id"]
    return [(label, document, {k: (customer_id if v == "$customer" else v) for k, v in variables.items()})
            for label, document, variables in SHAPES]


def metrics():
    """Requests, SQL statements and errors in GraphQL responses, as the server counts them."""
    text = post(None, path="/metrics")
    values = dict(re.findall(r"^(clientele_\w+) (\d+)$", text, re.M))
    errors = sum(int(n) for n in re.findall(r"^clientele_graphql_errors_total\{[^}]*\} (\d+)$", text, re.M))
    return int(values["clientele_graphql_requests_total"]), int(values["clientele_sql_statements_total"]), errors


class Server:
    """The release server on one database, with the throttles out of the way (the
    bench is one client address sending thousands of registrations)."""

    def __init__(self, database_url, log, binary=None, **settings):
        env = dict(os.environ, **settings,
                   DATABASE_URL=database_url,
                   CLIENTELE_BIND=f"127.0.0.1:{PORT}",
                   CLIENTELE_LOG="warn",
                   CLIENTELE_REGISTRATIONS_PER_ADDRESS="1000000",
                   CLIENTELE_GUEST_ORDERS_PER_ADDRESS="1000000",
                   CLIENTELE_LOGIN_FAILURES_PER_ADDRESS="1000000",
                   CLIENTELE_MAILS_PER_RECIPIENT="1000000")
        self.process = subprocess.Popen([binary or BIN, "serve"], env=env, stdout=log, stderr=log)
        for _ in range(300):
            try:
                post(None, path="/health")
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the server did not start; see its log")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def wrk(script, seconds, env):
    out = run("wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s",
              os.path.join(HERE, script), f"http://127.0.0.1:{PORT}/graphql",
              env=dict(os.environ, **env))
    return json.loads(out.strip().splitlines()[-1])


def one_run(server, script, env, database_pids, standby_pids=lambda: []):
    """One wrk run, with the server's counters and the CPU of each side across it."""
    requests0, statements0, errors0 = metrics()
    server_cpu0, database_cpu0 = cpu_ms([server.process.pid]), cpu_ms(database_pids())
    standby_cpu0 = cpu_ms(standby_pids())
    result = wrk(script, SECONDS, env)
    requests1, statements1, errors1 = metrics()
    server_cpu = cpu_since(server_cpu0, [server.process.pid])
    database_cpu = cpu_since(database_cpu0, database_pids())
    standby_cpu = cpu_since(standby_cpu0, standby_pids())
    requests = max(requests1 - requests0, 1)
    # The server's own count of errors in its answers: post.lua reads no bodies (that
    # would load the core the server shares), and a session that expires mid-run
    # turns every read into a fast error.
    result["graphql_errors"] = max(result.get("graphql_errors", 0), errors1 - errors0)
    result.update(
        rps=result["requests"] / result["seconds"],
        statements=(statements1 - statements0) / requests,
        server_cpu_ms=server_cpu / requests,
        database_cpu_ms=database_cpu / requests if database_pids() else None,
        standby_cpu_ms=standby_cpu / requests,
        rss_mb=rss_mb(server.process.pid),
    )
    if result["socket_errors"] or result["non_2xx"] or result["graphql_errors"]:
        raise SystemExit(f"errors under load: {result}")
    return result


def measure(server, script, env, database_pids, standby_pids=lambda: [], ceiling=None):
    """RUNS runs of wrk; the figures of the median run.

    With `ceiling` (a function that runs pgbench and returns its transactions per
    second), each wrk run is followed at once by a ceiling run, the server idle, and
    the run's share is its req/s over that ceiling: on a shared machine both move by
    a quarter or more within minutes, and a share of two figures taken minutes apart
    measured the drift as much as the server. The median is then taken by share."""
    wrk(script, 2, env)  # warm-up: caches, pool, the planner's statistics
    results = []
    for _ in range(RUNS):
        result = one_run(server, script, env, database_pids, standby_pids)
        if ceiling:
            result["ceiling"] = ceiling()
            result["share"] = result["rps"] / result["ceiling"]
        results.append(result)
    results.sort(key=lambda r: r["share"] if ceiling else r["rps"])
    median = results[len(results) // 2]
    median["shares"] = [r["share"] for r in results] if ceiling else []
    return median


# ---- The database-only ceiling: one request's statements, replayed by pgbench ----

def captured_statements(db, server_url, log, body, token):
    """The statements one request issues, with their parameters inlined, read from
    PostgreSQL's log while a second server on `db` logs every statement.

    The server's own background work logs statements too: the outbox worker's polls
    (each second), its `LISTEN` at start-up. Replayed with the request they made the
    ceiling swing from about a hundred to thousands of transactions per second, so the
    request is sent in three windows of half a second and only the statements found in
    all three are kept (a poll each second cannot land in all three)."""
    psql("postgres", f"ALTER DATABASE {db} SET log_statement = 'all'")
    windows = []
    try:
        capture = Server(server_url, log)
        try:
            post(body, token)  # warm: the same statements the benchmark's requests send
            for _ in range(3):
                offset = os.path.getsize(PG_LOG)
                post(body, token)
                time.sleep(0.5)
                with open(PG_LOG, errors="replace") as f:
                    f.seek(offset)
                    windows.append(parse_log(f.read(), db))
        finally:
            capture.stop()
    finally:
        psql("postgres", f"ALTER DATABASE {db} RESET log_statement")
    return in_every_window(windows)


def in_every_window(windows):
    """The statements of the first window that each other window holds as often, in
    their order; `LISTEN` and `UNLISTEN` are never the request's. Statements are
    compared without their values: a batch lists its keys in no fixed order."""
    def shape(statement):
        return re.sub(r"'(?:[^']|'')*'", "?", statement)
    kept = []
    counts = [collections.Counter(map(shape, window)) for window in windows[1:]]
    for statement in windows[0]:
        key = shape(statement)
        if re.match(r"(UN)?LISTEN\b", statement.strip()) or not all(count[key] > 0 for count in counts):
            continue
        kept.append(statement)
        for count in counts:
            count[key] -= 1
    return kept


RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] (\S+)@(\S+) (\w+):  (.*)$")
PARAM = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def parse_log(text, db):
    records = []  # [kind, text]
    for line in text.splitlines():
        match = RECORD.match(line)
        if match:
            user, database, level, message = match.groups()
            records.append([database, level, message])
        elif records and line.startswith("\t"):
            records[-1][2] += "\n" + line[1:]
    statements = []
    for database, level, message in records:
        if database != db:
            continue
        if level == "LOG" and (m := re.match(r"(?:statement|execute [^:]+): (.*)", message, re.S)):
            statements.append(m.group(1))
        elif level == "DETAIL" and message.startswith("parameters:") and statements:
            params = dict((int(n), v) for n, v in PARAM.findall(message))
            statements[-1] = re.sub(r"\$(\d+)\b", lambda m: params.get(int(m.group(1)), m.group(0)),
                                    statements[-1])
    return statements


def pgbench_script(statements, workdir):
    """A pgbench script file of these statements, one transaction each."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False, dir=workdir) as script:
        for statement in statements:
            # pgbench reads one statement per line unless it ends with a semicolon.
            script.write(" ".join(statement.split()) + ";\n")
    return script.name


def pgbench_ceiling(db, script):
    out = run("pgbench", "-n", "-M", "prepared", f"-c{CONNECTIONS}", "-j2", f"-T{SECONDS}",
              "-f", script, f"{PG}/{db}")
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


# ---- One dataset on one backend ----

def prepare(backend, customers, workdir, log):
    if backend == "postgres":
        db = f"clientele_bench_{customers}"
        url = f"{PG}/{db}"
        psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        psql("postgres", f"CREATE DATABASE {db}")
    else:
        db = None
        path = os.path.join(workdir, f"bench-{customers}.db")
        url = f"sqlite://{path}"
    env = dict(os.environ, DATABASE_URL=url, CLIENTELE_LOG="info")
    started = time.monotonic()
    seeded = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "seed", "--customers", str(customers)],
                            env=env, text=True, capture_output=True)
    if seeded.returncode != 0:
        raise SystemExit(f"seed failed: {seeded.stderr}")
    seed_seconds = time.monotonic() - started
    seed_rss = int(seeded.stderr.strip().splitlines()[-1]) / 1024
    run(BIN, "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD, env=env)
    if db:
        # The reads run on a settled database, as autovacuum keeps one: the seed leaves
        # about half the customer rows dead and no visibility map, and a PostgreSQL
        # without autovacuum (this machine's) keeps them so while the shapes run.
        psql(db, "VACUUM (ANALYZE)")
    return db, url, seed_seconds, seed_rss


def bench(backend, customers, workdir, log):
    db, url, seed_seconds, seed_rss = prepare(backend, customers, workdir, log)
    print(f"# {backend}, {customers} customers: seeded in {seed_seconds:.1f} s, "
          f"seed max RSS {seed_rss:.0f} MB", file=sys.stderr)
    database_pids = postgres_pids if backend == "postgres" else (lambda: [])
    server = Server(url, log)
    try:
        admin = admin_token()
        bodies = []
        for label, document, variables in seeded_shapes(admin):
            gql(document, variables, admin)  # fails loudly if the shape is wrong
            bodies.append((label, {"query": document, "variables": variables}))
    finally:
        server.stop()
    # Each shape's statements, captured before the writes, on the rows the reads run
    # on (the write mix adds thousands of customers, which become the newest page).
    scripts = {}
    if backend == "postgres":
        for label, body in bodies:
            scripts[label] = pgbench_script(captured_statements(db, url, log, body, admin), workdir)
    rows = []
    server = Server(url, log)
    try:
        for label, body in bodies:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=workdir) as f:
                json.dump(body, f)
            ceiling = (lambda script=scripts.get(label): pgbench_ceiling(db, script)) if db else None
            result = measure(server, "post.lua", {"BENCH_BODY": f.name, "BENCH_TOKEN": admin},
                             database_pids, ceiling=ceiling)
            rows.append((label, result))
    finally:
        server.stop()
    server = Server(url, log)
    try:
        # The write mix: customers to add addresses to, 50 addresses each at most.
        tokens = [gql("mutation($e: String!) { registerCustomer(email: $e, password: \"bench password 1\") { token } }",
                      {"e": f"bench-address-{n}@example.com"})["registerCustomer"]["token"]
                  for n in range(200)]
        tokens_file = os.path.join(workdir, "tokens.txt")
        with open(tokens_file, "w") as f:
            f.write("\n".join(tokens) + "\n")
        rows.append(("writes: register / guest order / address add",
                     measure(server, "mutations.lua", {"BENCH_TOKENS": tokens_file}, database_pids)))
    finally:
        server.stop()
    return rows, seed_seconds, seed_rss


# ---- Standby mode: the primary's CPU per read, with and without a standby ----

PG_BIN = sorted(f"/usr/lib/postgresql/{v}/bin" for v in os.listdir("/usr/lib/postgresql"))[-1] \
    if os.path.isdir("/usr/lib/postgresql") else ""


def as_postgres(*args):
    run("runuser", "-u", "postgres", "--", *args)


class Cluster:
    """A PostgreSQL cluster of the bench's own on a free port: a primary made with
    initdb, or a streaming standby of one made with pg_basebackup -R."""

    def __init__(self, workdir, name, port, standby_of=None):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data, self.port = os.path.join(self.dir, "data"), port
        if standby_of is None:
            as_postgres(f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
        else:
            as_postgres(f"{PG_BIN}/pg_basebackup", "-h", "127.0.0.1", "-p", str(standby_of.port),
                        "-U", "postgres", "-D", self.data, "-R", "-X", "stream", "-c", "fast")
        as_postgres(f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w",
                    "-o", f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def pids(self):
        """The postmaster and its children."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        out = subprocess.run(["pgrep", "-P", str(postmaster)], text=True, capture_output=True).stdout
        return [postmaster] + [int(p) for p in out.split()]

    def stop(self):
        as_postgres(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")


def wait_for_standby():
    for _ in range(600):
        health = json.loads(post(None, path="/health"))
        if all(s["state"] == "healthy" for s in health.get("standbys", [])):
            return
        time.sleep(0.1)
    raise SystemExit(f"the standby never joined the rotation: {health}")


def standby_mode(customers, workdir, log):
    """The read shapes twice on one primary: answered by it, then by a standby."""
    primary = Cluster(workdir, "primary", PORT + 1)
    standby = None
    try:
        db = "clientele_bench"
        run("psql", primary.url("postgres"), "-qc", f"CREATE DATABASE {db}")
        env = dict(os.environ, DATABASE_URL=primary.url(db), CLIENTELE_LOG="warn")
        run(BIN, "seed", "--customers", str(customers), env=env)
        run(BIN, "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD, env=env)
        standby = Cluster(workdir, "standby", PORT + 2, standby_of=primary)
        rows = {}
        for mode, settings in (("primary only", {}),
                               ("with a standby", {"CLIENTELE_STANDBY_URLS": standby.url(db)})):
            server = Server(primary.url(db), log, **settings)
            try:
                admin = admin_token()
                wait_for_standby()
                for label, document, variables in seeded_shapes(admin):
                    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=workdir) as f:
                        json.dump({"query": document, "variables": variables}, f)
                    result = measure(server, "post.lua", {"BENCH_BODY": f.name, "BENCH_TOKEN": admin},
                                     primary.pids, standby.pids if settings else (lambda: []))
                    rows.setdefault(label, {})[mode] = result
            finally:
                server.stop()
    finally:
        if standby:
            standby.stop()
        primary.stop()
    print(f"Standby mode, PostgreSQL, {customers:,} customers; wrk -t2 -c{CONNECTIONS}, "
          f"{RUNS} runs of {SECONDS} s (median); CPU in ms per request\n")
    print("| shape | req/s, primary only | primary CPU | req/s, with a standby | primary CPU | standby CPU |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, by_mode in rows.items():
        alone, spread = by_mode["primary only"], by_mode["with a standby"]
        print(f"| {label} | {alone['rps']:,.0f} | {alone['database_cpu_ms']:.2f} | "
              f"{spread['rps']:,.0f} | {spread['database_cpu_ms']:.2f} | {spread['standby_cpu_ms']:.2f} |",
              flush=True)


def main():
    if os.environ.get("BENCH_STANDBY"):
        workdir = tempfile.mkdtemp(prefix="clientele-bench-")
        shutil.chown(workdir, "postgres", "postgres")
        with open(os.path.join(workdir, "server.log"), "w") as log:
            standby_mode(CUSTOMERS[0], workdir, log)
        return
    for tool in ("wrk", "pgbench", "psql"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install wrk postgresql-client")
    if not os.path.exists(BIN):
        raise SystemExit(f"no release build at {BIN}: run bench/run, which builds it")
    workdir = tempfile.mkdtemp(prefix="clientele-bench-")
    log = open(os.path.join(workdir, "server.log"), "w")
    print(f"wrk -t2 -c{CONNECTIONS}, {RUNS} runs of {SECONDS} s per row, each read's followed by "
          f"its pgbench ceiling (the run with the median share shown; every run's share in "
          f"brackets); CPU in ms per request; logs in {workdir}\n")
    print("| backend | customers | shape | req/s | p50 ms | p99 ms | statements | server CPU | "
          "database CPU | server RSS MB | pgbench ceiling req/s | share |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    seeds = []
    for backend in BACKENDS:
        for customers in CUSTOMERS:
            rows, seed_seconds, seed_rss = bench(backend, customers, workdir, log)
            seeds.append((backend, customers, seed_seconds, seed_rss))
            for label, r in rows:
                ceiling = r.get("ceiling")
                database_cpu = r["database_cpu_ms"]
                cells = [
                    backend, f"{customers:,}", label, f"{r['rps']:,.0f}",
                    f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['statements']:.1f}",
                    f"{r['server_cpu_ms']:.2f}",
                    "" if database_cpu is None else f"{database_cpu:.2f}",
                    f"{r['rss_mb']:.0f}",
                    "" if ceiling is None else f"{ceiling:,.0f}",
                    "" if ceiling is None else f"{100 * r['share']:.0f} % "
                    f"({', '.join(f'{100 * share:.0f}' for share in sorted(r['shares']))})",
                ]
                print("| " + " | ".join(cells) + " |", flush=True)
    print("\n| backend | customers | seed seconds | seed max RSS MB |\n| --- | --- | --- | --- |")
    for backend, customers, seconds, rss in seeds:
        print(f"| {backend} | {customers:,} | {seconds:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
