#!/bin/sh
# As Directus' own image does: install or migrate the schema (and create the first admin from
# ADMIN_EMAIL / ADMIN_PASSWORD(_FILE) on an empty database), then serve. Directus reads every
# setting X from the file named by X_FILE itself, so secrets stay out of the environment.
# run.mjs is Directus' CLI without the registry update check (see there).
set -e
cd /directus
node run.mjs bootstrap
exec node run.mjs start
