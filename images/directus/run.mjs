// Directus' CLI without its launcher's update check: `directus/cli.js` first asks the npm
// registry for a newer release (an 8 s timeout where a server has no egress, paid twice per
// start: bootstrap, then start). This image is updated by rebuilding it, so the check is
// skipped; the commands and their arguments are Directus' own.
import "@directus/api/cli/run.js";
