// The chat pane: /ws/chat/<id>/ for one conversation.
// - History: recent_messages on connect, older pages with get_messages {before_id}.
// - Never twice: messages are kept by id; a live frame and a page that overlap merge.
// - Catch-up: after a reconnect, or when a seq jumps, get_messages {after_id: last id seen}
//   until has_more is false (docs/protocol.md, "Catching up").
// - Sends carry a client_message_id; unconfirmed ones are re-sent after a reconnect (the
//   server stores a client_message_id once).

import { upload } from "./api.js";
import { $, fullName, h, safeUrl, timeLabel } from "./dom.js";
import { LiveSocket, showState } from "./socket.js";

const newId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

export class ChatView {
  constructor({ me }) {
    this.me = me;
    this.socket = null;
    this.list = $("#message-list");
    this.scroller = $("#messages");
    this.replyTo = null;
    this.attachment = null;
    this.bindComposer();
    this.scroller.addEventListener("scroll", () => {
      if (this.scroller.scrollTop < 40) this.loadOlder();
    });
    $("#older").addEventListener("click", () => this.loadOlder());
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  open(conversation) {
    if (this.socket) this.socket.close();
    this.conversation = conversation;
    this.messages = new Map(); // id -> message
    this.nodes = new Map(); // id -> <li>
    this.pages = []; // kinds of the get_messages we are waiting for, in order
    this.pending = new Map(); // client_message_id -> frame not yet confirmed
    this.online = new Map();
    this.customerReadUpTo = 0;
    this.hasOlder = false;
    this.connectedOnce = false;
    this.list.replaceChildren();
    this.setReply(null);
    this.setAttachment(null);
    $("#composer-error").textContent = "";
    $("#chat-title").textContent = fullName(conversation.customer) || conversation.title;
    this.renderPresence();
    this.socket = new LiveSocket(`/ws/chat/${conversation.id}/`, {
      onFrame: (frame) => this.onFrame(frame),
      onOpen: () => this.pages = [],
      onState: (state, seconds) => showState($("#chat-conn"), state, seconds),
      onGone: () => { $("#composer-error").textContent = "This conversation is gone or not yours."; },
    });
  }

  close() {
    if (this.socket) this.socket.close();
    this.socket = null;
    this.conversation = null;
  }

  // --- frames -------------------------------------------------------------------------------
  onFrame(frame) {
    switch (frame.type) {
      case "recent_messages": {
        const reconnect = this.connectedOnce;
        const lastId = this.lastId();
        this.connectedOnce = true;
        this.online.clear();
        this.renderPresence();
        if (!reconnect) this.hasOlder = frame.has_more;
        this.merge(frame.messages, { stick: true });
        if (reconnect && lastId) this.fetchAfter(lastId); // what happened while we were away
        for (const sendFrame of this.pending.values()) this.socket.send(sendFrame);
        this.markRead();
        break;
      }
      case "messages_page": {
        const kind = this.pages.shift();
        if (kind === "older") {
          this.hasOlder = frame.has_more;
          this.merge(frame.messages, { keepPosition: true });
        } else {
          this.merge(frame.messages, { stick: true });
          if (frame.has_more && frame.messages.length) this.fetchAfter(frame.messages.at(-1).id);
        }
        break;
      }
      case "chat_message": {
        const message = frame.message;
        const [lastSeq, lastId] = [this.lastSeq(), this.lastId()];
        this.merge([message], { stick: true });
        if (lastSeq && message.seq > lastSeq + 1) this.fetchAfter(lastId); // a live frame was missed
        if (message.sender_type === "customer") this.markRead();
        break;
      }
      case "message_updated":
        this.merge([frame.message]);
        break;
      case "messages_read":
        if (frame.reader_type === "customer") {
          this.customerReadUpTo = Math.max(this.customerReadUpTo, frame.last_read_message_id);
          for (const message of this.messages.values()) if (message.sender_type !== "customer") this.draw(message);
        }
        break;
      case "user_presence":
        if (frame.is_online) this.online.set(`${frame.participant_type}:${frame.user_id}`, frame.username);
        else this.online.delete(`${frame.participant_type}:${frame.user_id}`);
        this.renderPresence();
        break;
      case "error":
        $("#composer-error").textContent = frame.message;
        break;
    }
  }

  fetchAfter(afterId) {
    if (this.socket.send({ type: "get_messages", after_id: afterId, limit: 100 })) this.pages.push("after");
  }

  loadOlder() {
    const oldest = this.sorted()[0];
    if (!this.hasOlder || !oldest || this.pages.includes("older")) return;
    if (this.socket.send({ type: "get_messages", before_id: oldest.id, limit: 50 })) this.pages.push("older");
  }

  markRead() {
    if (this.socket && document.visibilityState === "visible" && this.messages.size) this.socket.send({ type: "mark_read" });
  }

  // --- the message list -----------------------------------------------------------------------
  sorted() {
    return Array.from(this.messages.values()).sort((a, b) => a.seq - b.seq);
  }

  lastId() {
    const all = this.sorted();
    return all.length ? all.at(-1).id : 0;
  }

  lastSeq() {
    const all = this.sorted();
    return all.length ? all.at(-1).seq : 0;
  }

  merge(messages, { stick = false, keepPosition = false } = {}) {
    const nearBottom = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 80;
    const heightBefore = this.scroller.scrollHeight;
    for (const message of messages) {
      if (message.conversation_id !== this.conversation.id) continue;
      this.messages.set(message.id, message);
      for (const [cid, sent] of this.pending) {
        if (message.sender_user_id === this.me.id && message.content === (sent.content || "")
            && (message.media_url || "") === (sent.media_url || "")) this.pending.delete(cid);
      }
      this.draw(message);
    }
    $("#older").hidden = !this.hasOlder;
    if (keepPosition) this.scroller.scrollTop += this.scroller.scrollHeight - heightBefore;
    else if (stick && (nearBottom || messages.some((m) => m.sender_user_id === this.me.id))) {
      this.scroller.scrollTop = this.scroller.scrollHeight;
    }
  }

  /** Put a message's <li> in its place (by seq), replacing its old rendering. */
  draw(message) {
    const node = this.renderMessage(message);
    const old = this.nodes.get(message.id);
    this.nodes.set(message.id, node);
    if (old) return old.replaceWith(node);
    const after = Array.from(this.list.children).find((li) => Number(li.dataset.seq) > message.seq);
    this.list.insertBefore(node, after || null);
  }

  renderMessage(m) {
    const mine = m.sender_type !== "customer";
    const quoted = m.reply_to_message_id && this.messages.get(m.reply_to_message_id);
    const media = safeUrl(m.media_url);
    const thumb = safeUrl(m.thumbnail_url) || media;
    return h("li", { class: `msg ${mine ? "out" : "in"}`, dataset: { id: m.id, seq: m.seq } },
      h("div", { class: "bubble" },
        h("div", { class: "who small" }, m.sender_name || (mine ? "staff" : "customer"),
          m.type === "marketing" ? " · marketing" : "", m.is_edited ? " · edited" : ""),
        m.reply_to_message_id
          ? h("blockquote", { class: "quote small", dir: "auto" }, quoted ? quoted.content || `[${quoted.message_type}]` : "an earlier message")
          : null,
        m.message_type === "image" && media
          ? h("a", { href: media, target: "_blank", rel: "noopener" }, h("img", { src: thumb, alt: "image", loading: "lazy" }))
          : media ? h("a", { href: media, target: "_blank", rel: "noopener" }, `[${m.message_type}]`) : null,
        m.content ? h("p", { class: "text", dir: "auto" }, m.content) : null,
        h("div", { class: "meta small" },
          h("time", { datetime: m.created_at, title: m.created_at }, timeLabel(m.created_at)),
          mine ? this.deliveryLabel(m) : null,
          h("button", { class: "link reply", type: "button", onclick: () => this.setReply(m) }, "Reply"))));
  }

  deliveryLabel(m) {
    const result = m.external_send_result;
    if (m.delivery_status === "failed") {
      return h("span", { class: "status failed", dir: "auto" }, `✗ not delivered: ${(result && result.error) || "failed"}`);
    }
    const read = m.id <= this.customerReadUpTo || (m.read_receipts || []).some((r) => r.reader_type === "customer");
    if (read) return h("span", { class: "status read" }, "✓✓ read");
    if (m.delivery_status === "pending") return h("span", { class: "status pending" }, "◷ sending");
    return h("span", { class: "status sent" }, result && result.platform ? `✓ sent to ${result.platform}` : "✓ sent");
  }

  renderPresence() {
    const others = Array.from(this.online.entries()).filter(([key]) => key !== `user:${this.me.id}`).map(([, name]) => name);
    $("#chat-presence").textContent = others.length ? `· here now: ${others.join(", ")}` : "";
  }

  // --- composer -------------------------------------------------------------------------------
  setReply(message) {
    this.replyTo = message;
    $("#reply-bar").hidden = !message;
    $("#reply-text").textContent = message ? `Replying to: ${message.content || `[${message.message_type}]`}` : "";
    if (message) $("#composer textarea").focus();
  }

  setAttachment(file) {
    this.attachment = file;
    $("#attach-bar").hidden = !file;
    $("#attach-text").textContent = file ? `Image: ${file.name}` : "";
    if (!file) $("#file").value = "";
  }

  bindComposer() {
    const form = $("#composer");
    const textarea = form.elements.content;
    $("#reply-cancel").addEventListener("click", () => this.setReply(null));
    $("#attach-cancel").addEventListener("click", () => this.setAttachment(null));
    $("#file").addEventListener("change", (event) => this.setAttachment(event.target.files[0] || null));
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("#composer-error");
      error.textContent = "";
      const content = textarea.value.trim();
      if (!content && !this.attachment) return;
      const frame = { type: "chat_message", content, client_message_id: newId() };
      if (this.replyTo) frame.reply_to_message_id = this.replyTo.id;
      try {
        if (this.attachment) {
          const file = await upload(this.attachment);
          Object.assign(frame, { message_type: file.message_type, media_url: file.file_url });
        }
      } catch (exc) {
        error.textContent = `Upload failed: ${exc.message}`;
        return;
      }
      if (!this.socket.send(frame)) {
        error.textContent = "Not connected: the message was not sent. It is still in the box.";
        return;
      }
      this.pending.set(frame.client_message_id, frame);
      textarea.value = "";
      this.setReply(null);
      this.setAttachment(null);
    });
  }
}
