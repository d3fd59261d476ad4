// Serves the built app like `next start`, with the security headers a public endpoint needs
// set on every response. CONTENT_SECURITY_POLICY overrides the policy; set it empty to send
// none. (Headers in next.config.mjs are fixed at build time; these follow the environment.)
import { createServer } from "node:http";
import next from "next";

const port = Number(process.env.PORT || 3000);
const hostname = process.env.HOSTNAME || "0.0.0.0";
const csp =
  process.env.CONTENT_SECURITY_POLICY ??
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

const app = next({ dev: false, dir: process.cwd(), hostname, port });
const handle = app.getRequestHandler();
await app.prepare();
createServer((req, res) => {
  if (csp) res.setHeader("Content-Security-Policy", csp);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "strict-origin-when-cross-origin");
  res.setHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
  handle(req, res);
}).listen(port, hostname, () => {
  console.log(`ready on http://${hostname}:${port}`);
});
