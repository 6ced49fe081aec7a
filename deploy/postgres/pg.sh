#!/usr/bin/env bash
# Throwaway local PostgreSQL cluster for Wirewatch: listens on 127.0.0.1 only,
# trust authentication, a role and a database both named "wirewatch".
#
# Usage: deploy/postgres/pg.sh {start|stop|status|url}
#
#   start    initialise the cluster if needed, start it and wait until it
#            accepts connections; reuse a running cluster, or whatever
#            PostgreSQL already answers on the port
#   stop     stop the cluster we started (pg_ctl stop -m fast)
#   status   exit 0 if a PostgreSQL server answers on the port, else 1
#   url      print the connection URL (postgresql://wirewatch@127.0.0.1:PORT/wirewatch)
#
# Environment:
#   WIREWATCH_PG_PORT           TCP port (default 55432)
#   WIREWATCH_PG_START_TIMEOUT  seconds to wait for readiness (default 30)
#   WIREWATCH_PG_STATE_DIR      data/log/socket directory (default: see below)
#   WIREWATCH_PG_BINDIR         directory holding initdb, pg_ctl, psql, ...
#                               (default: pg_config --bindir, else the newest
#                               /usr/lib/postgresql/*/bin, else initdb on PATH)
#
# When no PostgreSQL binaries are found and the script runs as root, Debian's
# "postgresql" package is installed with apt-get (and the cluster the package
# starts, if any, is stopped again: ours does not depend on it). PostgreSQL
# refuses to run as root, so as root initdb/pg_ctl run as the "postgres"
# system user (created when absent), which then owns the state directory.
#
# Everything the cluster writes lives in one state directory: data/ (the
# cluster), postgres.log, run/ (the unix socket). By default that is
# <repo>/.local/postgres/ (ignored by git). As root the server runs as the
# postgres user, which cannot enter a checkout in a private directory (a
# `mktemp -d` directory, /root/...); the state directory is then
# /var/tmp/wirewatch-postgres-<hash of the checkout's path>, owned by postgres
# with mode 0700, one per checkout. A cluster already initialised in either
# place is used where it is.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

PORT=${WIREWATCH_PG_PORT:-55432}
START_TIMEOUT=${WIREWATCH_PG_START_TIMEOUT:-30}
LOCAL_STATE_DIR=$REPO_ROOT/.local/postgres
# the checkout's own directory outside it, for when the postgres user cannot enter the checkout
SHARED_STATE_DIR=/var/tmp/wirewatch-postgres-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)

set_state_dir() {
  STATE_DIR=$1
  DATA_DIR=$STATE_DIR/data
  LOG_FILE=$STATE_DIR/postgres.log
  INITDB_LOG=$STATE_DIR/initdb.log
  SOCKET_DIR=$STATE_DIR/run
  LOCK_FILE=$STATE_DIR/pg.lock
}
set_state_dir "${WIREWATCH_PG_STATE_DIR:-$LOCAL_STATE_DIR}"

DB_USER=wirewatch
DB_NAME=wirewatch
SUPERUSER=postgres # bootstrap superuser created by initdb
OS_USER=postgres   # system user running the server when we are root

BINDIR=""

log() { echo "postgres: $*"; }
warn() { echo "postgres: warning: $*" >&2; }
die() { echo "postgres: error: $*" >&2; exit 1; }

if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
  die "WIREWATCH_PG_PORT must be a TCP port number, got '$PORT'"
fi
[[ $START_TIMEOUT =~ ^[0-9]+$ ]] \
  || die "WIREWATCH_PG_START_TIMEOUT must be a whole number of seconds, got '$START_TIMEOUT'"

url() { echo "postgresql://$DB_USER@127.0.0.1:$PORT/$DB_NAME"; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# ------------------------------------------------------------------ binaries

has_server_bins() {
  [[ -n $1 && -x $1/initdb && -x $1/pg_ctl && -x $1/postgres ]]
}

find_bindir() {
  local dir
  if [[ -n ${WIREWATCH_PG_BINDIR:-} ]]; then
    has_server_bins "$WIREWATCH_PG_BINDIR" || return 1
    echo "$WIREWATCH_PG_BINDIR"
    return 0
  fi
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    if has_server_bins "$dir"; then echo "$dir"; return 0; fi
  fi
  # newest major version first
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V -r | while read -r d; do
    if has_server_bins "$d"; then echo "$d"; break; fi
  done)
  if [[ -n $dir ]]; then echo "$dir"; return 0; fi
  if command -v initdb >/dev/null 2>&1; then
    dir=$(dirname "$(readlink -f "$(command -v initdb)")")
    if has_server_bins "$dir"; then echo "$dir"; return 0; fi
  fi
  return 1
}

