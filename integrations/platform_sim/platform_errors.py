"""The platforms' own error answers, as the simulator returns them for a queued failure."""


def telegram_failure(failure: dict) -> tuple[int, dict]:
    kind = failure["kind"]
    if kind == "rate_limit":
        seconds = int(failure.get("retry_after") or 3)
        return 429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {seconds}",
                     "parameters": {"retry_after": seconds}}
    if kind == "server_error":
        status = int(failure.get("status") or 500)
        return status, {"ok": False, "error_code": status, "description": "Internal Server Error"}
    # blocked (and outside_window, which Telegram does not have: the closest is a blocked bot)
    return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}


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
