"""The simulator's HTTP plumbing: request parsing (JSON, form, multipart, query), answers, and
the ``/_sim/`` control routes. Each platform's routes come from its adapter's ``simulator``
(integrations/platforms.py): a mixin class whose ``simulate(handler, path)`` answers a request
and returns True, or returns False when the path is not its API. The server mixes the
registered simulators into the handler class (``handler_class``)."""
import json
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from integrations import platforms

from .images import tiny_png


def handler_class(sim) -> type:
    """The request handler of ``sim``: the plumbing below plus every registered platform's routes."""
    return type("BoundSimHandler", (*platforms.simulators(), SimHandler), {"sim": sim})


class SimHandler(BaseHTTPRequestHandler):
    sim = None  # the PlatformSim (set on a subclass per server)
    protocol_version = "HTTP/1.1"
    server_version = "FikoPlatformSim/1.0"

    def log_message(self, format, *args):  # quiet: the paths carry bot tokens
        pass

    # --- plumbing -------------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        try:
            for simulator in platforms.simulators():  # a platform may add a /_sim/ control route
                if simulator.simulate(self, path):
                    return None
            if path.startswith("/_sim/"):
                return self._control(path[len("/_sim/"):])
            return self._json(404, {"detail": "not a simulated endpoint"})
        except (BrokenPipeError, ConnectionResetError):
            return None

    def _json(self, status: int, body, headers: dict | None = None):
        data = json.dumps(body).encode()
        self._send(status, data, "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _params(self) -> tuple[dict, dict]:
        """Form fields and uploaded files, whatever the encoding (JSON, form, multipart, query)."""
        params, files = dict(self.query), {}
        content_type = self.headers.get("Content-Type", "")
        if self.body and content_type.startswith("application/json"):
            loaded = json.loads(self.body)
            params.update(loaded if isinstance(loaded, dict) else {})
        elif self.body and content_type.startswith("application/x-www-form-urlencoded"):
            params.update({k: v[-1] for k, v in parse_qs(self.body.decode()).items()})
        elif self.body and content_type.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + self.body)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename() is not None:
                    files[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
                else:
                    params[name] = (part.get_payload(decode=True) or b"").decode()
        for key in ("reply_parameters", "allowed_updates", "recipient", "message"):
            if isinstance(params.get(key), str) and params[key][:1] in "{[":
                params[key] = json.loads(params[key])
        return params, files

    # --- control --------------------------------------------------------------------------------
    def _control(self, route: str):
        sim = self.sim
        if route == "sent" and self.command == "GET":
            with sim._lock:
                return self._json(200, {"sent": list(sim.sent)})
        if route == "webhooks" and self.command == "GET":
            with sim._lock:
                return self._json(200, {"webhooks": dict(sim.webhooks)})
        if route == "fail" and self.command == "POST":
            params, _ = self._params()
            try:
                sim.fail_next(str(params.get("kind")), count=int(params.get("count", 1)),
                              platform=params.get("platform"), retry_after=params.get("retry_after"),
                              hold_seconds=float(params.get("hold_seconds", 30)), status=params.get("status"))
            except (TypeError, ValueError) as exc:
                return self._json(400, {"detail": str(exc)})
            return self._json(200, {"queued": len(sim.failures)})
        if route == "reset" and self.command == "POST":
            sim.reset()
            return self._json(200, {"ok": True})
        if route.startswith("media/") and self.command == "GET":
            name = route[len("media/"):]
            with sim._lock:
                item = sim.media.get(name)
            if item is None and name.startswith("profile-"):
                item = ("image/png", tiny_png((219, 39, 119)))
            if item is None:
                return self._json(404, {"detail": "no such media"})
            return self._send(200, item[1], item[0])
        return self._json(404, {"detail": "unknown control route"})

