"""The live-server helper (tests/live_servers.py) starts its own server: a port that another
process took between choosing it and the server's bind (another server, a suite running beside
this one) is neither mistaken for the server nor a failure; the server moves to another port."""
import socket

import pytest

from tests import live_servers
from tests.live_servers import APPLICATION, Server, http_get

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_port_taken_by_another_process_is_not_taken_for_the_server(tmp_path, monkeypatch):
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    ports = iter([taken])
    real_free_port = live_servers.free_port
    monkeypatch.setattr(live_servers, "free_port", lambda: next(ports, None) or real_free_port())
    server = Server("uvicorn", APPLICATION, tmp_path)
    try:
        assert server.port != taken
        status, _, body = http_get(server.http_url("/healthz"))
        assert status == 200, body
        assert not live_servers._listens_on(server.proc.pid, taken)
        assert "address already in use" in (tmp_path / f"uvicorn-{taken}.log").read_text().lower()
    finally:
        server.stop()
        squatter.close()
