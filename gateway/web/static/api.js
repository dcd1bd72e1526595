// The public API as the page uses it: bearer tokens (refreshed once on a 401), RFC 9457 problems turned into
// errors whose message is the server's own `detail`, and uploads with progress.

const SESSION_KEY = "podium.session";

export class ApiError extends Error {
  constructor(status, detail, errors = [], problem = {}) {
    super(detail);
    this.status = status;
    this.errors = errors; // [{key, message}]: a form's problems by field, when the server names them
    this.problem = problem; // the whole problem document: its extra members (`task`, `field`, `current_version`)
  }
}

// The session lives in localStorage so that every tab of this browser shares one login (a second tab is signed
// in at once). Refresh tokens are single use — a spent one used again ends the whole login — so tabs rotate them
// one at a time under a Web Lock and each reads the stored tokens again inside it (see `refresh`). README,
// "The web page's session", weighs this against sessionStorage.
export const session = {
  load() {
    try {
      return JSON.parse(localStorage.getItem(SESSION_KEY)) || null;
    } catch {
      return null;
    }
  },
  save(value) {
    localStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    localStorage.removeItem(SESSION_KEY);
  },
  /** Calls `listener(session or null)` when another tab logs in, refreshes or logs out. */
  onChange(listener) {
    const changed = (event) => {
      if (event.key === SESSION_KEY || event.key === null) listener(session.load());
    };
    window.addEventListener("storage", changed);
    return () => window.removeEventListener("storage", changed);
  },
};

async function problem(response) {
  // The server's words, verbatim: `detail` of a problem document, else the status line.
  let detail = `${response.status} ${response.statusText}`.trim();
  let errors = [];
  let document = {};
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string" && body.detail) detail = body.detail;
    if (Array.isArray(body?.errors)) errors = body.errors;
    if (body && typeof body === "object") document = body;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(response.status, detail, errors, document);
}

let refreshing = null;

function exclusively(name, work) {
  // Web Locks span every tab of the origin; without them (an old browser) this tab alone is serialised.
  return navigator.locks ? navigator.locks.request(name, work) : work();
}

// The latest token pair also goes to IndexedDB, whose transactions every tab sees in commit order: a tab's copy of
// localStorage may lag another tab's write by a moment, so inside the refresh lock only IndexedDB is trusted.
function tokenStore(mode, use) {
  if (!globalThis.indexedDB) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open("podium", 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore("session");
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
      const db = opening.result;
      const transaction = db.transaction("session", mode);
      const request = use(transaction.objectStore("session"));
      transaction.oncomplete = () => {
        db.close();
        resolve(request.result ?? null);
      };
      transaction.onerror = () => reject(transaction.error);
    };
  });
}

const latestTokens = () => tokenStore("readonly", (store) => store.get("tokens"));
const keepTokens = (tokens) => tokenStore("readwrite", (store) => store.put(tokens, "tokens"));
const forgetTokens = () => tokenStore("readwrite", (store) => store.delete("tokens"));

async function refresh() {
  // One refresh at a time, across tabs: refresh tokens are single use.
  const seen = session.load();
  if (!seen?.refresh_token) return false;
  refreshing ??= exclusively("podium.refresh", async () => {
    const current = (await latestTokens()) || session.load();
    if (!current?.refresh_token || !session.load()) return false; // logged out meanwhile
    if (current.refresh_token !== seen.refresh_token) {
      // Another tab rotated the tokens while this one waited: use theirs, never the spent refresh token.
      session.save({ ...session.load(), access_token: current.access_token, refresh_token: current.refresh_token });
      return true;
    }
    const response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: current.refresh_token }),
    });
    if (!response.ok) return false;
    const tokens = await response.json();
    const pair = { access_token: tokens.access_token, refresh_token: tokens.refresh_token };
    await keepTokens(pair); // before the lock is released: the next tab in line reads it there
    session.save({ ...session.load(), ...pair });
    return true;
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** Forgets this browser's login in every tab. */
export function forgetSession() {
  session.clear();
  forgetTokens().catch(() => null);
}

export function accessToken() {
  return session.load()?.access_token || "";
}

export { refresh as refreshTokens };

