// REST: staff tokens (POST /api/auth/token/, .../refresh/) and the few REST calls the console
// makes. Tokens live in sessionStorage (this tab only); a token is refreshed a minute before it
// expires and listeners (the open sockets) are told, so they send {type: "authenticate"}.

const KEY = "fiko.console.tokens";
const listeners = new Set();
let tokens = JSON.parse(sessionStorage.getItem(KEY) || "null");
let refreshTimer = null;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.message)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function expiresAt(jwt) {
  try {
    const payload = JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.exp * 1000;
  } catch {
    return 0;
  }
}

function store(next) {
  tokens = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  clearTimeout(refreshTimer);
  if (next) {
    const wait = Math.max(5000, expiresAt(next.access) - Date.now() - 60000);
    refreshTimer = setTimeout(() => refresh().catch(() => logout()), wait);
  }
}

export const accessToken = () => tokens && tokens.access;
/** Call fn(newAccessToken) after each refresh; returns the function that stops it. */
export function onToken(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

async function request(method, path, { json, form, auth = true } = {}) {
  const headers = {};
  if (auth && tokens) headers.Authorization = `Bearer ${tokens.access}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const response = await fetch(path, { method, headers, body });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export async function login(username, password) {
  const data = await request("POST", "/api/auth/token/", { json: { username, password }, auth: false });
  store({ access: data.access, refresh: data.refresh });
  return me();
}

export async function refresh() {
  const data = await request("POST", "/api/auth/token/refresh/", { json: { refresh: tokens.refresh }, auth: false });
  store({ access: data.access, refresh: data.refresh || tokens.refresh });
  listeners.forEach((fn) => fn(data.access));
}

export function logout() {
  store(null);
  location.reload();
}

/** Resume a session from this tab's storage; null when there is none (or it ran out). */
export async function resume() {
  if (!tokens) return null;
  store(tokens); // re-arms the refresh timer
  try {
    if (expiresAt(tokens.access) < Date.now() + 5000) await refresh();
    return await me();
  } catch {
    store(null);
    return null;
  }
}

export const me = () => request("GET", "/api/v1/auth/me");

export const updateConversation = (id, fields) => request("PATCH", `/api/conversations/${id}/`, { json: fields });

/** Multipart upload: {file_url, thumbnail_url, message_type, ...}. */
export function upload(file) {
  const form = new FormData();
  form.append("file", file);
  return request("POST", "/api/v1/chat/upload", { form });
}
