// One WebSocket that keeps itself open: reconnects with exponential backoff (0.5 s doubling to
// 30 s, with jitter), presents the token as the subprotocol pair ["bearer", token] (it stays out
// of URLs and logs), re-authenticates on the open socket when the token is refreshed, and
// reports its state ("connecting", "open", "reconnecting", "closed") for the UI.
// What to ask for after each (re)connect is the caller's onOpen: list sockets re-send their
// filters, the chat socket catches up from the last message it saw.

import { accessToken, logout, onToken, refresh } from "./api.js";

const PING_MS = 25000;

export class LiveSocket {
  constructor(path, { onFrame, onOpen = () => {}, onState = () => {}, onGone = () => {} }) {
    Object.assign(this, { path, onFrame, onOpen, onState, onGone });
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.forgetToken = onToken((token) => this.send({ type: "authenticate", token }));
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${this.path}`;
  }

  connect() {
    this.setState("connecting");
    const ws = (this.ws = new WebSocket(this.url(), ["bearer", accessToken()]));
    ws.onopen = () => {
      this.attempt = 0;
      this.setState("open");
      this.pinger = setInterval(() => this.send({ type: "ping" }), PING_MS);
      this.onOpen();
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type !== "pong" && frame.type !== "authenticated") this.onFrame(frame);
    };
    ws.onclose = (event) => this.closed(ws, event.code);
  }

  async closed(ws, code) {
    clearInterval(this.pinger);
    if (ws !== this.ws) return;
    if (this.stopped) return this.setState("closed");
    if (code === 4404) {
      this.setState("closed");
      return this.onGone();
    }
    if (code === 1008) {
      // Token missing, expired or revoked: one refresh; if that fails the session is over.
      try {
        await refresh();
      } catch {
        return logout(); // the session is over: back to the sign-in form
      }
    }
    const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    this.setState("reconnecting", Math.round(delay / 1000));
    this.retry = setTimeout(() => this.connect(), delay);
  }

  setState(state, seconds) {
    this.state = state;
    this.onState(state, seconds);
  }

  get isOpen() {
    return this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a frame; false when the socket is not open (the caller says so to the user). */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  close() {
    this.stopped = true;
    this.forgetToken();
    clearTimeout(this.retry);
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000);
  }
}

/** Show a socket's state in an element: data-state drives the colour, the text says it. */
export function showState(element, state, seconds) {
  element.dataset.state = state;
  element.textContent = state === "reconnecting" ? `reconnecting in ${seconds}s` : state === "open" ? "live" : state;
}
