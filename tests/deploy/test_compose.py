"""docker-compose.prod.yml read as an operator would (no container daemon here: its shape is
checked; tests/deploy/test_nginx_live.py runs the nginx part for real).

Services and what they wait for, a one-shot ``migrate`` the others wait for, health checks,
``web`` without a fixed host port (``--scale web=N``), no secret written in the file, DEBUG
off, no demo data unless asked, the Dockerfile's non-root user."""
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEYS = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY)$|^DATABASE_URL$|^REDIS_URL$")
REFERENCE = re.compile(r"\$\{[A-Z_]+(:?[?-][^}]*)?\}")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.prod.yml").read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def long_running(services):
    return {name: s for name, s in services.items() if s.get("restart") != "no"}


def test_the_stack_has_its_services(services):
    assert {"postgres", "redis", "migrate", "web", "worker", "nginx"} <= set(services)


def test_every_running_service_has_a_health_check(services):
    for name, service in long_running(services).items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no health check"
    assert services["migrate"]["healthcheck"]["test"], "migrate reports whether the schema is current"


def test_migrate_runs_once_and_everything_that_uses_the_schema_waits_for_it(services):
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["command"][-2:] == ["migrate", "--noinput"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", name
        assert needs["redis"]["condition"] == "service_healthy", name
        assert "migrate" not in " ".join(services[name]["command"]), f"{name} must not migrate itself"
    assert services["nginx"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_web_scales_out_no_fixed_host_port_and_the_fast_server(services):
    web = services["web"]
    assert "ports" not in web, "a fixed host port makes --scale web=N fail"
    assert "container_name" not in web
    assert web["command"][0] == "uvicorn" and "uvloop" in web["command"] and "--no-proxy-headers" in web["command"]
    assert "frontend" in web["networks"] and "backend" in web["networks"]
    # Only nginx is published, and only nginx sits alone at the address web trusts.
    published = [name for name, s in services.items() if s.get("ports")]
    assert published == ["nginx"]
    nginx_address = services["nginx"]["networks"]["frontend"]["ipv4_address"]
    assert web["environment"]["TRUSTED_PROXIES"] == nginx_address


def test_production_settings_and_no_demo_data_unless_asked(services):
    for name in ("migrate", "web", "worker"):
        env = services[name]["environment"]
        assert str(env["DEBUG"]).lower() == "false", name
        assert env["LOG_FORMAT"] == "json", name
        assert services[name]["env_file"] == [".env"], name
    seeding = [name for name, s in services.items() if "seed_demo" in " ".join(map(str, s.get("command") or []))]
    assert seeding == ["seed"] and services["seed"]["profiles"] == ["demo"]


def test_no_secret_is_written_in_the_file(services):
    for name, service in services.items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if SECRET_KEYS.search(key):
                assert REFERENCE.search(str(value)), f"{name}: {key} is written inline: {value!r}"
                without_refs = REFERENCE.sub("", str(value))
                assert not re.search(r":[^@/:]+@", without_refs), f"{name}: {key} embeds a password"
    text = (ROOT / "docker-compose.prod.yml").read_text()
    assert "POSTGRES_PASSWORD: postgres" not in text
    example = (ROOT / ".env.example").read_text()
    for key in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert re.search(rf"^{key}=", example, re.M), f".env.example lacks {key}"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_nginx_mounts_the_repository_config_and_tls_is_an_overlay(services):
    mounts = services["nginx"]["volumes"]
    assert any(m.startswith("./deploy/nginx/fiko.conf:") for m in mounts)
    assert any(m.startswith("./deploy/nginx/fiko-locations.conf:/etc/nginx/fiko-locations.conf") for m in mounts)
    tls = yaml.safe_load((ROOT / "docker-compose.tls.yml").read_text())["services"]["nginx"]
    assert any("fiko-tls.conf" in m for m in tls["volumes"])
    assert any(m.startswith("${TLS_CERT_DIR") and m.endswith(":/etc/nginx/certs:ro") for m in tls["volumes"])


def test_the_image_runs_as_a_non_root_user():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, "the image must end with a non-root USER"
    assert lines.index(f"USER {users[-1]}") < next(i for i, line in enumerate(lines) if line.startswith("CMD"))
    assert any("useradd" in line and users[-1] in line for line in lines)


def test_production_servers_do_not_compress_every_frame_per_socket(services):
    """permessage-deflate, which every browser offers, gives each socket its own zlib state and
    compresses each event once per socket; the production commands turn it off."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    for command in (cmd, services["web"]["command"]):
        assert command[command.index("--ws-per-message-deflate") + 1] == "false"


def test_nginx_body_limit_matches_the_upload_limit(settings):
    from chat.uploads import MULTIPART_OVERHEAD

    text = (ROOT / "deploy/nginx/fiko-locations.conf").read_text()
    limit = re.search(r"client_max_body_size\s+(\d+)k;", text)
    assert limit, "client_max_body_size missing"
    assert int(limit.group(1)) * 1024 == settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD
