"""Instagram on the platform simulator (integrations/platform_sim): the Graph / Send API routes
(the adapter's ``simulator``: profiles and ``/<id>/messages``, Meta's own error answers, and the
``POST /_sim/profiles`` control route), the simulator's Instagram state (``InstagramState``: the
profiles it answers) and the notifications ``manage.py platform_sim --say`` posts."""
import base64
import time
import uuid

from integrations.platform_sim.images import tiny_png
from integrations.platform_sim.say import stable_number

GRAPH_VERSION = "v21.0"

INSTAGRAM_TEXT_LIMIT = 1000


def instagram_failure(failure: dict) -> tuple[int, dict, dict]:
    kind = failure["kind"]

    def error(message, code, subcode=None, **extra):
        body = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "SimTrace", **extra}
        if subcode is not None:
            body["error_subcode"] = subcode
        return {"error": body}

    if kind == "outside_window":
        return 400, error("(#10) This message is sent outside of allowed window.", 10, 2018278), {}
    if kind == "rate_limit":
        headers = {"Retry-After": str(int(failure["retry_after"]))} if failure.get("retry_after") else {}
        return 400, error("(#613) Calls to this api have exceeded the rate limit.", 613), headers
    if kind == "server_error":
        status = int(failure.get("status") or 500)
        return status, error("An unexpected error has occurred. Please retry your request later.", 2,
                             is_transient=True), {}
    return 400, error("(#551) This person isn't available right now.", 551, 1545041), {}


def instagram_notification(*, text: str, sender: str, account_id: str) -> dict:
    now_ms = int(time.time() * 1000)
    return {
        "object": "instagram",
        "entry": [{
            "time": now_ms,
            "id": account_id,
            "messaging": [{
                "sender": {"id": str(stable_number(sender, 16))},
                "recipient": {"id": account_id},
                "timestamp": now_ms,
                "message": {"mid": f"aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE{uuid.uuid4().hex}", "text": text},
            }],
        }],
    }


def profile_of(sender: str) -> dict:
    """What ``--say`` tells a running simulator about this customer (``POST /_sim/profiles``)."""
    return {"igsid": str(stable_number(sender, 16)), "name": sender.title(),
            "username": sender.lower().replace(" ", "_")}


class InstagramState:
    """The simulator's Instagram state, made fresh on every reset (the PlatformSim answers its
    attributes: ``sim.profiles``, ``sim.set_profile(...)``, ``sim.graph_api_base``)."""

    graph_version = GRAPH_VERSION

    def __init__(self, sim):
        self.sim = sim
        self.profiles: dict[str, dict] = {}

    @property
    def graph_api_base(self) -> str:
        return f"{self.sim.base_url}/{self.graph_version}"

    def set_profile(self, igsid: str, *, name: str = "", username: str = "", picture: bytes | None = None) -> None:
        with self.sim._lock:
            self.profiles[str(igsid)] = {"name": name, "username": username}
            self.sim.media[f"profile-{igsid}.png"] = ("image/png", picture or tiny_png((219, 39, 119)))


class GraphRoutes:
    def simulate(self, path: str) -> bool:
        if path == "/_sim/profiles" and self.command == "POST":
            params, _ = self._params()
            self.sim.set_profile(str(params.get("igsid")), name=str(params.get("name", "")),
                                 username=str(params.get("username", "")))
            self._json(200, {"ok": True})
            return True
        if path.startswith(f"/{self.sim.graph_version}/"):
            self._graph(path[len(self.sim.graph_version) + 2:])
            return True
        return False

    def _graph_token(self) -> str:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith(("bearer ", "oauth ")):
            return auth.split(" ", 1)[1].strip()
        return self.query.get("access_token", "")

    def _graph_error(self, status: int, message: str, code: int, subcode: int | None = None, headers=None):
        error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "SimTrace"}
        if subcode is not None:
            error["error_subcode"] = subcode
        return self._json(status, {"error": error}, headers)

    def _graph(self, rest: str):
        sim = self.sim
        if not self._graph_token():
            return self._graph_error(400, "An active access token must be used to query information about the "
                                          "current user.", 2500)
        parts = [p for p in rest.split("/") if p]
        with sim._lock:
            sim.calls.append(("instagram", "/".join(["<id>"] + parts[1:])))
        if len(parts) == 1 and self.command == "GET":
            igsid = parts[0]
            with sim._lock:
                profile = dict(sim.profiles.get(igsid) or {})
            suffix = igsid[-4:]
            body = {"name": profile.get("name") or f"Instagram User {suffix}",
                    "username": profile.get("username") or f"ig_user_{suffix}",
                    "profile_pic": f"{sim.base_url}/_sim/media/profile-{igsid}.png", "id": igsid}
            fields = self.query.get("fields")
            if fields:
                body = {k: v for k, v in body.items() if k in fields.split(",") or k == "id"}
            return self._json(200, body)
        if len(parts) == 2 and parts[1] == "messages" and self.command == "POST":
            return self._instagram_send(parts[0])
        return self._graph_error(400, "Unsupported request - method type: " + self.command.lower(), 100, 33)

    def _instagram_send(self, account_id: str):
        sim = self.sim
        try:
            params, _ = self._params()
        except ValueError:
            return self._graph_error(400, "(#100) Invalid JSON for postbody", 100)
        recipient = params.get("recipient") if isinstance(params.get("recipient"), dict) else {}
        message = params.get("message") if isinstance(params.get("message"), dict) else {}
        if not recipient.get("id"):
            return self._graph_error(400, "(#100) The parameter recipient is required", 100)
        entry = {"platform": "instagram", "method": "messages", "account_id": account_id,
                 "recipient_id": str(recipient["id"])}
        if "text" in message:
            text = str(message["text"])
            if len(text) > INSTAGRAM_TEXT_LIMIT:
                return self._graph_error(400, "(#100) Length of param message[text] must be less than or equal "
                                              f"to {INSTAGRAM_TEXT_LIMIT}", 100)
            entry["text"] = text
        elif isinstance(message.get("attachment"), dict):
            attachment = message["attachment"]
            payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
            if attachment.get("type") not in ("image", "audio", "video", "file") or not payload.get("url"):
                return self._graph_error(400, "(#100) Invalid attachment", 100)
            entry["media"] = {"type": attachment["type"], "url": payload["url"]}
        else:
            return self._graph_error(400, "(#100) The parameter message is required", 100)
        failure = sim._take_failure("instagram")
        sim._attempt("instagram", failure)
        failure = None if failure is not None and failure["kind"] == "accept" else failure
        if failure is not None and failure["kind"] == "hang":
            sim._hold(failure["hold_seconds"])
            return self._graph_error(504, "Gateway timeout", 2)
        if failure is not None and failure["kind"] != "accept_then_hang":
            status, body, headers = instagram_failure(failure)
            return self._json(status, body, headers)
        mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE" + base64.urlsafe_b64encode(
            f"sim:{sim.next_id()}".encode()).decode().rstrip("=")
        entry["message_id"] = mid
        sim._record(entry)
        if failure is not None:
            sim._hold(failure["hold_seconds"])
        return self._json(200, {"recipient_id": entry["recipient_id"], "message_id": mid})
