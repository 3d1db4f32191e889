"""Two bare ASGI apps for tests/fiko/test_close_codes.py (no Django, no database): accept a
socket, then close it with 1008 -- once as Daphne ships, once with fiko.daphne_close installed,
so the test shows what the adapter changes for a real client."""


async def _accept_then_close_1008(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": 1008})
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def plain_application(scope, receive, send):
    await _accept_then_close_1008(scope, receive, send)


async def adapted_application(scope, receive, send):
    from fiko import daphne_close

    daphne_close.install()  # what fiko/asgi.py does at import
    await _accept_then_close_1008(scope, receive, send)
