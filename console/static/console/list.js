// What the conversation and customer lists share: a filter form (search debounced 300 ms),
// a pager, a list socket that asks for its filter options and its page on every (re)connect,
// the count line, and a debounced refresh after pushed events (the server re-runs the
// socket's last filters, so the rows and their order stay the server's).

import { $ } from "./dom.js";
import { LiveSocket } from "./socket.js";

export class FilteredList {
  /** names: {path, filter, refresh, options} frame types; ids: {form, count, prev, next}. */
  constructor({ names, ids, noun, pageSize, onState }) {
    Object.assign(this, { names, noun, pageSize, offset: 0 });
    this.form = $(ids.form);
    this.countLine = $(ids.count);
    this.prev = $(ids.prev);
    this.next = $(ids.next);
    this.form.addEventListener("input", (event) => {
      clearTimeout(this.typing);
      this.typing = setTimeout(() => this.filter(), event.target.type === "search" ? 300 : 0);
    });
    this.form.addEventListener("submit", (event) => event.preventDefault());
    this.prev.addEventListener("click", () => this.filter(Math.max(0, this.offset - pageSize)));
    this.next.addEventListener("click", () => this.filter(this.offset + pageSize));
    this.socket = new LiveSocket(names.path, {
      onFrame: (frame) => this.onFrame(frame),
      onOpen: () => {
        this.socket.send({ type: names.options });
        this.filter(this.offset);
      },
      onState,
    });
  }

  filter(offset = 0) {
    this.offset = offset;
    const filters = { ...this.filters(), limit: this.pageSize, offset };
    this.socket.send({ type: this.names.filter, filters });
  }

  /** The count line and the pager for a *_list frame. */
  showPage(frame) {
    this.countLine.textContent = `${frame.count}${frame.pagination.count_capped ? "+" : ""} ${this.noun}`;
    this.prev.disabled = this.offset === 0;
    this.next.disabled = !frame.pagination.has_more;
  }

  showError(frame) {
    this.countLine.textContent = `Error: ${frame.message}`;
  }

  refreshSoon() {
    clearTimeout(this.refreshing);
    this.refreshing = setTimeout(() => this.socket.send({ type: this.names.refresh }), 250);
  }
}
