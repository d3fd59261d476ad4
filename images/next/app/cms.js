// Reads from the CMS's REST API (Directus). The address comes from the plan (CMS_URL); an
// optional access token from the file CMS_TOKEN_FILE names, never from the environment.
import { readFileSync } from "node:fs";

const base = () => (process.env.CMS_URL || "http://127.0.0.1:8055").replace(/\/$/, "");

function token() {
  const file = process.env.CMS_TOKEN_FILE;
  if (!file) return null;
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return null;
  }
}

/** GET `path` of the CMS as JSON; throws with the status when it is not 2xx. */
export async function cmsGet(path, { timeoutMs = 3000 } = {}) {
  const headers = { accept: "application/json" };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  const res = await fetch(`${base()}${path}`, {
    headers,
    cache: "no-store",
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) {
    const err = new Error(`${path}: HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

/** The collection the page lists (CMS_COLLECTION, default `articles`). */
export const collection = () => process.env.CMS_COLLECTION || "articles";
