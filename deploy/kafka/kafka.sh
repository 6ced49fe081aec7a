#!/usr/bin/env bash
# Local Apache Kafka 4.x broker for Wirewatch: KRaft, a single node that is
# both broker and controller, listening on 127.0.0.1 only.
#
# Usage: deploy/kafka/kafka.sh {start|stop|status|restart|kill}
#
#   start    start the broker in the background and wait until it serves
#            metadata; reuse whatever already answers on the port
#   stop     SIGTERM the broker we started, SIGKILL after 30 s
#   status   exit 0 if something answers on the port, else 1
#   restart  stop, then start
#   kill     SIGKILL the broker we started (crash test)
#
# Environment:
#   WIREWATCH_KAFKA_PORT             client port (default 9092)
#   WIREWATCH_KAFKA_CONTROLLER_PORT  KRaft controller port (default 9093)
#   WIREWATCH_KAFKA_START_TIMEOUT    seconds to wait for readiness (default 180: a broker loading
#                                    thousands of partitions, as a long-used test broker does, takes minutes)
#   WIREWATCH_KAFKA_STATE_DIR        data/logs/pid directory
#                                    (default <repo>/.local/kafka)
#   WIREWATCH_KAFKA_JVM_OPTS         extra JVM options for the broker
#   KAFKA_HOME                       an unpacked Apache Kafka release; its
#                                    libs/ are used instead of Maven
#   JAVA_HOME                        the JDK to use (default: java on PATH)
#
# Jars come from Maven Central through deploy/kafka/pom.xml and are copied
# once to <repo>/.local/kafka/lib. Everything the broker writes lives under
# <repo>/.local/kafka/ (ignored by git).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

PORT=${WIREWATCH_KAFKA_PORT:-9092}
CONTROLLER_PORT=${WIREWATCH_KAFKA_CONTROLLER_PORT:-9093}
START_TIMEOUT=${WIREWATCH_KAFKA_START_TIMEOUT:-180}
STOP_TIMEOUT=30

LIB_DIR=$REPO_ROOT/.local/kafka/lib
STATE_DIR=${WIREWATCH_KAFKA_STATE_DIR:-$REPO_ROOT/.local/kafka}
DATA_DIR=$STATE_DIR/data
LOG_DIR=$STATE_DIR/logs
PID_FILE=$STATE_DIR/kafka.pid
CLUSTER_ID_FILE=$STATE_DIR/cluster.id
CONFIG=$STATE_DIR/server.properties
LOCK_FILE=$STATE_DIR/kafka.lock
POM=$SCRIPT_DIR/pom.xml
CONFIG_TEMPLATE=$SCRIPT_DIR/server.properties
LOG4J_CONFIG=$SCRIPT_DIR/log4j2.properties
LIB_MARKER=$LIB_DIR/.wirewatch-complete

CLASSPATH_SPEC=""

log() { echo "kafka: $*"; }
die() { echo "kafka: error: $*" >&2; exit 1; }

check_port_var() {
  local name=$1 value=$2
  [[ $value =~ ^[0-9]+$ ]] && ((value > 0 && value < 65536)) \
    || die "$name must be a TCP port number, got '$value'"
}

java_bin() {
  if [[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME}/bin/java ]]; then
    echo "$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "java not found (install a JDK 17+ or set JAVA_HOME)"
  fi
}

python_bin() {
  local p
  for p in python3 python; do
    if command -v "$p" >/dev/null 2>&1; then command -v "$p"; return 0; fi
  done
  return 1
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True when a Kafka broker on 127.0.0.1:$1 answers a Metadata request and
# lists at least one live broker. Standard library only. Without a Python
# interpreter this check is skipped (the TopicCommand check still runs).
metadata_ready() {
  local py
  py=$(python_bin) || return 0
  timeout 10 "$py" - "$1" <<'PY' >/dev/null 2>&1
import socket, struct, sys

port = int(sys.argv[1])

def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b

# MetadataRequest v4 (header v1): no topics, no auto-creation.
body = struct.pack(">hhi", 3, 4, 1) + string("wirewatch-probe")
body += struct.pack(">ib", 0, 0)
with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
    s.settimeout(5)
    s.sendall(struct.pack(">i", len(body)) + body)
    buf = b""
    while len(buf) < 4:
        chunk = s.recv(4 - len(buf))
        if not chunk:
            sys.exit(1)
        buf += chunk
    (size,) = struct.unpack(">i", buf)
    data = b""
    while len(data) < size:
        chunk = s.recv(size - len(data))
        if not chunk:
            sys.exit(1)
        data += chunk
# correlation id, throttle time, broker count
corr, _throttle, brokers = struct.unpack(">iii", data[:12])
sys.exit(0 if corr == 1 and brokers >= 1 else 1)
PY
}

read_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(tr -dc '0-9' <"$PID_FILE")
  [[ -n $pid ]] || return 1
  echo "$pid"
}

