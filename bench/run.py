"""`make bench`: Fiko beside the Channels tutorial peer and the raw `websockets` ceiling, on
the same workloads, in one run, and one table with the ratios.

For each target in turn (Fiko under uvicorn, then the tutorial peer under uvicorn, then the
raw peer), one server at a time, and for each workload a fresh server on a free port (so no
backlog or freed memory is carried from one workload to the next): flush the benchmark Redis
database, start the server, warm it up (a few sockets, not reported), run the workload with
``bench/load.py`` or ``bench/webhook_load.py`` (their own process), stop the server. Fiko runs
as in production: PostgreSQL (a dedicated database, created if missing and migrated),
channels-redis, DEBUG off, a generated SECRET_KEY, a staff JWT on every socket, every message
stored. W4 (Telegram webhook ingest) has no peer: it runs against Fiko only.

Environment (all optional):
  BENCH_SCALE=1           scales conversations / sockets / senders (0.1 for a quick run)
  BENCH_SECONDS=20        seconds of sending per workload
  BENCH_DRAIN=10          seconds to wait for deliveries after the last send
  BENCH_WORKLOADS=W1L,W1,W1x2,W1x4,W2,W3,W4,WS   also W3X (10,000 idle sockets);
                          W4 = W4@50,W4@200,W4@500; W1x<N> = W1 on N server processes
  BENCH_TARGETS=fiko,tutorial,raw
  BENCH_FIKO_SERVER=uvicorn      or daphne
  BENCH_FIKO_APP=fiko.asgi:application   (uvicorn) another ASGI object wrapping Fiko's, e.g. a profiling
                          wrapper on PYTHONPATH that times the handshake's stages
  BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fiko_bench
  BENCH_REDIS_URL=redis://127.0.0.1:6379/9   (flushed before each server)
  BENCH_CONNECT_CONCURRENCY=100  handshakes in flight at once
  BENCH_SETTLE_MAX=120    longest wait for a server to go quiet after its warm-up
  BENCH_FLAT_MB=16        "memory flat" (W2, WS): RSS growth during the run at most this (all processes)
  BENCH_KEEP=1            keep the working directory (plan, server logs, raw JSON) and print it

The full figures of every workload go to bench/results/<UTC time>.json, the table to .md.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from load import cpu_seconds, process_tree, raise_open_files_limit  # noqa: E402

PYTHON = sys.executable
BIN = Path(PYTHON).parent
AGENTS = 10  # staff users; the sockets of a conversation use them in turn


def env_float(name, default):
    return float(os.environ.get(name) or default)


SCALE = env_float("BENCH_SCALE", 1)
SECONDS = env_float("BENCH_SECONDS", 20)
DRAIN = env_float("BENCH_DRAIN", 10)
SETTLE_MAX = env_float("BENCH_SETTLE_MAX", 120)
CONNECT_CONCURRENCY = int(env_float("BENCH_CONNECT_CONCURRENCY", 100))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/fiko_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/9"
FIKO_SERVER = os.environ.get("BENCH_FIKO_SERVER") or "uvicorn"
TARGETS = [t for t in (os.environ.get("BENCH_TARGETS") or "fiko,tutorial,raw").split(",") if t]
WORKLOAD_NAMES = [w for w in (os.environ.get("BENCH_WORKLOADS") or "W1L,W1,W1x2,W1x4,W2,W3,W4,WS").split(",") if w]
W4_RATES = (50, 200, 500)  # Telegram updates per second
FLAT_KB = env_float("BENCH_FLAT_MB", 16) * 1024
# WS: seconds of sending. Not BENCH_SECONDS: the kernel's socket buffers absorb the first ~4 MB
# per slow socket (tcp_wmem), so a short run shows nothing; 30 s is the measurement.
WS_SECONDS = env_float("BENCH_WS_SECONDS", 30)


def scaled(n, minimum=1):
    return max(minimum, round(n * SCALE))


def workloads() -> dict[str, dict]:
    w1_rooms = scaled(100)
    all_ = {
        "W1L": {"title": f"W1L {w1_rooms}x10, 1 sender each at 0.5/s",
                "rooms": w1_rooms, "sockets": 10, "senders": 1, "rate": 0.5},
        "W1": {"title": f"W1 {w1_rooms}x10, 1 sender each at 5/s",
               "rooms": w1_rooms, "sockets": 10, "senders": 1, "rate": 5},
        "W2": {"title": f"W2 1x{scaled(200, 2)}, {scaled(10)} senders at 15/s",
               "rooms": 1, "sockets": scaled(200, 2), "senders": scaled(10), "rate": 15},
        "W3": {"title": f"W3 {scaled(100) * 20:,} idle sockets",
               "rooms": scaled(100), "sockets": 20, "idle": True},
        "W3X": {"title": f"W3X {scaled(100) * 100:,} idle sockets",
                "rooms": scaled(100), "sockets": 100, "idle": True},
    }
    # The slow-reader workload is not scaled: 10 reading and 10 non-reading sockets at any scale.
    all_["WS"] = {"title": f"WS 1x(10 reading + 10 not reading), 2 senders at 15/s, 16 KB, {WS_SECONDS:g} s",
                  "kind": "slow", "rooms": 1, "sockets": 10, "slow": 10, "senders": 2, "rate": 15,
                  "message_bytes": 16384, "duration": WS_SECONDS}
    for rate in W4_RATES:
        all_[f"W4@{rate}"] = {"title": f"W4 Telegram webhook {rate}/s into {scaled(1000):,} conversations",
                              "kind": "webhook", "rate": rate, "customers": scaled(1000), "watchers": 10,
                              "fiko_only": True}
    chosen = {}
    for name in WORKLOAD_NAMES:
        names = [f"W4@{rate}" for rate in W4_RATES] if name == "W4" else [name]
        for one in names:
            if one.startswith("W1x") and one[3:].isdigit() and int(one[3:]) >= 1:
                n = int(one[3:])
                # The raw peer keeps its rooms in one process's memory: it cannot run as N.
                all_[one] = {**all_["W1"], "processes": n, "targets": ("fiko", "tutorial"), "scaling_of": "W1",
                             "title": f"W1x{n} {w1_rooms}x10, 1 sender each at 5/s, {n} server processes"}
            if one.startswith("W4@") and one not in all_ and one[3:].isdigit():
                rate = int(one[3:])
                all_[one] = {**all_[f"W4@{W4_RATES[0]}"], "rate": rate,
                             "title": f"W4 Telegram webhook {rate}/s into {scaled(1000):,} conversations"}
            if one not in all_:
                raise SystemExit(f"bench: unknown workload {name}; known: W1L, W1, W1x<N>, W2, W3, W3X, W4, "
                                 "W4@<rate>, WS")
            chosen[one] = all_[one]
    return chosen


# --- processes --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not listen within {timeout:.0f} s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def log_exceptions(path: Path) -> list[str]:
    """The last line of each traceback in a server log (chained ones count once)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    found, in_traceback = [], False
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
        elif in_traceback and line and not line.startswith((" ", "Traceback")):
            nxt = next((x for x in lines[i + 1:i + 3] if x.strip()), "")
            if not nxt.startswith(("During handling", "The above exception")):
                found.append(line)
                in_traceback = False
    return found


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def settle(server_pids: list[int]) -> float:
    """Wait until the server (all its processes) uses under 10% of a core for a second."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_MAX:
        pids = [p for pid in server_pids for p in process_tree(pid)]
        c0 = cpu_seconds(pids)
        time.sleep(1)
        if cpu_seconds(pids) - c0 < 0.10:
            break
    return round(time.monotonic() - started, 1)


def run_checked(cmd, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(map(str, cmd[:3]))} failed:\n{result.stdout}\n{result.stderr}")
    return result


# --- Fiko set-up ------------------------------------------------------------------------------
def fiko_env(secret_key: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "fiko.settings",
        "DEBUG": "false",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "ACCESS_TOKEN_MINUTES": "600",  # outlives the run
        "LOG_LEVEL": "WARNING",
    })
    return env


def ensure_database() -> None:
    import psycopg

    parts = urlsplit(DATABASE_URL)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"bench: created database {name}", flush=True)


def prepare_fiko(env: dict, workdir: Path, conversations: int, telegram_customers: int) -> Path:
    ensure_database()
    run_checked([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env)
    plan = workdir / "plan.json"
    out = run_checked([PYTHON, str(BENCH / "prepare.py"), "--conversations", str(conversations),
                       "--agents", str(AGENTS), "--telegram-customers", str(telegram_customers),
                       "--out", str(plan)], cwd=ROOT, env=env)
    print(out.stdout.strip(), flush=True)
    return plan


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def server_command(target: str, port: int, secret_key: str) -> tuple[list, Path, dict]:
    uvicorn = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    if target == "fiko":
        if FIKO_SERVER == "daphne":
            return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "fiko.asgi:application"], ROOT, fiko_env(secret_key)
        return uvicorn + [os.environ.get("BENCH_FIKO_APP") or "fiko.asgi:application"], ROOT, fiko_env(secret_key)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "DATABASE_URL"}
    env.update({"REDIS_URL": REDIS_URL, "SECRET_KEY": secret_key, "LOG_LEVEL": "WARNING"})
    if target == "tutorial":
        return uvicorn + ["mysite.asgi:application"], BENCH / "peers" / "tutorial_chat", env
    return [PYTHON, str(BENCH / "peers" / "raw_broadcast.py"), "--port", str(port)], ROOT, env


def run_load(target: str, ports: list[int], pids: list[int], spec: dict, plan: Path | None, out: Path,
             **overrides) -> dict | None:
    spec = {**spec, **overrides}
    if spec.get("kind") == "webhook":
        return run_subprocess(target, [
            PYTHON, str(BENCH / "webhook_load.py"), "--port", str(ports[0]), "--server-pid", str(pids[0]),
            "--plan", str(plan), "--rate", str(spec["rate"]), "--duration", str(SECONDS), "--drain", str(DRAIN),
            "--watchers", str(spec["watchers"]), "--out", str(out)], out, SECONDS + DRAIN + 300)
    cmd = [PYTHON, str(BENCH / "load.py"), "--target", target, "--port", ",".join(map(str, ports)),
           "--server-pid", ",".join(map(str, pids)),
           "--rooms", str(spec["rooms"]), "--sockets", str(spec["sockets"]),
           "--connect-concurrency", str(CONNECT_CONCURRENCY), "--out", str(out)]
    if spec.get("idle"):
        cmd += ["--idle", "--hold", str(spec.get("hold", 5))]
    else:
        cmd += ["--senders", str(spec["senders"]), "--rate", str(spec["rate"]),
                "--duration", str(spec.get("duration", SECONDS)), "--drain", str(spec.get("drain", DRAIN))]
    if spec.get("slow"):
        cmd += ["--slow", str(spec["slow"])]
    if spec.get("message_bytes"):
        cmd += ["--message-bytes", str(spec["message_bytes"])]
    if plan is not None:
        cmd += ["--plan", str(plan)]
    return run_subprocess(target, cmd, out, spec.get("duration", SECONDS) + DRAIN + 300
                          + spec["rooms"] * spec["sockets"] / 5)


def run_subprocess(target: str, cmd: list, out: Path, timeout: float) -> dict | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"bench: {target} load timed out after {timeout:.0f} s", flush=True)
        return None
    if proc.returncode != 0 or not out.exists():
        print(f"bench: {target} load failed ({proc.returncode}):\n{proc.stderr[-2000:]}", flush=True)
        return None
    return json.loads(out.read_text())


def brief(r: dict | None) -> str:
    if not r:
        return "failed"
    s = r["server"] or {}
    if r.get("slow"):
        sl = r["slow"]
        return (f"readers {r['delivered_per_s']}/s, loss {r['loss']}, p99 {r['latency_ms']['p99']} ms; RSS "
                f"{s.get('rss_connected_kb', 0) / 1024:.0f} -> {s.get('rss_end_kb', 0) / 1024:.0f} MB "
                f"(peak {s.get('rss_peak_kb', 0) / 1024:.0f}); slow sockets closed by server "
                f"{sl['closed_by_server']}/{sl['connected']} {sl['close_codes']}, slow_consumer frames "
                f"{sl['slow_consumer_error_frames']}")
    if "ack_ms" in r:
        return (f"{r['acked_per_s']} acked/s, ack p50 {r['ack_ms']['p50']} ms p99 {r['ack_ms']['p99']} ms, "
                f"to sockets p99 {r['to_sockets_ms']['p99']} ms, loss {r['loss']}, CPU {s.get('cpu_percent')}%, "
                f"errors {sum(r['errors'].values())}")
    c = r["connect"]
    if r["idle"]:
        return (f"{c['ready']}/{c['attempted']} ready, {c['rate_per_s']}/s, p99 {c['p99_ms']} ms, "
                f"{s.get('rss_per_socket_kb')} KB/socket, errors {sum(r['errors'].values())}")
    return (f"{r['delivered_per_s']}/s, loss {r['loss']}, p50 {r['latency_ms']['p50']} ms, "
            f"p99 {r['latency_ms']['p99']} ms, CPU {s.get('cpu_percent')}%, errors {sum(r['errors'].values())}")


# --- the table --------------------------------------------------------------------------------
def _ms(v):
    if v is None:
        return "—"
    return f"{v / 1000:,.2f} s" if v >= 1000 else f"{v:,.1f} ms"


def _pct(v):
    return "—" if v is None else f"{100 * v:.1f}%"


def _num(fmt):
    return lambda v: "—" if v is None else fmt.format(v)


def _get(path):
    def read(r):
        for key in path:
            if r is None:
                return None
            r = r.get(key)
        return r
    return read


MESSAGE_METRICS = [
    ("delivered/s", _get(["delivered_per_s"]), _num("{:,.0f}")),
    ("loss", _get(["loss"]), _pct),
    ("latency p50", _get(["latency_ms", "p50"]), _ms),
    ("latency p99", _get(["latency_ms", "p99"]), _ms),
    ("connect rate", _get(["connect", "rate_per_s"]), _num("{:,.0f}/s")),
    ("connect p99", _get(["connect", "p99_ms"]), _ms),
    ("server CPU", _get(["server", "cpu_percent"]), _num("{:.0f}%")),
    ("RSS/socket", _get(["server", "rss_per_socket_kb"]), _num("{:,.0f} KB")),
    ("RSS growth", _get(["server", "rss_growth_during_run_kb"]), lambda v: "—" if v is None else f"{v / 1024:+,.1f} MB"),
    ("errors", lambda r: None if r is None else sum(r["errors"].values()), _num("{:,}")),
    ("server exceptions", _get(["server_log_exceptions"]), _num("{:,}")),
    ("client CPU", _get(["client", "cpu_percent"]), _num("{:.0f}%")),
]
IDLE_METRICS = [
    ("sockets ready", _get(["connect", "ready"]), _num("{:,}")),
    ("connect rate", _get(["connect", "rate_per_s"]), _num("{:,.0f}/s")),
    ("connect p99", _get(["connect", "p99_ms"]), _ms),
    ("server CPU", _get(["server", "cpu_percent"]), _num("{:.0f}%")),
    ("RSS/socket", _get(["server", "rss_per_socket_kb"]), _num("{:,.0f} KB")),
    ("errors", lambda r: None if r is None else sum(r["errors"].values()), _num("{:,}")),
    ("server exceptions", _get(["server_log_exceptions"]), _num("{:,}")),
]


WEBHOOK_METRICS = [
    ("acked/s", _get(["acked_per_s"]), _num("{:,.0f}")),
    ("ack p50", _get(["ack_ms", "p50"]), _ms),
    ("ack p99", _get(["ack_ms", "p99"]), _ms),
    ("to sockets p50", _get(["to_sockets_ms", "p50"]), _ms),
    ("to sockets p99", _get(["to_sockets_ms", "p99"]), _ms),
    ("loss on sockets", _get(["loss"]), _pct),
    ("non-200 answers", lambda r: None if r is None else sum(v for k, v in r["statuses"].items() if k != "200"),
     _num("{:,}")),
    ("server CPU", _get(["server", "cpu_percent"]), _num("{:.0f}%")),
    ("errors", lambda r: None if r is None else sum(r["errors"].values()), _num("{:,}")),
    ("server exceptions", _get(["server_log_exceptions"]), _num("{:,}")),
]
def _mb(v):
    return "—" if v is None else f"{v / 1024:,.1f} MB"


def _slow(key):
    return lambda r: None if r is None or not r.get("slow") else r["slow"].get(key)


def _codes(v):
    if v is None:
        return "—"
    return ", ".join(f"{code}×{n}" for code, n in sorted(v.items())) or "none"


SLOW_METRICS = [
    ("readers delivered/s", _get(["delivered_per_s"]), _num("{:,.0f}")),
    ("readers loss", _get(["loss"]), _pct),
    ("readers latency p99", _get(["latency_ms", "p99"]), _ms),
    ("frame size", _get(["message_frame_bytes"]), _num("{:,} B")),
    ("RSS once connected", _get(["server", "rss_connected_kb"]), _mb),
    ("RSS at end (slow still unread)", _get(["server", "rss_end_kb"]), _mb),
    ("RSS peak", _get(["server", "rss_peak_kb"]), _mb),
    ("RSS growth", _get(["server", "rss_growth_during_run_kb"]), lambda v: "—" if v is None else f"{v / 1024:+,.1f} MB"),
    ("RSS growth rate", _get(["server", "rss_growth_per_s_kb"]), lambda v: "—" if v is None else f"{v / 1024:+,.2f} MB/s"),
    ("RSS after slow sockets read", _get(["server", "rss_after_slow_read_kb"]), _mb),
    ("server kernel send queues (max)", _slow("max_server_kernel_send_queue_bytes"),
     lambda v: "—" if v is None else f"{v / 2**20:,.1f} MB"),
    ("slow sockets closed by server", lambda r: None if r is None or not r.get("slow") else
     f"{r['slow']['closed_by_server']}/{r['slow']['connected']}", lambda v: "—" if v is None else v),
    ("close codes", _slow("close_codes"), _codes),
    ("slow_consumer error frames", _slow("slow_consumer_error_frames"), _num("{:,}")),
    ("slow sockets: messages got/sent", lambda r: None if r is None or not r.get("slow") else
     f"{r['slow']['messages_received']:,}/{r['slow']['messages_expected']:,}", lambda v: "—" if v is None else v),
    ("server CPU", _get(["server", "cpu_percent"]), _num("{:.0f}%")),
    ("errors", lambda r: None if r is None else sum(r["errors"].values()), _num("{:,}")),
    ("server exceptions", _get(["server_log_exceptions"]), _num("{:,}")),
]
NO_RATIO = {"RSS growth", "errors", "server exceptions", "client CPU", "RSS growth rate", "frame size",
            "slow sockets closed by server", "close codes", "slow_consumer error frames",
            "slow sockets: messages got/sent", "readers loss"}  # counts, signed deltas, text


def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "—"
    q = a / b
    return f"{q:,.0f}×" if q >= 100 else f"{q:,.1f}×" if q >= 10 else f"{q:.2f}×"


def table(results: dict, specs: dict) -> str:
    lines = ["| workload | metric | peer | raw | fiko | fiko/peer | fiko/raw |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, spec in specs.items():
        per = results.get(name, {})
        metrics = (WEBHOOK_METRICS if spec.get("kind") == "webhook" else IDLE_METRICS if spec.get("idle")
                   else SLOW_METRICS if spec.get("kind") == "slow" else MESSAGE_METRICS)
        for label, get, fmt in metrics:
            fiko, peer, raw = (get(per.get(t)) for t in ("fiko", "tutorial", "raw"))
            no_ratio = label in NO_RATIO
            lines.append(f"| {spec['title']} | {label} | {fmt(peer)} | {fmt(raw)} | {fmt(fiko)} | "
                         f"{'—' if no_ratio else ratio(fiko, peer)} | {'—' if no_ratio else ratio(fiko, raw)} |")
    return "\n".join(lines)


def scaling_table(results: dict, specs: dict) -> str | None:
    """W1 at 1, 2, 4, … server processes: delivered/s and p99, and their ratio to 1 process."""
    names = (["W1"] if "W1" in specs else []) + [n for n, sp in specs.items() if sp.get("scaling_of") == "W1"]
    if len(names) < 2:
        return None
    lines = ["| server processes | target | delivered/s | ÷ 1 process | latency p99 | ÷ 1 process | loss | "
             "server CPU (all processes) | RSS once connected (all) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for target in ("fiko", "tutorial"):
        base = results.get("W1", {}).get(target)
        for name in names:
            r = results.get(name, {}).get(target)
            if name != "W1" and target not in specs[name].get("targets", (target,)):
                continue
            rate, p99 = _get(["delivered_per_s"])(r), _get(["latency_ms", "p99"])(r)
            lines.append(
                f"| {specs[name].get('processes', 1)} | {'peer' if target == 'tutorial' else target} | "
                f"{_num('{:,.0f}')(rate)} | {ratio(rate, _get(['delivered_per_s'])(base))} | {_ms(p99)} | "
                f"{ratio(p99, _get(['latency_ms', 'p99'])(base))} | {_pct(_get(['loss'])(r))} | "
                f"{_num('{:.0f}%')(_get(['server', 'cpu_percent'])(r))} | "
                f"{_mb(_get(['server', 'rss_connected_kb'])(r))} |")
    return "\n".join(lines)


def _slow_all_closed_1013(r):
    sl = (r or {}).get("slow")
    if not sl:
        return None
    return f"{sl['close_codes'].get('1013', 0)}/{sl['connected']}"


# Issue 9's targets: (workload, what, read a result, format, is it a ratio metric, check(fiko, peer)).
TARGETS_CHECKS = [
    ("W1L", "latency p99 ≤ peer's", _get(["latency_ms", "p99"]), _ms, True,
     lambda f, p: f <= p),
    ("W1", "0 lost after catch-up", _get(["loss"]), _pct, False, lambda f, p: f == 0),
    ("W1", "delivered/s ≥ 2× peer's", _get(["delivered_per_s"]), _num("{:,.0f}"), True,
     lambda f, p: f >= 2 * p),
    ("W2", "delivered/s ≥ 2× peer's", _get(["delivered_per_s"]), _num("{:,.0f}"), True,
     lambda f, p: f >= 2 * p),
    ("W2", "memory flat: RSS growth ≤ BENCH_FLAT_MB", _get(["server", "rss_growth_during_run_kb"]),
     lambda v: "—" if v is None else f"{v / 1024:+,.1f} MB", False, lambda f, p: f <= FLAT_KB),
    ("W3", "connect rate ≥ peer's", _get(["connect", "rate_per_s"]), _num("{:,.0f}/s"), True,
     lambda f, p: f >= p),
    ("W3", "connect p99 ≤ 200 ms", _get(["connect", "p99_ms"]), _ms, True, lambda f, p: f <= 200),
    ("W3", "≤ 30 KB per socket", _get(["server", "rss_per_socket_kb"]), _num("{:,.0f} KB"), True,
     lambda f, p: f <= 30),
    ("W4@200", "ack p99 ≤ 50 ms (1 process)", _get(["ack_ms", "p99"]), _ms, False, lambda f, p: f <= 50),
    ("W4@200", "to sockets p99 ≤ 100 ms", _get(["to_sockets_ms", "p99"]), _ms, False, lambda f, p: f <= 100),
    ("W4@200", "every update on the sockets (0 lost)", _get(["loss"]), _pct, False, lambda f, p: f == 0),
    ("WS", "memory flat with slow sockets: RSS growth ≤ BENCH_FLAT_MB", _get(["server", "rss_growth_during_run_kb"]),
     lambda v: "—" if v is None else f"{v / 1024:+,.1f} MB", False, lambda f, p: f <= FLAT_KB),
    ("WS", "every slow socket closed with 1013", _slow_all_closed_1013, lambda v: "—" if v is None else v, False,
     lambda f, p: f.split("/")[0] == f.split("/")[1] != "0"),
]


def targets_table(results: dict, specs: dict) -> str | None:
    lines = ["| workload | target | peer | raw | fiko | fiko/peer | fiko/raw | met |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for name, what, get, fmt, is_ratio, check in TARGETS_CHECKS:
        if name not in specs:
            continue
        per = results.get(name, {})
        fiko, peer, raw = (get(per.get(t)) for t in ("fiko", "tutorial", "raw"))
        needs_peer = "peer" in what
        if fiko is None or (needs_peer and peer is None):
            met = "not measured"
        else:
            try:
                met = "yes" if check(fiko, peer) else "**no**"
            except (TypeError, ValueError, IndexError):
                met = "not measured"
        lines.append(f"| {name} | {what} | {fmt(peer)} | {fmt(raw)} | {fmt(fiko)} | "
                     f"{ratio(fiko, peer) if is_ratio else '—'} | {ratio(fiko, raw) if is_ratio else '—'} | {met} |")
    return "\n".join(lines) if len(lines) > 2 else None


def rss_over_time(results: dict, specs: dict) -> str | None:
    """Server RSS every 5 s from the send start, for the slow-reader workload."""
    out = []
    for name, spec in specs.items():
        if spec.get("kind") != "slow":
            continue
        for target in ("fiko", "tutorial", "raw"):
            series = _get(["server", "rss_series_kb"])(results.get(name, {}).get(target))
            if not series:
                continue
            points, next_t = [], 0.0
            for t, rss in series:
                if t >= next_t:
                    points.append(f"{t:.0f}s {rss / 1024:.0f}")
                    next_t = t + 5
            out.append(f"- {name} {'peer' if target == 'tutorial' else target}: RSS MB at seconds from the "
                       f"send start: " + ", ".join(points))
    return "\n".join(out) or None


def warmup_rooms(processes: int) -> int:
    """Conversations the warm-up uses: at least two per process."""
    return max(5, 2 * processes)


def run_workload(target: str, name: str, spec: dict, plan: Path | None, secret_key: str, workdir: Path):
    """A fresh server for one workload: no backlog or freed memory carried over from another.
    ``processes`` > 1: that many server processes, each on its own port (the load client spreads
    its sockets over the ports round-robin, so deliveries cross processes through Redis); CPU and
    RSS are summed over all of them."""
    flush_redis()
    n = spec.get("processes", 1)
    procs, ports, logs = [], [], []
    info: dict = {"processes": n}
    result = None
    try:
        for i in range(n):
            port = free_port()
            cmd, cwd, env = server_command(target, port, secret_key)
            log = workdir / (f"{target}-{name}.log" if n == 1 else f"{target}-{name}-p{i}.log")
            with open(log, "w") as log_file:
                procs.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT))
            ports.append(port)
            logs.append(log)
        for port, proc, log in zip(ports, procs, logs):
            wait_port(port, proc, log)
        pids = [proc.pid for proc in procs]
        target_plan = plan if target == "fiko" else None
        # Warm-up (not reported): imports, pools and first connections are paid here, on every process.
        run_load(target, ports, pids, {"rooms": warmup_rooms(n), "sockets": 4, "senders": 1, "rate": 2},
                 target_plan, workdir / f"{target}-{name}-warmup.json", duration=2, drain=3)
        info["settle_after_warmup_s"] = settle(pids)
        result = run_load(target, ports, pids, spec, target_plan, workdir / f"{target}-{name}.json")
        for proc, log in zip(procs, logs):
            if proc.poll() is not None:
                print(f"bench: {target} server exited ({proc.returncode}):\n{tail(log)}", flush=True)
    except RuntimeError as exc:
        print(f"bench: {target} {name}: {exc}", flush=True)
    finally:
        for proc in procs:
            stop(proc)
    errors = [line for log in logs for line in log_exceptions(log)]
    info["server_log_exceptions"] = len(errors)
    if result is not None:
        result["server_log_exceptions"] = len(errors)
    print(f"bench: {target:8} {name:5} {brief(result)}", flush=True)
    if errors:
        kinds = Counter(errors).most_common(3)
        print(f"bench: {target} {name} server log: {len(errors)} exceptions: "
              + "; ".join(f"{n}× {text[:150]}" for text, n in kinds), flush=True)
    return result, info


# --- main -------------------------------------------------------------------------------------
def main() -> None:
    raise_open_files_limit()  # the servers inherit it
    specs = workloads()
    secret_key = secrets.token_urlsafe(50)
    workdir = Path(tempfile.mkdtemp(prefix="fiko-bench-"))
    started = datetime.now(timezone.utc)
    print(f"bench: scale {SCALE}, {SECONDS:g} s per workload, drain {DRAIN:g} s, "
          f"targets {', '.join(TARGETS)}, workloads {', '.join(specs)}, Fiko under {FIKO_SERVER}", flush=True)

    plan = None
    if "fiko" in TARGETS:
        rooms = max([spec["rooms"] for spec in specs.values() if "rooms" in spec]
                    + [warmup_rooms(spec.get("processes", 1)) for spec in specs.values()])
        customers = max([spec["customers"] for spec in specs.values() if spec.get("kind") == "webhook"] or [0])
        plan = prepare_fiko(fiko_env(secret_key), workdir, rooms, customers)

    results: dict[str, dict] = {name: {} for name in specs}
    meta: dict[str, dict] = {}
    for target in TARGETS:
        meta[target] = {}
        for name, spec in specs.items():
            if spec.get("fiko_only") and target != "fiko" or target not in spec.get("targets", (target,)):
                continue
            results[name][target], meta[target][name] = run_workload(target, name, spec, plan, secret_key, workdir)

    text = table(results, specs)
    extra = [("W1 scaling over server processes", scaling_table(results, specs)),
             (f"Issue 9's targets (ratios from this run; memory flat = RSS growth during the run, all "
              f"processes, at most {FLAT_KB / 1024:g} MB)", targets_table(results, specs)),
             ("Slow readers: server RSS over time", rss_over_time(results, specs))]
    for title, body in extra:
        if body:
            text += f"\n\n{title}:\n\n{body}"
    header = (f"Fiko vs the Channels tutorial peer (uvicorn) and raw websockets, {started:%Y-%m-%d %H:%M} UTC, "
              f"{os.cpu_count()} cores, scale {SCALE:g}, {SECONDS:g} s per workload, drain {DRAIN:g} s, "
              f"Fiko under {FIKO_SERVER}")
    print()
    print(header)
    print()
    print(text)

    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stem = out_dir / started.strftime("%Y%m%dT%H%M%SZ")
    stem.with_suffix(".json").write_text(json.dumps(
        {"started": started.isoformat(), "scale": SCALE, "seconds": SECONDS, "drain": DRAIN,
         "fiko_server": FIKO_SERVER, "cores": os.cpu_count(), "workloads": specs, "results": results,
         "meta": meta}, indent=1))
    stem.with_suffix(".md").write_text(f"{header}\n\n{text}\n")
    print(f"\nbench: full figures in bench/results/{stem.name}.json")
    if os.environ.get("BENCH_KEEP"):
        print(f"bench: server logs and load output kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
