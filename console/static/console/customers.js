// The customers view: /ws/customers/ with the filters of the customer filter guide (search,
// has_email, has_phone, has_unread, source, tags, conversation_status, created and last-activity
// dates, order_by) and the values the server offers (get_filter_options). customer_updated and
// customer_created update rows in place; a refresh_customers re-runs the filters.

import { $, checkedTags, fillSelect, fillTagPicker, fullName, h, tagChip, timeLabel } from "./dom.js";
import { FilteredList } from "./list.js";

export class Customers extends FilteredList {
  constructor({ onState }) {
    super({
      names: { path: "/ws/customers/", filter: "filter_customers", refresh: "refresh_customers",
               options: "get_filter_options" },
      ids: { form: "#cust-filters", count: "#cust-count", prev: "#cust-prev", next: "#cust-next" },
      noun: "customers", pageSize: 25, onState,
    });
    this.customers = [];
  }

  filters() {
    const filters = {};
    for (const element of this.form.elements) {
      if (element.name && element.name !== "tags" && element.value.trim() && element.value !== "all") {
        filters[element.name] = element.value.trim();
      }
    }
    const tags = checkedTags(this.form);
    if (tags.length) filters.tags = tags;
    return filters;
  }

  onFrame(frame) {
    switch (frame.type) {
      case "customers_list":
        this.customers = frame.customers;
        this.showPage(frame);
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
        this.refreshSoon();
        break;
      }
      case "error":
        this.showError(frame);
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
