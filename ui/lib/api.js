// api.js - GET helpers for Ember's JSON API (/api/v1/*) with readable errors.

export class ApiError extends Error {
  constructor(message, status, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
}

export function url(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return path + (s ? '?' + s : '');
}

// Fetches path with params and returns the parsed JSON; throws ApiError with the server's
// {"error": ...} message, or a message saying the server could not be reached.
export async function getJSON(path, params, signal) {
  const u = url(path, params);
  let res;
  try {
    res = await fetch(u, { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`Cannot reach the Ember server (${path}): ${e.message}. Is \`ember server\` running?`, 0, path);
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!res.ok) {
    const msg = body && body.error ? body.error : text.slice(0, 300) || res.statusText;
    throw new ApiError(`${path} failed (${res.status}): ${msg}`, res.status, path);
  }
  if (body === null) throw new ApiError(`${path}: the server sent a response that is not JSON`, res.status, path);
  return body;
}
