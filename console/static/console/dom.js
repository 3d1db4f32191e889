// Building DOM without HTML strings: text always goes in as text nodes (textContent), so a
// customer's "<img src=x onerror=...>" is shown as those characters and never parsed.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Only our own uploads (/uploads/...) or http(s) URLs become src/href: never javascript: or data:. */
export function safeUrl(url) {
  if (typeof url !== "string" || !url) return null;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  return /^https?:\/\//i.test(url) ? url : null;
}

export function fullName(person) {
  if (!person) return "";
  const name = [person.first_name, person.last_name].filter(Boolean).join(" ");
  return name || (person.username ? `@${person.username}` : person.email || person.phone || `#${person.id}`);
}

export function timeLabel(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
               : date.toLocaleDateString([], { month: "short", day: "numeric" });
}

export function tagChip(tag) {
  return h("span", { class: "tag", style: `--tag:${/^#[0-9a-f]{3,8}$/i.test(tag.color) ? tag.color : "#888"}`, dir: "auto" }, tag.name);
}

/** Tag filter: one checkbox per tag (name "tags"), keeping the ticked ones ticked. */
export function fillTagPicker(container, tags) {
  const ticked = checkedTags(container);
  container.replaceChildren(...tags.map((tag) =>
    h("label", { class: "tagpick" },
      h("input", { type: "checkbox", name: "tags", value: tag.name, checked: ticked.includes(tag.name) }),
      tagChip({ ...tag, name: `${tag.name} ${tag.count}` }))));
}

export const checkedTags = (root) => Array.from(root.querySelectorAll("input[name=tags]:checked"), (i) => i.value);

/** Fill a <select> from values ([value] or [[value, label]]), keeping the current choice. */
export function fillSelect(select, values, { keepFirst = true } = {}) {
  const chosen = new Set(Array.from(select.selectedOptions, (o) => o.value));
  const first = keepFirst && select.options[0] && !select.multiple ? select.options[0] : null;
  select.replaceChildren(...(first ? [first] : []));
  for (const item of values) {
    const [value, label] = Array.isArray(item) ? item : [item, item];
    select.append(h("option", { value, selected: chosen.has(String(value)) }, label));
  }
}
