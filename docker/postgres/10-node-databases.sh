#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (the postgres image runs every
# script in /docker-entrypoint-initdb.d/). Creates one role and one database per node, each
# role owning only its own database; passwords come from mounted secrets, never from the
# environment. Connection: the image's local socket, or PGHOST/PGPORT/PGUSER when set.
set -eu
secrets_dir="${PEPPOL_SECRETS_DIR:-/run/secrets}"
for node in ${PEPPOL_NODE_DATABASES:-node_a node_b}; do
    password="$(cat "${secrets_dir}/${node}_db_password")"
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
         -v node="${node}" -v password="${password}" <<'SQL'
CREATE ROLE :"node" LOGIN PASSWORD :'password';
CREATE DATABASE :"node" OWNER :"node";
REVOKE ALL ON DATABASE :"node" FROM PUBLIC;
SQL
done
