// Rendered on the server for every request: frontend → CMS → database (and its cache).
import { cmsGet, collection } from "./cms";

export const dynamic = "force-dynamic";

async function items() {
  try {
    const body = await cmsGet(`/items/${encodeURIComponent(collection())}?limit=20&sort=-id`);
    return { items: body.data ?? [] };
  } catch (e) {
    return { error: e.status === 403 || e.status === 404 ? "not readable yet" : e.message };
  }
}

export default async function Home() {
  const { items: rows, error } = await items();
  return (
    <main>
      <h1>appstack quickstart</h1>
      <p>
        Server-rendered by Next.js from the CMS collection <code>{collection()}</code>
        {error ? ` (${error}: create it in Directus and let the public role read it)` : ""}.
      </p>
      <ul id="items">
        {(rows ?? []).map((row) => (
          <li key={row.id} data-id={row.id}>
            {row.title ?? row.name ?? JSON.stringify(row)}
          </li>
        ))}
      </ul>
      <footer>
        release <span id="release">{process.env.APP_RELEASE ?? "dev"}</span>
      </footer>
    </main>
  );
}