online_debian_clusters() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters --no-header 2>/dev/null | awk '$4 == "online" { print $1 " " $2 }' || true
}

install_postgresql() {
  local apt_cmd="apt-get update && apt-get install -y --no-install-recommends postgresql"
  is_root || die "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with: sudo sh -c '$apt_cmd' (or set WIREWATCH_PG_BINDIR)"
  command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL server binaries not found and apt-get is unavailable; install PostgreSQL and set WIREWATCH_PG_BINDIR"
  local before after cluster
  before=$(online_debian_clusters)
  log "PostgreSQL binaries not found; running: $apt_cmd"
  DEBIAN_FRONTEND=noninteractive apt-get update -q 9>&- \
    || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql 9>&- \
    || die "apt-get install postgresql failed"
  # The package may create and start its own cluster (port 5432); ours does not need it.
  after=$(online_debian_clusters)
  while read -r cluster; do
    [[ -n $cluster ]] || continue
    if ! grep -qxF "$cluster" <<<"$before"; then
      log "stopping the cluster the Debian package started ($cluster)"
      # shellcheck disable=SC2086  # "version name"
      pg_ctlcluster $cluster stop 9>&- || warn "could not stop Debian cluster $cluster"
    fi
  done <<<"$after"
}

resolve_bindir() {
  [[ -n $BINDIR ]] && return 0
  if [[ -n ${WIREWATCH_PG_BINDIR:-} ]] && ! has_server_bins "$WIREWATCH_PG_BINDIR"; then
    die "WIREWATCH_PG_BINDIR=$WIREWATCH_PG_BINDIR has no initdb/pg_ctl/postgres"
  fi
  if ! BINDIR=$(find_bindir); then
    install_postgresql
    BINDIR=$(find_bindir) || die "PostgreSQL binaries still not found after installing the postgresql package"
  fi
}

# Client tools, from BINDIR when there, else from PATH.
client() {
  local tool=$1
  shift
  if [[ -n $BINDIR && -x $BINDIR/$tool ]]; then
    "$BINDIR/$tool" "$@"
  elif command -v "$tool" >/dev/null 2>&1; then
    "$tool" "$@"
  else
    die "$tool not found"
  fi
}

# ------------------------------------------------------------------ users

ensure_os_user() {
  is_root || return 0
  if ! id -u "$OS_USER" >/dev/null 2>&1; then
    log "creating system user $OS_USER"
    useradd --system --user-group --no-create-home --home-dir "$STATE_DIR" \
      --shell /usr/sbin/nologin "$OS_USER" \
      || die "could not create the system user $OS_USER"
  fi
}

# True when the postgres system user can reach (search) directory $1: every
# directory on the way must let it through.
owner_can_enter() {
  id -u "$OS_USER" >/dev/null 2>&1 || return 1
  if command -v setpriv >/dev/null 2>&1; then
    (cd / && setpriv --reuid="$OS_USER" --regid="$OS_USER" --init-groups -- test -x "$1") 2>/dev/null
  elif command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u "$OS_USER" -- test -x "$1") 2>/dev/null
  else
    return 1
  fi
}

# Where the state lives unless WIREWATCH_PG_STATE_DIR says: the checkout's
# .local/ when the server's user can reach it, else the shared directory.
resolve_state_dir() {
  [[ -z ${WIREWATCH_PG_STATE_DIR:-} ]] || return 0
  is_root || return 0
  if [[ -f $LOCAL_STATE_DIR/data/PG_VERSION ]]; then
    set_state_dir "$LOCAL_STATE_DIR"
  elif [[ -f $SHARED_STATE_DIR/data/PG_VERSION ]] || ! owner_can_enter "$REPO_ROOT"; then
    set_state_dir "$SHARED_STATE_DIR"
  else
    set_state_dir "$LOCAL_STATE_DIR"
  fi
}

# /var/tmp is writable by everyone: create our directory ourselves, and refuse
# one somebody else prepared (a symlink, another owner, open permissions).
make_shared_state_dir() {
  if [[ ! -e $SHARED_STATE_DIR && ! -L $SHARED_STATE_DIR ]]; then
    mkdir -m 0700 "$SHARED_STATE_DIR" || die "cannot create $SHARED_STATE_DIR"
    chown "$OS_USER:" "$SHARED_STATE_DIR" 2>/dev/null || true
  fi
  if [[ -L $SHARED_STATE_DIR || ! -d $SHARED_STATE_DIR ]]; then
    die "$SHARED_STATE_DIR is not a directory we made (a symlink?); remove it or set WIREWATCH_PG_STATE_DIR"
  fi
  local owner mode
  owner=$(stat -c %U "$SHARED_STATE_DIR")
  mode=$(stat -c %a "$SHARED_STATE_DIR")
  if [[ $owner != "$OS_USER" && $owner != root ]] || [[ $mode != 700 ]]; then
    die "$SHARED_STATE_DIR belongs to $owner with mode $mode (expected $OS_USER, 700); remove it or set WIREWATCH_PG_STATE_DIR"
  fi
}

