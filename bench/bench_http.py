"""HTTP benchmark: labnode's http service against ThreadingHTTPServer and nginx.

    python3 bench/bench_http.py [--clients 50] [--duration 3] [--rounds 3] [--size 1024]

Three servers, each its own process on 127.0.0.1, serve the same file: ours
(labnode.services.http), Python's http.server.ThreadingHTTPServer, and nginx
with one worker process and its own temporary configuration (access log off,
never the system's default site; stopped after each measurement).  The load
comes from a real load generator, wrk (one thread) or, without wrk,
ApacheBench; both are installed with apt-get when missing (the tests never
need them).  In each mode (keep-alive, then a new connection per request
with "Connection: close") the servers are measured in turn, ABC CBA ABC ...,
for --rounds rounds; the medians count.  Prints requests/s, latency and the
ratios against the goals (>= 3x ThreadingHTTPServer with close, >= 6x with
keep-alive, >= 0.35x nginx with keep-alive).
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _loadgen

GOALS = {("keep-alive", "ThreadingHTTPServer"): 6.0, ("close", "ThreadingHTTPServer"): 3.0,
         ("keep-alive", "nginx"): 0.35}
PACKAGES = {"wrk": "wrk", "ab": "apache2-utils", "nginx": "nginx-light"}


def find_tool(name: str) -> str | None:
    """The path of a program, installed with apt-get if missing (None if that fails)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path or not shutil.which("apt-get"):
        return path
    print(f"installing {PACKAGES[name]} (apt-get) for {name} ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "--no-install-recommends", PACKAGES[name]]
    quiet = subprocess.DEVNULL
    if subprocess.run(install, env=env, stdout=quiet, stderr=quiet).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, stdout=quiet, stderr=quiet)
        subprocess.run(install, env=env, stdout=quiet, stderr=quiet)
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


# -- the servers ----------------------------------------------------------------

def serve_labnode(root: str, port: int, work: str):
    return _loadgen.start([sys.executable, "-m", "labnode.services.http", "--bind", "127.0.0.1",
                           "--port", str(port), "--root", root], port)


def serve_threading(root: str, port: int, work: str):
    return _loadgen.start([sys.executable, os.path.join(os.path.dirname(__file__), "_loadgen.py"),
                           "threading-server", str(port), root], port)


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    keepalive_requests 1000000;
    types {{ text/html html; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def serve_nginx(nginx: str, root: str, port: int, work: str):
    conf = os.path.join(work, f"nginx-{port}.conf")
    with open(conf, "w") as handle:
        handle.write(NGINX_CONF.format(work=work, port=port, root=root))
    return _loadgen.start([nginx, "-c", conf, "-p", work, "-e", os.path.join(work, "error.log")],
                          port)



# -- the load generators -------------------------------------------------------------

def _find(pattern: str, text: str, tool: str) -> str:
    """The first group of pattern in a load generator's output (clear error if absent)."""
    match = re.search(pattern, text, re.M)
    if match is None:
        raise RuntimeError(f"cannot read {tool}'s output (no {pattern!r}):\n{text}")
    return match[1]


def _ms(text: str) -> float:
    value, unit = _find(r"^([0-9.]+)(?:us|ms|s|m)$", text, "wrk"), text.lstrip("0123456789.")
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(tool: str, url: str, clients: int, duration: float, keep_alive: bool) -> dict:
    argv = [tool, "-t1", f"-c{clients}", f"-d{max(1, round(duration))}s", "--latency", url]
    if not keep_alive:
        argv[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30).stdout
    percent = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non_2xx[1]) if non_2xx else 0
    return {"rps": float(_find(r"Requests/sec:\s+([0-9.]+)", out, "wrk")),
            "requests": int(_find(r"(\d+) requests in", out, "wrk")),
            "p50_ms": _ms(percent["50"]), "p99_ms": _ms(percent["99"]), "errors": errors}


def run_ab(tool: str, url: str, clients: int, duration: float, keep_alive: bool) -> dict:
    argv = [tool, "-q", "-c", str(clients), "-t", f"{duration:g}", "-n", "10000000", url]
    if keep_alive:
        argv.insert(1, "-k")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30).stdout
    percent = dict(re.findall(r"^\s+(50|99)%\s+(\d+)", out, re.M))
    errors = int(_find(r"Failed requests:\s+(\d+)", out, "ab"))
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    errors += int(non_2xx[1]) if non_2xx else 0
    return {"rps": float(_find(r"Requests per second:\s+([0-9.]+)", out, "ab")),
            "requests": int(_find(r"Complete requests:\s+(\d+)", out, "ab")),
            "p50_ms": float(percent["50"]), "p99_ms": float(percent["99"]), "errors": errors}


