// 200 while the CMS answers its own health endpoint; 503, with the reason, otherwise.
import { cmsGet } from "../../cms";

export const dynamic = "force-dynamic";

export async function GET() {
  try {
    const health = await cmsGet("/server/health", { timeoutMs: 2000 });
    return Response.json({ status: "ok", cms: health.status ?? "ok" });
  } catch (e) {
    return Response.json({ status: "error", cms: e.message }, { status: 503 });
  }
}