# Runs a command as the cluster's owner: the postgres system user when we are
# root (PostgreSQL refuses to run as root), else ourselves. The working
# directory is the state directory, which that user can always enter.
as_owner() {
  if ! is_root; then
    (cd "$STATE_DIR" && "$@")
    return
  fi
  if command -v setpriv >/dev/null 2>&1; then
    (cd "$STATE_DIR" && HOME=$STATE_DIR USER=$OS_USER LOGNAME=$OS_USER \
      setpriv --reuid="$OS_USER" --regid="$OS_USER" --init-groups -- "$@")
  elif command -v runuser >/dev/null 2>&1; then
    (cd "$STATE_DIR" && HOME=$STATE_DIR runuser -u "$OS_USER" -- "$@")
  else
    die "neither setpriv nor runuser found: cannot drop root privileges for PostgreSQL"
  fi
}

prepare_state_dir() {
  mkdir -p "$STATE_DIR" "$SOCKET_DIR"
  if is_root; then
    chown -R "$OS_USER:" "$STATE_DIR"
    as_owner test -w "$STATE_DIR" \
      || die "user $OS_USER cannot write $STATE_DIR (a parent directory is not searchable by it?); set WIREWATCH_PG_STATE_DIR"
  fi
  chmod 0700 "$SOCKET_DIR"
}

lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$LOCK_FILE"
  if command -v flock >/dev/null 2>&1; then
    flock -w 120 9 || die "could not lock $LOCK_FILE"
  fi
}

# ------------------------------------------------------------------ cluster

initialised() { [[ -f $DATA_DIR/PG_VERSION ]]; }

