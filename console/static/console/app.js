// Entry point: sign in (or resume this tab's session), then the inbox and customers views.
// Modules: api.js (REST + tokens), socket.js (a self-reconnecting socket), dom.js (DOM without
// HTML strings), inbox.js (conversation list + details), chat.js (one conversation),
// customers.js (the customer list). Nothing here is private to the console: it uses the same
// REST endpoints and sockets as any frontend (docs/protocol.md).

import * as api from "./api.js";
import { ChatView } from "./chat.js";
import { Customers } from "./customers.js";
import { $ } from "./dom.js";
import { Inbox } from "./inbox.js";
import { showState } from "./socket.js";

async function main() {
  const user = await api.resume();
  if (user) return start(user);
  $("#login").hidden = false;
  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target.elements;
    $("#login-error").textContent = "";
    try {
      const me = await api.login(form.username.value, form.password.value);
      $("#login").hidden = true;
      start(me);
    } catch (exc) {
      $("#login-error").textContent = exc.message;
    }
  });
}

function start(me) {
  $("#app").hidden = false;
  $("#me").textContent = me.username;
  $("#logout").addEventListener("click", api.logout);
  const main = $("#inbox-view");
  const chat = new ChatView({ me });
  const inbox = new Inbox({
    onSelect: (conversation) => {
      if (!chat.conversation || chat.conversation.id !== conversation.id) chat.open(conversation);
      $("#chat-empty").hidden = true;
      $("#chat").hidden = false;
      main.dataset.pane = "chat"; // phone widths show one pane at a time
    },
    onState: (state, seconds) => showState($("#conn"), state, seconds),
  });
  $("#chat-back").addEventListener("click", () => (main.dataset.pane = "list"));
  $("#details-toggle").addEventListener("click", () => {
    main.dataset.pane = main.dataset.pane === "details" ? "chat" : "details";
    main.classList.toggle("show-details");
  });

  $("#details-back").addEventListener("click", () => (main.dataset.pane = "chat"));

  let customers = null; // opened the first time the tab is shown
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t === tab));
      $("#inbox-view").hidden = tab.dataset.view !== "inbox";
      $("#customers-view").hidden = tab.dataset.view !== "customers";
      if (tab.dataset.view === "customers" && !customers) customers = new Customers({ onState: (state, seconds) => showState($("#conn"), state, seconds) });
    });
  }
  window.fikoConsole = { inbox, chat }; // handy in the browser console
}

main();
