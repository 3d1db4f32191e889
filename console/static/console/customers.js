// The customers view: /ws/customers/ with the filters of the customer filter guide (search,
// has_email, has_phone, has_unread, source, tags, conversation_status, created and last-activity
// dates, order_by) and the values the server offers (get_filter_options). customer_updated and
// customer_created update rows in place; a refresh_customers re-runs the filters.

import { $, checkedTags, fillSelect, fillTagPicker, fullName, h, tagChip, timeLabel } from "./dom.js";
import { LiveSocket } from "./socket.js";

const PAGE = 25;

export class Customers {
  constructor({ onState }) {
    this.customers = [];
    this.offset = 0;
    this.form = $("#cust-filters");
    this.form.addEventListener("input", (event) => {
      clearTimeout(this.typing);
      this.typing = setTimeout(() => this.filter(), event.target.type === "search" ? 300 : 0);
    });
    this.form.addEventListener("submit", (event) => event.preventDefault());
    $("#cust-prev").addEventListener("click", () => this.filter(Math.max(0, this.offset - PAGE)));
    $("#cust-next").addEventListener("click", () => this.filter(this.offset + PAGE));
    this.socket = new LiveSocket("/ws/customers/", {
      onFrame: (frame) => this.onFrame(frame),
      onOpen: () => {
        this.socket.send({ type: "get_filter_options" });
        this.filter(this.offset);
      },
      onState,
    });
  }

  filters() {
    const filters = { limit: PAGE, offset: this.offset };
    for (const element of this.form.elements) {
      if (element.name && element.name !== "tags" && element.value.trim() && element.value !== "all") {
        filters[element.name] = element.value.trim();
      }
    }
    const tags = checkedTags(this.form);
    if (tags.length) filters.tags = tags;
    return filters;
  }

  filter(offset = 0) {
    this.offset = offset;
    this.socket.send({ type: "filter_customers", filters: this.filters() });
  }

  onFrame(frame) {
    switch (frame.type) {
      case "customers_list":
        this.customers = frame.customers;
        $("#cust-count").textContent = `${frame.count}${frame.pagination.count_capped ? "+" : ""} customers`;
        $("#cust-prev").disabled = this.offset === 0;
        $("#cust-next").disabled = !frame.pagination.has_more;
        this.render();
        break;
      case "filter_options": {
        const f = this.form.elements;
        fillSelect(f.source, frame.options.sources.filter((s) => s !== "all"));
        fillTagPicker($("[data-tags]", this.form), frame.options.tags);
        fillSelect(f.conversation_status, frame.options.conversation_statuses);
        fillSelect(f.order_by, frame.options.order_by);
        break;
      }
      case "customer_updated":
      case "customer_created": {
        const index = this.customers.findIndex((c) => c.id === frame.customer.id);
        if (index >= 0) this.customers[index] = frame.customer;
        this.render();
        clearTimeout(this.refreshing);
        this.refreshing = setTimeout(() => this.socket.send({ type: "refresh_customers" }), 250);
        break;
      }
      case "error":
        $("#cust-count").textContent = `Error: ${frame.message}`;
        break;
    }
  }

  render() {
    $("#cust-rows").replaceChildren(...this.customers.map((c) =>
      h("tr", { dataset: { id: c.id } },
        h("td", {}, h("strong", { dir: "auto" }, fullName(c)),
          c.username ? h("div", { class: "muted small", dir: "ltr" }, `@${c.username}`) : null),
        h("td", {}, h("span", { class: `chip src-${c.source}` }, c.source)),
        h("td", { class: "small" }, h("div", { dir: "ltr" }, c.email), h("div", { dir: "ltr" }, c.phone)),
        h("td", {}, c.tags.map(tagChip)),
        h("td", {}, c.unread_count ? h("span", { class: "badge" }, c.unread_count) : "–"),
        h("td", { class: "small muted" }, timeLabel(c.last_activity_at)))));
  }
}
