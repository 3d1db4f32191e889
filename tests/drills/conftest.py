"""Fixtures of the drills: a private PostgreSQL cluster for the session (a migrated template
database holding the drills' users and channel, copied for each drill), and per drill a
``Cluster``: its own database, its own ``redis-server`` and real server processes on them.

The drills need ``redis-server``, ``initdb`` and ``pg_ctl`` (Debian's postgresql and
redis-server packages, which .ci/run installs). Without them a drill is skipped, and under
REQUIRE_SERVICES=1 it fails, like every test that needs a service (tests/conftest.py).
"""
import json
import logging
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

from tests.conftest import REQUIRE_SERVICES
from tests.drills.services import PrivatePostgres, PrivateRedis, missing_binaries
from tests.live_servers import APPLICATION, Server, server_env

TEMPLATE = "drill_template"
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per webhook post otherwise
AGENTS = 4


def manage_env(database_url: str, **extra) -> dict:
    env = server_env(**extra)
    env["DATABASE_URL"] = database_url
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def run_python(args: list[str], env: dict, timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, *args], cwd=settings.BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


@pytest.fixture(scope="session")
def drill_postgres():
    missing = missing_binaries()
    if missing:
        (pytest.fail if REQUIRE_SERVICES else pytest.skip)(f"the drills need {', '.join(missing)}")
    pg = PrivatePostgres()
    try:
        with pg.connect() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        env = manage_env(pg.url(TEMPLATE))
        run_python(["manage.py", "migrate", "--noinput", "-v", "0"], env)
        world = json.loads(run_python(["-m", "tests.drills.make_world", str(AGENTS)], env).strip().splitlines()[-1])
        yield pg, world
    finally:
        pg.destroy()


class Cluster:
    """One drill's database (a copy of the template), Redis and server processes."""

    def __init__(self, pg: PrivatePostgres, world: dict, log_dir, *, servers: int = 2, env: dict | None = None):
        self.pg, self.world, self.log_dir = pg, world, log_dir
        if not pg.running():
            pg.start()
        self.database = f"drill_{uuid.uuid4().hex[:12]}"
        with pg.connect() as conn:
            conn.execute(f"CREATE DATABASE {self.database} TEMPLATE {TEMPLATE}")
        self.redis = PrivateRedis(log_dir)
        self.env = {"DATABASE_URL": pg.url(self.database), "REDIS_URL": self.redis.url,
                    "FIKO_DELIVERY_IN_PROCESS": "false", **(env or {})}
        self.servers: list[Server] = []
        for _ in range(servers):
            self.add_server()

    def add_server(self) -> Server:
        server = Server("uvicorn", APPLICATION, self.log_dir, env=self.env, name=f"drill-{len(self.servers)}")
        self.servers.append(server)
        return server

    def python(self, args: list[str]) -> str:
        env = manage_env(self.env["DATABASE_URL"], **self.env)
        return run_python(args, env, timeout=120)

    def query(self, sql: str, params=()) -> list[tuple]:
        with self.pg.connect(self.database) as conn:
            return conn.execute(sql, params).fetchall()

    def conversation_ids(self, customers: list[int]) -> dict[int, int]:
        rows = self.query(
            "SELECT cu.external_id, co.id FROM conversations_conversation co "
            "JOIN customers_customer cu ON cu.id = co.customer_id WHERE cu.external_id = ANY(%s)",
            ([str(c) for c in customers],))
        return {int(external): conversation for external, conversation in rows}

    def messages(self, conversation_ids) -> list[tuple]:
        """(id, conversation_id, seq, content) of every stored message in these conversations."""
        return self.query("SELECT id, conversation_id, seq, content FROM conversations_message "
                          "WHERE conversation_id = ANY(%s) ORDER BY conversation_id, seq", (list(conversation_ids),))

    def logs(self, chars: int = 2500) -> str:
        return "\n".join(f"--- {server.name} (pid {server.proc.pid}) log tail ---\n{server.log()[-chars:]}"
                         for server in self.servers)

    def close(self):
        for server in self.servers:
            if server.proc.poll() is None:
                server.stop()
            else:
                server._log.close()
        self.redis.stop()
        if self.pg.running():
            with self.pg.connect() as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")


@pytest.fixture
def cluster_factory(drill_postgres, tmp_path):
    pg, world = drill_postgres
    made = []

    def make(**options) -> Cluster:
        made.append(Cluster(pg, world, tmp_path, **options))
        return made[-1]

    yield make
    for cluster in made:
        cluster.close()