# True when $1 is a live (not zombie) process that is our Kafka broker.
is_our_broker() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r /proc/$pid/stat ]]; then
    local stat
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]] || return 1
  fi
  if [[ -r /proc/$pid/cmdline ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  fi
  return 0
}

running_pid() {
  local pid
  pid=$(read_pid) || return 1
  is_our_broker "$pid" || return 1
  echo "$pid"
}

# True when process $1 has fully exited. A killed JVM's main thread can show
# as a zombie while its other threads are still tearing down (and still hold
# the listening sockets), so every thread is checked, not just the leader.
process_gone() {
  local pid=$1 t stat
  kill -0 "$pid" 2>/dev/null || return 0
  [[ -d /proc/$pid/task ]] || return 1
  for t in /proc/"$pid"/task/*/stat; do
    stat=$(cat "$t" 2>/dev/null) || continue
    stat=${stat##*) }
    [[ ${stat:0:1} == Z ]] || return 1
  done
  return 0
}

# Waits up to $2 seconds for process $1 to exit and for the broker's ports
# to be released.
wait_gone() {
  local pid=$1 seconds=$2 i
  for ((i = 0; i < seconds * 10; i++)); do
    if process_gone "$pid"; then
      for ((; i < seconds * 10; i++)); do
        port_open "$PORT" || port_open "$CONTROLLER_PORT" || return 0
        sleep 0.1
      done
      return 0
    fi
    sleep 0.1
  done
  return 1
}

lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$LOCK_FILE"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || die "could not lock $LOCK_FILE"
  fi
}

resolve_classpath() {
  if [[ -n ${KAFKA_HOME:-} ]]; then
    [[ -d $KAFKA_HOME/libs ]] || die "KAFKA_HOME=$KAFKA_HOME has no libs/ directory"
    CLASSPATH_SPEC="$KAFKA_HOME/libs/*"
    return 0
  fi

  local want
  want=$(sha256sum "$POM" | cut -d' ' -f1)
  if [[ -f $LIB_MARKER && $(cat "$LIB_MARKER") == "$want" ]]; then
    CLASSPATH_SPEC="$LIB_DIR/*"
    return 0
  fi

  command -v mvn >/dev/null 2>&1 \
    || die "mvn not found: install Maven, or set KAFKA_HOME to an unpacked Kafka release"
  log "resolving Kafka jars from Maven Central into $LIB_DIR"
  local tmp=$LIB_DIR.tmp.$$ started=$SECONDS
  rm -rf "$tmp"
  mkdir -p "$(dirname "$LIB_DIR")"
  local mvn_log=$REPO_ROOT/.local/kafka/mvn.log
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1 9>&-; then
    rm -rf "$tmp"
    tail -n 40 "$mvn_log" >&2
    die "mvn dependency:copy-dependencies failed for $POM (log: $mvn_log)"
  fi
  echo "$want" >"$tmp/.wirewatch-complete"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  log "resolved $(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - started)) s"
  CLASSPATH_SPEC="$LIB_DIR/*"
}

render_config() {
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  local tmp=$CONFIG.tmp.$$
  sed -e "s|@KAFKA_PORT@|$PORT|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@KAFKA_LOG_DIRS@|$DATA_DIR|g" \
      "$CONFIG_TEMPLATE" >"$tmp"
  mv "$tmp" "$CONFIG"
}

# Runs a Kafka command-line tool class with a small, fast-starting JVM,
# logging to logs/tools.log.
run_tool() {
  "$(java_bin)" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
    -Dkafka.logs.dir="$LOG_DIR" -Dwirewatch.kafka.logfile=tools \
    -cp "$CLASSPATH_SPEC" "$@" 9>&-
}

format_storage() {
  if [[ -f $DATA_DIR/meta.properties ]]; then
    if [[ ! -s $CLUSTER_ID_FILE ]]; then
      sed -n 's/^cluster\.id=//p' "$DATA_DIR/meta.properties" >"$CLUSTER_ID_FILE"
    fi
    return 0
  fi
  local cluster_id
  if [[ -s $CLUSTER_ID_FILE ]]; then
    cluster_id=$(tr -d '[:space:]' <"$CLUSTER_ID_FILE")
  else
    cluster_id=$(run_tool kafka.tools.StorageTool random-uuid | tail -n 1 | tr -d '[:space:]')
    [[ -n $cluster_id ]] || die "could not generate a cluster id"
    echo "$cluster_id" >"$CLUSTER_ID_FILE"
  fi
  log "formatting storage in $DATA_DIR (cluster id $cluster_id)"
  local out
  if ! out=$(run_tool kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$CONFIG" --ignore-formatted 2>&1); then
    echo "$out" >&2
    die "storage format failed"
  fi
}

has_topic_command() {
  local jar
  for jar in "${CLASSPATH_SPEC%\*}"kafka-tools-[0-9]*.jar; do
    [[ -f $jar ]] && return 0
  done
  return 1
}

print_log_tail() {
  local f
  for f in "$LOG_DIR/server.log" "$LOG_DIR/kafka.out"; do
    if [[ -s $f ]]; then
      echo "----- last 40 lines of $f -----" >&2
      tail -n 40 "$f" >&2
    fi
  done
}

fail_start() {
  local pid=${1:-}
  echo "kafka: error: $2" >&2
  print_log_tail
  if [[ -n $pid ]] && is_our_broker "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  exit 1
}

cmd_start() {
  if port_open "$PORT"; then
    log "reusing broker on 127.0.0.1:$PORT"
    # the checkout's own jars all the same: tests that kill a broker start one of their own from them
    (resolve_classpath) || log "no local Kafka jars: the tests that need a broker of their own will skip"
    return 0
  fi

  local started=$SECONDS pid=""
  pid=$(running_pid) || pid=""
  resolve_classpath

  if [[ -z $pid ]]; then
    rm -f "$PID_FILE"
    if port_open "$CONTROLLER_PORT"; then
      die "controller port 127.0.0.1:$CONTROLLER_PORT is already in use (set WIREWATCH_KAFKA_CONTROLLER_PORT)"
    fi
    render_config
    format_storage

    local java launcher=()
    java=$(java_bin)
    command -v setsid >/dev/null 2>&1 && launcher=(setsid)
    # shellcheck disable=SC2086  # WIREWATCH_KAFKA_JVM_OPTS is a word list
    nohup "${launcher[@]}" "$java" -Xmx1g -Xms256m \
      -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
      -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
      -Dkafka.logs.dir="$LOG_DIR" -Dwirewatch.kafka.logfile=server \
      ${WIREWATCH_KAFKA_JVM_OPTS:-} \
      -cp "$CLASSPATH_SPEC" kafka.Kafka "$CONFIG" \
      >>"$LOG_DIR/kafka.out" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    log "started broker (pid $pid), waiting for 127.0.0.1:$PORT"
  else
    log "broker process $pid already starting, waiting for 127.0.0.1:$PORT"
  fi

  local deadline=$((started + START_TIMEOUT))
  until port_open "$PORT" && metadata_ready "$PORT"; do
    is_our_broker "$pid" || fail_start "" "broker process $pid exited during startup"
    ((SECONDS < deadline)) || fail_start "$pid" "broker not ready on 127.0.0.1:$PORT after ${START_TIMEOUT}s (if its log shows it still loading partitions, raise WIREWATCH_KAFKA_START_TIMEOUT)"
    sleep 0.5
  done

  if has_topic_command; then
    until timeout 30 "$(java_bin)" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
        -Dkafka.logs.dir="$LOG_DIR" -Dwirewatch.kafka.logfile=tools \
        -cp "$CLASSPATH_SPEC" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "127.0.0.1:$PORT" --list >/dev/null 2>&1 9>&-; do
      is_our_broker "$pid" || fail_start "" "broker process $pid exited during startup"
      ((SECONDS < deadline)) || fail_start "$pid" "topic listing failed on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
      sleep 1
    done
  fi
  log "running on 127.0.0.1:$PORT (pid $pid, ready in $((SECONDS - started)) s)"
}

cmd_stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    if port_open "$PORT"; then
      log "not stopping the broker on 127.0.0.1:$PORT: it was not started by this script"
    else
      log "not running"
    fi
    return 0
  fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
    log "broker did not stop within ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "could not kill pid $pid"
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_kill() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "killing broker (pid $pid) with SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 || die "pid $pid still alive after SIGKILL"
  rm -f "$PID_FILE"
  log "killed"
}

cmd_status() {
  if port_open "$PORT"; then
    local pid
    if pid=$(running_pid); then
      log "running on 127.0.0.1:$PORT (pid $pid)"
    else
      log "running on 127.0.0.1:$PORT (not started by this script)"
    fi
    return 0
  fi
  log "not running on 127.0.0.1:$PORT"
  return 1
}

main() {
  check_port_var WIREWATCH_KAFKA_PORT "$PORT"
  check_port_var WIREWATCH_KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
  case ${1:-} in
    start) lock; cmd_start ;;
    stop) lock; cmd_stop ;;
    restart) lock; cmd_stop; cmd_start ;;
    kill) lock; cmd_kill ;;
    status) cmd_status ;;
    *)
      echo "usage: $0 {start|stop|status|restart|kill}" >&2
      exit 2
      ;;
  esac
}

main "$@"