/**
 * One call of the API. `headers`: more request headers (e.g. If-Match); `withHeaders`: answer `{ body, headers }`
 * (e.g. to read an ETag) instead of the body alone.
 */
export async function api(method, path, { json, body, contentType, anonymous, blob, headers: more, withHeaders } = {},
  retried = false) {
  const headers = { ...more };
  const token = anonymous ? "" : accessToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  } else if (contentType) {
    headers["content-type"] = contentType;
  }
  const response = await fetch(path, { method, headers, body });
  if (response.status === 401 && token && !retried && (await refresh())) {
    return api(method, path, { body, contentType: headers["content-type"], blob, headers: more, withHeaders }, true);
  }
  if (!response.ok) throw await problem(response);
  if (blob) return response.blob(); // a file to save (an export), fetched with the viewer's token
  const type = response.headers.get("content-type") || "";
  const answer = await (type.includes("json") ? response.json() : response.text());
  return withHeaders ? { body: answer, headers: response.headers } : answer;
}

export async function login(name, password) {
  // Sent without the current token: after a password change that one is revoked, and the gateway would refuse it.
  const tokens = await api("POST", "/api/v1/auth/login", { json: { name, password }, anonymous: true });
  const pair = { access_token: tokens.access_token, refresh_token: tokens.refresh_token };
  await keepTokens(pair);
  session.save(pair);
  const me = await api("GET", "/api/v1/auth/me");
  session.save({ ...session.load(), me });
  return me;
}

function send(method, url, body, headers, onProgress) {
  // XMLHttpRequest, not fetch: only it reports upload progress.
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    };
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => reject(new ApiError(0, `could not reach ${new URL(url, location.href).host}`));
    xhr.onabort = () => reject(new ApiError(0, "upload cancelled"));
    xhr.send(body);
  });
}

/** PUT a file to a presigned URL with upload progress; an answer other than 2xx is an ApiError. */
export async function putWithProgress(url, file, onProgress, method = "PUT") {
  const xhr = await send(method, url, file, {}, onProgress);
  if (xhr.status >= 300) throw new ApiError(xhr.status, `object storage refused the upload (${xhr.status})`);
}

export async function sha256Hex(file) {
  // Only in a secure context (https or localhost); the server checks the digest when one is given.
  if (!globalThis.crypto?.subtle) return "";
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function directUpload(taskId, file, onProgress, retried = false) {
  const form = new FormData();
  form.append("file", file, file.name);
  const xhr = await send("POST", `/api/v1/tasks/${encodeURIComponent(taskId)}/submissions`, form,
    { authorization: `Bearer ${accessToken()}` }, onProgress);
  if (xhr.status === 401 && !retried && (await refresh())) return directUpload(taskId, file, onProgress, true);
  if (xhr.status >= 300) throw await problem(new Response(xhr.responseText, { status: xhr.status }));
  return JSON.parse(xhr.responseText);
}

/**
 * Submit a file to a task. First the presigned path (the file goes straight to object storage); when the
 * browser cannot reach storage (not published, or no CORS rule for this origin) the started submission is
 * cancelled, giving its quota back, and the file goes through the gateway instead. Returns the submission
 * and which path carried it.
 */
export async function submitFile(taskId, file, onProgress) {
  const sha256 = await sha256Hex(file);
  const ticket = await api("POST", "/api/v1/submissions",
    { json: { task_id: taskId, filename: file.name, size_bytes: file.size, sha256 } });
  let xhr;
  try {
    xhr = await send(ticket.method || "PUT", ticket.upload_url, file, {}, onProgress);
  } catch (unreachable) {
    await api("POST", `/api/v1/submissions/${ticket.submission_id}/cancel`).catch(() => null);
    onProgress(0, file.size);
    return { submission: await directUpload(taskId, file, onProgress), path: "gateway", note: unreachable.message };
  }
  if (xhr.status >= 300) throw new ApiError(xhr.status, `object storage refused the upload (${xhr.status})`);
  const submission = await api("POST", `/api/v1/submissions/${ticket.submission_id}/complete`, { json: { sha256 } });
  return { submission, path: "presigned" };
}
