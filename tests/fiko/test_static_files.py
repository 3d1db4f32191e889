"""Static files are served by the app itself (WhiteNoise), under Daphne and uvicorn: the admin a
browser loads is styled. Under DEBUG (``make run``) straight from the apps' folders; in
production from ``collectstatic``'s output, compressed and with content-hashed names."""
import gzip
import re
import subprocess
import sys
import urllib.request

import pytest
from django.conf import settings

from tests.live_servers import APPLICATION, SERVER_COMMANDS, Server, server_env

STYLESHEET = re.compile(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"')


def get(url: str, **headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, response.headers, response.read()


def admin_stylesheets(server: Server) -> list[str]:
    status, headers, body = get(server.http_url("/admin/login/"))
    assert status == 200 and headers.get_content_type() == "text/html"
    hrefs = STYLESHEET.findall(body.decode())
    assert any("admin/css/base" in href for href in hrefs), hrefs
    return hrefs


@pytest.mark.parametrize("kind", sorted(SERVER_COMMANDS))
def test_admin_is_styled_under_debug_without_collectstatic(kind, tmp_path):
    # As under `make run`: DEBUG on, an empty STATIC_ROOT (nothing collected).
    server = Server(kind, APPLICATION, tmp_path, env={"DEBUG": "true", "STATIC_ROOT": str(tmp_path / "none")})
    try:
        for href in admin_stylesheets(server):
            assert href.startswith("/static/")
            status, headers, body = get(server.http_url(href))
            assert status == 200, href
            assert headers.get_content_type() == "text/css", (href, headers)
            assert b"{" in body  # a stylesheet, not an error page
    finally:
        server.stop()


def test_production_serves_collected_compressed_hashed_files(tmp_path):
    static_root = tmp_path / "static"
    production = {
        "DJANGO_SETTINGS_MODULE": "fiko.settings", "DEBUG": "false",
        "SECRET_KEY": "static-files-test-secret-key-0123456789-abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1", "STATIC_ROOT": str(static_root),
    }
    collected = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                               cwd=settings.BASE_DIR, env=server_env(**production),
                               capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stderr
    assert (static_root / "staticfiles.json").is_file()

    server = Server("uvicorn", APPLICATION, tmp_path, env=production)
    try:
        base_css = next(href for href in admin_stylesheets(server) if "admin/css/base" in href)
        # The page links the content-hashed name, which may be cached forever.
        assert re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", base_css), base_css
        status, headers, plain = get(server.http_url(base_css))
        assert status == 200 and headers.get_content_type() == "text/css"
        assert "immutable" in headers["Cache-Control"]
        status, headers, packed = get(server.http_url(base_css), **{"Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(packed) == plain
        # The unhashed name still answers (WhiteNoise serves both), but the page never uses it.
        assert get(server.http_url("/static/admin/css/base.css"))[0] == 200
        # The docs pages load their (hashed) Swagger UI / ReDoc files from here too.
        for page in ("/docs", "/docs/redoc/", "/docs/protocol/"):
            status, _, body = get(server.http_url(page))
            assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', body.decode())
            assert status == 200 and assets, page
            for asset in assets:
                assert re.search(r"\.[0-9a-f]{12}\.\w+$", asset), asset
                assert get(server.http_url(asset))[0] == 200, asset
    finally:
        server.stop()
