#!/usr/bin/env bash
# The servers `make test` needs: PostgreSQL on 127.0.0.1:5432 (user postgres, trust, a database
# for the suite), Redis on 127.0.0.1:6379 and Chromium for the browser tests.
#
# Installs what is missing (Debian, as root, through apt-get), starts what is not running, and
# does nothing when everything is there. `make test` and `.ci/run` call it; `make run` does not
# (the embedded mode needs no server).
#
#   scripts/services.sh              install and start what is missing
#   scripts/services.sh --dry-run    print what it would install and start, change nothing
#
# Environment: SERVICES_DATABASE (database to create, default hyperstudy), CHROMIUM_PATH
# (default /usr/bin/chromium), OS_RELEASE (default /etc/os-release; the tests point it
# elsewhere to play another distribution).
set -euo pipefail

dry_run=0
case "${1:-}" in
  --dry-run | -n) dry_run=1 ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

database=${SERVICES_DATABASE:-hyperstudy}
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
os_release=${OS_RELEASE:-/etc/os-release}
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

say() { echo "services: $*"; }

pg_up() { command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
pg_trusted() { psql -h 127.0.0.1 -U postgres -Atc 'select 1' >/dev/null 2>&1; }
redis_up() { command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

# What is missing: Debian packages to install, and servers to start.
packages=()
command -v pg_ctlcluster >/dev/null 2>&1 || pg_up || packages+=(postgresql)
command -v psql >/dev/null 2>&1 || [[ " ${packages[*]:-} " == *" postgresql "* ]] \
  || packages+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || redis_up || packages+=(redis-server)
[ -x "$chromium" ] || packages+=(chromium)
python3 -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv)
start=()
pg_up || start+=(postgresql)
redis_up || start+=(redis)

if [ ${#packages[@]} -eq 0 ] && [ ${#start[@]} -eq 0 ]; then
  if pg_trusted && psql -h 127.0.0.1 -U postgres -Atc \
    "select 1 from pg_database where datname='$database'" | grep -q 1; then
    say "PostgreSQL, Redis and Chromium are there"
    exit 0
  fi
fi

is_debian() {
  command -v apt-get >/dev/null 2>&1 && [ -r "$os_release" ] \
    && grep -Eq '^(ID|ID_LIKE)=.*debian' "$os_release"
}

if [ $dry_run -eq 1 ]; then
  [ ${#packages[@]} -gt 0 ] && say "would install: apt-get install -y ${packages[*]}"
  for s in "${start[@]}"; do say "would start: $s on 127.0.0.1"; done
  if ! pg_trusted || ! psql -h 127.0.0.1 -U postgres -Atc \
    "select 1 from pg_database where datname='$database'" | grep -q 1; then
    say "would create the database $database (trusting 127.0.0.1 for the user postgres)"
  fi
  is_debian || say "this is not Debian: it would stop and name what to install"
  [ "$(id -u)" -eq 0 ] || say "this is not root: it would stop and print the command to run"
  exit 0
fi

if ! is_debian; then
  say "this machine is not Debian; install and start these yourself, then run make test again:"
  [ ${#packages[@]} -gt 0 ] && say "  missing: ${packages[*]} (Debian names)"
  say "  PostgreSQL on 127.0.0.1:5432, user postgres with trust auth, database $database"
  say "  Redis on 127.0.0.1:6379"
  say "  Chromium at $chromium (or set CHROMIUM_PATH)"
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  say "needs root to install or start: ${packages[*]:-} ${start[*]:-}"
  say "run:  sudo bash $script"
  [ ${#packages[@]} -gt 0 ] && say "(it runs apt-get install -y ${packages[*]} and starts them)"
  exit 1
fi

if [ ${#packages[@]} -gt 0 ]; then
  say "installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${packages[@]}" \
    >/dev/null
fi

if ! pg_up; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 30); do pg_up && break; sleep 1; done
fi
if ! pg_trusted; then
  # Trust local TCP connections for the test user, as the development machines do.
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  say "trusting 127.0.0.1 and ::1 in $hba"
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 10); do pg_trusted && break; sleep 1; done
fi

if ! redis_up; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/hyperstudy.log
  for _ in $(seq 30); do redis_up && break; sleep 1; done
fi

psql -h 127.0.0.1 -U postgres -Atc "select 1 from pg_database where datname='$database'" \
  | grep -q 1 || psql -h 127.0.0.1 -U postgres -qc "create database \"$database\""

pg_up || { say "PostgreSQL did not start"; exit 1; }
redis_up || { say "Redis did not start"; exit 1; }
[ -x "$chromium" ] || { say "Chromium is not at $chromium"; exit 1; }
say "PostgreSQL, Redis and Chromium are there"