def measure(serve, load, root: str, work: str, args, keep_alive: bool) -> dict:
    port = _loadgen.free_port()
    proc = serve(root, port, work)
    try:
        url = f"http://127.0.0.1:{port}/index.html"
        load(url, args.clients, 1, keep_alive)  # warm up (and fill caches)
        return load(url, args.clients, args.duration, keep_alive)
    finally:
        _loadgen.stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections")
    parser.add_argument("--duration", type=int, default=3, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measurements per server and mode, alternating; the median counts")
    parser.add_argument("--size", type=int, default=1024, help="bytes in the served file")
    args = parser.parse_args()

    wrk = find_tool("wrk")
    ab = None if wrk else find_tool("ab")
    if not wrk and not ab:
        print("bench_http: needs wrk or ab (apt-get install wrk apache2-utils)", file=sys.stderr)
        return 2
    tool = wrk or ab or ""

    def load(url: str, clients: int, duration: float, keep_alive: bool) -> dict:
        run = run_wrk if wrk else run_ab
        return run(tool, url, clients, duration, keep_alive)

    nginx = find_tool("nginx")
    servers = {"labnode-http": serve_labnode, "ThreadingHTTPServer": serve_threading}
    if nginx:
        servers["nginx"] = functools.partial(serve_nginx, nginx)
    else:
        print("(nginx not available: no nginx figures)")

    with tempfile.TemporaryDirectory() as work:
        os.chmod(work, 0o755)  # nginx's worker runs as nobody
        root = os.path.join(work, "www")
        os.mkdir(root)
        index = os.path.join(root, "index.html")
        with open(index, "wb") as handle:
            handle.write((b"<p>benchmark</p>\n" * (args.size // 17 + 1))[:args.size])
        old = time.time() - 3600  # a file that is not being written: cacheable at once
        os.utime(index, (old, old))
        print(f"http: {os.path.basename(tool)}, {args.clients} connections, {args.duration:g} s per "
              f"run, median of {args.rounds} (order ABC CBA ...), GET /index.html ({args.size} "
              f"bytes), loopback, {os.cpu_count()} CPUs")
        print(f"{'mode':<11} {'server':<20} {'req/s':>9} {'runs (req/s)':<24} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'errors':>6}")
        medians: dict[tuple[str, str], float] = {}
        for keep_alive in (True, False):
            mode = "keep-alive" if keep_alive else "close"
            results: dict[str, list[dict]] = {name: [] for name in servers}
            for round_ in range(args.rounds):  # alternate, so a busy moment hits all
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    results[name].append(measure(servers[name], load, root, work, args, keep_alive))
            for name, runs in results.items():
                rps = statistics.median(r["rps"] for r in runs)
                medians[mode, name] = rps
                print(f"{mode:<11} {name:<20} {rps:>9.0f} "
                      f"{' '.join(str(round(r['rps'])) for r in runs):<24} "
                      f"{statistics.median(r['p50_ms'] for r in runs):>7.2f} "
                      f"{statistics.median(r['p99_ms'] for r in runs):>7.2f} "
                      f"{sum(r['errors'] for r in runs):>6}")
        for (mode, other), goal in GOALS.items():
            if (mode, other) not in medians:
                continue
            ratio = medians[mode, "labnode-http"] / medians[mode, other]
            print(f"ratio {mode:<10} labnode-http / {other:<19} = {ratio:6.2f}x "
                  f"(goal >= {goal:g}x: {'met' if ratio >= goal else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
