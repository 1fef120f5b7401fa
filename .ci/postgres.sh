#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the store tests.
#
#   eval "$(bash .ci/postgres.sh | tail -1)"
#
# Installs Debian's postgresql with apt-get when it is missing (needs root), creates a cluster in a
# new temporary directory (as the postgres user when run as root), starts it on the first free
# port of 5432-5499, creates a user with a password and a database, and checks that they can log
# in over TCP. Progress goes to stderr; the last line on stdout is
#   export REVIEWNLP_TEST_POSTGRES_URL=postgresql://USER:PASSWORD@127.0.0.1:PORT/DB
# The stop command is printed on stderr. Override with REVIEWNLP_PG_USER, REVIEWNLP_PG_PASSWORD,
# REVIEWNLP_PG_DB and REVIEWNLP_PG_PORTS (a space-separated list of ports to try).
set -euo pipefail

pg_user="${REVIEWNLP_PG_USER:-reviewnlp}"
pg_password="${REVIEWNLP_PG_PASSWORD:-reviewnlp-test}"
pg_db="${REVIEWNLP_PG_DB:-reviewnlp_test}"
ports="${REVIEWNLP_PG_PORTS:-$(seq -s " " 5432 5499)}"

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
find_bindir() { find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1; }

bindir="$(find_bindir)"
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; run as root, or: sudo apt-get install postgresql"
  log "installing postgresql with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  bindir="$(find_bindir)"
  [ -n "$bindir" ] || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin was found"
fi
log "using $bindir"

# initdb refuses to run as root: run the server as the postgres user then.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user to run the server"
  as_server() { runuser -u postgres -- "$@"; }
else
  as_server() { "$@"; }
fi

port=""
for candidate in $ports; do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port="$candidate"; break; fi
done
[ -n "$port" ] || die "no free port among: $ports"

datadir="$(mktemp -d /tmp/reviewnlp-pg.XXXXXX)"
chmod 700 "$datadir"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$datadir"; fi

log "initdb into $datadir"
as_server "$bindir/initdb" -D "$datadir" -U postgres -E UTF8 --no-locale \
  --auth-local=trust --auth-host=scram-sha-256 >&2
log "starting the server on 127.0.0.1:$port"
as_server "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $datadir" start >&2 \
  || { cat "$datadir/server.log" >&2 || true; die "the server did not start"; }

# Over the Unix socket in $datadir (trust) as the superuser; psql quotes the values (:"x" and :'x').
as_server "$bindir/psql" -h "$datadir" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
  -v user="$pg_user" -v password="$pg_password" -v db="$pg_db" >&2 <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL

quote() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
url="postgresql://$(quote "$pg_user"):$(quote "$pg_password")@127.0.0.1:$port/$(quote "$pg_db")"

PGPASSWORD="$pg_password" "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$pg_user" -d "$pg_db" -qAt \
  -c "SELECT 1" >/dev/null || die "cannot log in as $pg_user over TCP"
log "ready; stop it with: $( [ "$(id -u)" = 0 ] && echo 'runuser -u postgres -- ')$bindir/pg_ctl -D $datadir stop"
echo "export REVIEWNLP_TEST_POSTGRES_URL=$url"
