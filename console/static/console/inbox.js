// The conversation list (/ws/conversations/) and the details pane.
// The list is the server's answer to this socket's filters (filter_conversations); pushed
// events (new_customer_message, conversation_updated, conversation_created) update a row at
// once, then a short-debounced refresh_conversations re-runs the filters on the server, so a
// row that now matches (or no longer does) comes and goes and the order stays the server's.

import { updateConversation } from "./api.js";
import { $, checkedTags, fillSelect, fillTagPicker, fullName, h, tagChip, timeLabel } from "./dom.js";
import { FilteredList } from "./list.js";

export class Inbox extends FilteredList {
  constructor({ onSelect, onState }) {
    super({
      names: { path: "/ws/conversations/", filter: "filter_conversations", refresh: "refresh_conversations",
               options: "get_conversation_filter_options" },
      ids: { form: "#conv-filters", count: "#conv-count", prev: "#conv-prev", next: "#conv-next" },
      noun: "conversations", pageSize: 50, onState,
    });
    this.onSelect = onSelect;
    this.conversations = [];
    this.selectedId = null;
    $("#conv-edit").addEventListener("change", (event) => this.edit(event.target));
  }

  filters() {
    const f = this.form.elements;
    const filters = { is_archived: f.archived.checked ? "true" : "false" };
    if (f.search.value.trim()) filters.search = f.search.value.trim();
    for (const name of ["status", "source", "priority"]) if (f[name].value) filters[name] = f[name].value;
    const tags = checkedTags(this.form);
    if (tags.length) filters.tags = tags;
    if (f.unread_only.checked) filters.unread_only = true;
    return filters;
  }

  onFrame(frame) {
    switch (frame.type) {
      case "conversations_list":
        this.conversations = frame.conversations;
        this.showPage(frame);
        this.render();
        break;
      case "filter_options":
        this.setOptions(frame.options);
        break;
      case "new_customer_message":
      case "conversation_updated":
      case "conversation_created":
        this.upsert(frame.conversation);
        this.refreshSoon();
        break;
      case "error":
        this.showError(frame);
        break;
    }
  }

  setOptions(options) {
    this.options = options;
    const f = this.form.elements;
    fillSelect(f.status, options.statuses);
    fillSelect(f.source, options.sources);
    fillSelect(f.priority, options.priorities);
    fillTagPicker($("[data-tags]", this.form), options.tags);
    const e = $("#conv-edit").elements;
    fillSelect(e.status, options.statuses, { keepFirst: false });
    fillSelect(e.priority, options.priorities, { keepFirst: false });
    fillSelect(e.assignee, [["", "nobody"], ...options.assignees.map((a) => [a.id, a.username])], { keepFirst: false });
    this.renderDetails();
  }

  upsert(conversation) {
    const index = this.conversations.findIndex((c) => c.id === conversation.id);
    if (index >= 0) this.conversations[index] = conversation;
    this.render();
  }

  select(id) {
    this.selectedId = id;
    this.render();
    const conversation = this.current();
    if (conversation) this.onSelect(conversation);
  }

  current() {
    return this.conversations.find((c) => c.id === this.selectedId) || this.selectedConversation;
  }

  render() {
    const list = $("#conv-list");
    list.replaceChildren(...this.conversations.map((c) => this.row(c)));
    if (!this.conversations.length) list.append(h("li", { class: "empty muted" }, "No conversations match."));
    const selected = this.conversations.find((c) => c.id === this.selectedId);
    if (selected) this.selectedConversation = selected;
    this.renderDetails();
  }

  row(c) {
    const last = c.last_message;
    const preview = last ? (last.content || `[${last.message_type}]`) : "No messages yet";
    return h("li", { class: "conv", dataset: { id: c.id }, "aria-current": c.id === this.selectedId ? "true" : null },
      h("button", { class: "conv-button", type: "button", onclick: () => this.select(c.id) },
        h("span", { class: `avatar src-${c.source}`, "aria-hidden": "true" }, (fullName(c.customer) || "?").slice(0, 1)),
        h("span", { class: "conv-main" },
          h("span", { class: "conv-top" },
            h("span", { class: "name", dir: "auto" }, fullName(c.customer) || c.title),
            h("time", { class: "small muted" }, timeLabel(last ? last.created_at : c.updated_at))),
          h("span", { class: "conv-bottom" },
            h("span", { class: "preview muted", dir: "auto" }, last && last.type !== "customer" ? "You: " : "", preview),
            c.unread_count ? h("span", { class: "badge", title: "unread" }, c.unread_count) : null),
          h("span", { class: "conv-meta small" },
            h("span", { class: `chip src-${c.source}` }, c.source),
            h("span", { class: `chip st-${c.status}` }, c.status),
            c.priority !== "medium" ? h("span", { class: `chip pr-${c.priority}` }, c.priority) : null,
            c.assignee ? h("span", { class: "chip" }, `@${c.assignee.username}`) : null))));
  }

  renderDetails() {
    const c = this.current();
    $("#details").hidden = !c;
    if (!c) return;
    const customer = c.customer;
    $("#d-name").textContent = fullName(customer);
    $("#d-handle").textContent = [customer.username && `@${customer.username}`, customer.source].filter(Boolean).join(" · ");
    const fields = [["Email", customer.email], ["Phone", customer.phone], ["Conversations", customer.conversations_count],
                    ["Customer since", timeLabel(customer.created_at)]];
    $("#d-fields").replaceChildren(...fields.filter(([, v]) => v !== "" && v !== null)
      .flatMap(([k, v]) => [h("dt", {}, k), h("dd", { dir: "auto" }, v)]));
    $("#d-tags").replaceChildren(...customer.tags.map(tagChip));
    const e = $("#conv-edit").elements;
    e.status.value = c.status;
    e.priority.value = c.priority;
    e.assignee.value = c.assignee ? String(c.assignee.id) : "";
  }

  async edit(select) {
    const c = this.current();
    if (!c) return;
    const value = select.name === "assignee" ? (select.value ? Number(select.value) : null) : select.value;
    try {
      this.upsert(await updateConversation(c.id, { [select.name]: value }));
    } catch (exc) {
      this.countLine.textContent = `Could not change ${select.name}: ${exc.message}`;
    }
  }
}
