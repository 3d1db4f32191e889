"""Let Daphne send close code 1008 (and 1009/1011) the way uvicorn does.

Daphne closes a socket through autobahn's public ``sendClose``, which accepts only 1000 and
3000-4999 and raises for anything else; Daphne then drops the connection and the browser
sees 1006/1011 instead of the 1008 our clients check (``event.code === 1008`` in seeds 003
and 004). RFC 6455 §7.4.1 lets an endpoint send 1008 "policy violation", so we bypass the
check: for such codes ``serverClose`` calls autobahn's ``sendCloseFrame``, the internal
method ``sendClose`` itself ends in, with the same state handling. Everything else is
unchanged. Applied once from ``fiko/asgi.py``; covered by tests/fiko/test_close_codes.py
against a real Daphne server.
"""

_APPLIED = False


def install() -> None:
    global _APPLIED
    if _APPLIED:
        return
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # running under another server
        return

    original = WebSocketProtocol.serverClose

    def serverClose(self, code=None):
        code = 1000 if code is None else int(code)
        if code == 1000 or 3000 <= code <= 4999:
            return original(self, code=code)
        self.sendCloseFrame(code=code, isReply=False)

    WebSocketProtocol.serverClose = serverClose
    _APPLIED = True
