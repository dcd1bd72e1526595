// The public API as the page uses it: bearer tokens (refreshed once on a 401), RFC 9457 problems turned into
// errors whose message is the server's own `detail`, and uploads with progress.

const SESSION_KEY = "podium.session";

export class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail);
    this.status = status;
    this.errors = errors; // [{key, message}]: a form's problems by field, when the server names them
  }
}

export const session = {
  load() {
    try {
      return JSON.parse(sessionStorage.getItem(SESSION_KEY)) || null;
    } catch {
      return null;
    }
  },
  save(value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
};

async function problem(response) {
  // The server's words, verbatim: `detail` of a problem document, else the status line.
  let detail = `${response.status} ${response.statusText}`.trim();
  let errors = [];
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string" && body.detail) detail = body.detail;
    if (Array.isArray(body?.errors)) errors = body.errors;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(response.status, detail, errors);
}

let refreshing = null;

async function refresh() {
  // One refresh at a time: refresh tokens are single use.
  const current = session.load();
  if (!current?.refresh_token) return false;
  refreshing ??= (async () => {
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refresh_token }),
      });
      if (!response.ok) return false;
      const tokens = await response.json();
      session.save({ ...session.load(), access_token: tokens.access_token, refresh_token: tokens.refresh_token });
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export function accessToken() {
  return session.load()?.access_token || "";
}

export { refresh as refreshTokens };

export async function api(method, path, { json, body, contentType, blob } = {}, retried = false) {
  const headers = {};
  const token = accessToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  } else if (contentType) {
    headers["content-type"] = contentType;
  }
  const response = await fetch(path, { method, headers, body });
  if (response.status === 401 && token && !retried && (await refresh())) {
    return api(method, path, { body, contentType: headers["content-type"], blob }, true);
  }
  if (!response.ok) throw await problem(response);
  if (blob) return response.blob(); // a file to save (an export), fetched with the viewer's token
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export async function login(name, password) {
  const tokens = await api("POST", "/api/v1/auth/login", { json: { name, password } });
  session.save({ access_token: tokens.access_token, refresh_token: tokens.refresh_token });
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

async function sha256Hex(file) {
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
