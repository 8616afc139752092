#!/usr/bin/env python3
"""Page costs as the table grows: page 1, a page 90 % of the way down and a search page,
each with totalCount, timed over 40 sequential requests against the release server on
one seeded PostgreSQL database. Usage: bench/counts.py DATABASE (e.g. one that
`clientele seed --customers 1000000` filled). See docs/performance.md#counting."""
import base64, json, os, statistics, subprocess, sys, time, urllib.request
db = sys.argv[1]
PG = "postgres://postgres@127.0.0.1:5432"
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", "/root/.cache/clientele-target"), "release", "clientele")
port = 18600
env = dict(os.environ, DATABASE_URL=f"{PG}/{db}", CLIENTELE_BIND=f"127.0.0.1:{port}", CLIENTELE_LOG="warn")
subprocess.run([BIN, "create-admin", "--email", "scale@example.com", "--password", "scale admin password"], env=env, capture_output=True)
import socket
# An old server still on the port would answer for another database.
if socket.socket().connect_ex(("127.0.0.1", port)) == 0:
    raise SystemExit(f"port {port} is taken: stop what listens there first")
server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def post(query, variables=None, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req) as r:
        out = json.loads(r.read())
    assert not out.get("errors"), out
    return out["data"]
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health"); break
    except OSError: time.sleep(0.1)
token = post('mutation { adminLogin(email: "scale@example.com", password: "scale admin password") { token } }')["adminLogin"]["token"]
total = int(subprocess.run(["psql", f"{PG}/{db}", "-Atc", "SELECT count(*) FROM customer WHERE deleted_at IS NULL"], capture_output=True, text=True).stdout)
row = subprocess.run(["psql", f"{PG}/{db}", "-Atc", f"SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"') FROM customer WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC OFFSET {total * 9 // 10} LIMIT 1"], capture_output=True, text=True).stdout.strip().split("|")
cursor = base64.urlsafe_b64encode(json.dumps({"o": "customer.created_at", "k": row[1], "i": row[0]}).encode()).decode().rstrip("=")
page = "query($after: String, $search: String) { customers(first: 50, after: $after, filter: { search: $search }) { totalCount totalCountPrecision nodes { id email firstName lastName } } }"
cases = [("page 1", {}), ("page at 90 %", {"after": cursor}), ("page 1, search \"hopper\"", {"search": "hopper"})]
print(f"{db}: {total:,} live customers")
for label, variables in cases:
    post(page, variables, token)
    times = []
    for _ in range(40):
        t = time.perf_counter(); data = post(page, variables, token); times.append((time.perf_counter() - t) * 1000)
    c = data["customers"]
    print(f"  {label}: median {statistics.median(times):.2f} ms over 40 requests; totalCount {c['totalCount']} {c['totalCountPrecision']}, {len(c['nodes'])} nodes")
server.terminate(); server.wait()