init_cluster() {
  local major
  if initialised; then
    major=$("$BINDIR/pg_ctl" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
    if [[ $(cat "$DATA_DIR/PG_VERSION") != "$major" ]]; then
      die "$DATA_DIR was made by PostgreSQL $(cat "$DATA_DIR/PG_VERSION"), binaries in $BINDIR are $major; remove $STATE_DIR to start afresh"
    fi
    return 0
  fi
  log "initialising a new cluster in $DATA_DIR ($BINDIR)"
  rm -rf "$DATA_DIR"
  if ! as_owner "$BINDIR/initdb" -D "$DATA_DIR" -U "$SUPERUSER" \
      --auth-local=trust --auth-host=trust --encoding=UTF8 --no-locale \
      >"$INITDB_LOG" 2>&1 9>&-; then
    tail -n 40 "$INITDB_LOG" >&2
    die "initdb failed (log: $INITDB_LOG)"
  fi
  # Our settings live in their own file, rewritten at every start.
  echo "include_if_exists = 'wirewatch.conf'" >>"$DATA_DIR/postgresql.conf"
}

write_settings() {
  local sockets=$SOCKET_DIR
  # a unix socket path is limited to 107 bytes
  if ((${#SOCKET_DIR} + 20 > 107)); then
    warn "$SOCKET_DIR is too long for a unix socket; listening on TCP only"
    sockets=""
  fi
  local tmp=$DATA_DIR/wirewatch.conf.tmp
  cat >"$tmp" <<EOF
# written by deploy/postgres/pg.sh at every start
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$sockets'
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  is_root && chown "$OS_USER:" "$tmp"
  mv "$tmp" "$DATA_DIR/wirewatch.conf"
}

# True when our cluster's postmaster is alive.
cluster_running() {
  initialised || return 1
  as_owner "$BINDIR/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1
}

# The port our running cluster listens on (4th line of postmaster.pid).
cluster_port() {
  sed -n 4p "$DATA_DIR/postmaster.pid" 2>/dev/null | tr -dc '0-9'
}

# pg_isready: 0 accepting, 1 rejecting (starting up), 2 no response, 3 no attempt.
isready() {
  local rc=0
  client pg_isready -q -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -t 2 >/dev/null 2>&1 || rc=$?
  return $rc
}

port_open() {
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

psql_admin() {
  client psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres "$@"
}

bootstrap_db() {
  if [[ -z $(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'") ]]; then
    log "creating role $DB_USER"
    psql_admin -c "CREATE ROLE $DB_USER LOGIN SUPERUSER"
  fi
  if [[ -z $(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") ]]; then
    log "creating database $DB_NAME"
    psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
  fi
}

print_log_tail() {
  if [[ -s $LOG_FILE ]]; then
    echo "----- last 40 lines of $LOG_FILE -----" >&2
    tail -n 40 "$LOG_FILE" >&2
  fi
}

fail_start() {
  echo "postgres: error: $1" >&2
  print_log_tail
  if cluster_running; then
    as_owner "$BINDIR/pg_ctl" stop -D "$DATA_DIR" -m immediate -w -t 10 >/dev/null 2>&1 9>&- || true
  fi
  exit 1
}

# Waits until the server on PORT accepts connections.
wait_ready() {
  local deadline=$1 check_ours=$2 rc
  while :; do
    rc=0
    isready || rc=$?
    ((rc == 0)) && return 0
    if [[ $check_ours == yes ]] && ! cluster_running; then
      fail_start "the server exited during startup"
    fi
    ((SECONDS < deadline)) || fail_start "not accepting connections on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
    sleep 0.3
  done
}

cmd_start() {
  local started=$SECONDS
  local deadline=$((started + START_TIMEOUT))
  resolve_bindir
  ensure_os_user
  resolve_state_dir
  [[ $STATE_DIR != "$SHARED_STATE_DIR" ]] || make_shared_state_dir
  lock
  prepare_state_dir

  if cluster_running; then
    local running_port
    running_port=$(cluster_port)
    if [[ -n $running_port && $running_port != "$PORT" ]]; then
      die "the cluster in $DATA_DIR already runs on port $running_port; stop it first or set WIREWATCH_PG_PORT=$running_port"
    fi
    log "cluster in $DATA_DIR already running on 127.0.0.1:$PORT; reusing it"
    wait_ready "$deadline" yes
    bootstrap_db
    log "ready: $(url)"
    return 0
  fi

  local rc=0
  isready || rc=$?
  if ((rc == 0 || rc == 1)); then
    log "a PostgreSQL server (not the cluster in $DATA_DIR) already answers on 127.0.0.1:$PORT; reusing it"
    wait_ready "$deadline" no
    if ! client psql -X -q "$(url)" -tAc 'SELECT 1' >/dev/null 2>&1; then
      die "the server on 127.0.0.1:$PORT does not accept $(url); stop it or set WIREWATCH_PG_PORT"
    fi
    log "ready: $(url)"
    return 0
  fi
  if port_open "$PORT"; then
    die "127.0.0.1:$PORT is in use by something that is not PostgreSQL; set WIREWATCH_PG_PORT"
  fi

  init_cluster
  write_settings
  log "starting the cluster on 127.0.0.1:$PORT (log: $LOG_FILE)"
  # pg_ctl -w waits for the postmaster to report ready (and notices it dying);
  # 9>&- keeps the lock out of the server
  local wait_s=$((deadline - SECONDS))
  ((wait_s > 0)) || wait_s=1
  if ! as_owner "$BINDIR/pg_ctl" start -D "$DATA_DIR" -l "$LOG_FILE" -w -t "$wait_s" >/dev/null 2>&1 9>&-; then
    fail_start "pg_ctl start failed or the server was not ready within ${START_TIMEOUT}s"
  fi
  wait_ready "$deadline" yes
  bootstrap_db
  log "ready in $((SECONDS - started)) s: $(url)"
}

cmd_stop() {
  resolve_state_dir
  if [[ ! -d $STATE_DIR ]]; then
    log "not running (no cluster in $STATE_DIR)"
    return 0
  fi
  lock
  resolve_bindir
  if cluster_running; then
    log "stopping the cluster in $DATA_DIR"
    as_owner "$BINDIR/pg_ctl" stop -D "$DATA_DIR" -m fast -w -t 60 9>&- >/dev/null \
      || die "pg_ctl stop failed (log: $LOG_FILE)"
    log "stopped"
  elif isready; then
    log "not stopping the server on 127.0.0.1:$PORT: it is not the cluster in $DATA_DIR"
  else
    log "not running"
  fi
}

cmd_status() {
  BINDIR=$(find_bindir 2>/dev/null) || BINDIR=""
  resolve_state_dir
  local rc=0
  isready || rc=$?
  if ((rc == 0)); then
    if [[ -n $BINDIR ]] && cluster_running && [[ $(cluster_port) == "$PORT" ]]; then
      log "running on 127.0.0.1:$PORT (pid $(head -n 1 "$DATA_DIR/postmaster.pid"), data $DATA_DIR)"
    else
      log "a PostgreSQL server answers on 127.0.0.1:$PORT (not the cluster in $DATA_DIR)"
    fi
    echo "url: $(url)"
    return 0
  fi
  if ((rc == 1)); then
    log "starting up on 127.0.0.1:$PORT (not yet accepting connections)"
  else
    log "not running on 127.0.0.1:$PORT"
  fi
  return 1
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) url ;;
  *)
    echo "usage: $0 {start|stop|status|url}" >&2
    exit 2
    ;;
esac
