#!/usr/bin/env bash
# Local PostgreSQL + Apache Kafka (KRaft, single node) for Policy Ledger.
# No Docker: PostgreSQL from Debian, Kafka jars from Maven Central.
#
# Usage: scripts/infra.sh <command>
#   up            install deps (unless LEDGER_SKIP_DEPS=1), start PostgreSQL + Kafka (idempotent)
#   down          stop both (idempotent)
#   status        print the state of both; exit 0 if both up, 3 otherwise
#   env           print `export` lines: eval "$(scripts/infra.sh env)" (PostgreSQL URLs
#                 carry the generated passwords; PGPASSFILE and LEDGER_PG_SECRETS_FILE
#                 name the profile's password file)
#   pg-start | pg-stop         start/stop only PostgreSQL of the profile
#   kafka-start | kafka-stop   start/stop only Kafka of the profile
#   clean         down, then delete the profile's state (databases, topics, logs)
#   kafka-add-user NAME   a SCRAM user NAME with a generated password (the file
#                 .local/<profile>/kafka/secrets/NAME.password, 0600); then
#                 `ledger-admin add-producer --name NAME ...` for a command producer
#
# Environment:
#   LEDGER_PROFILE   dev (default) | test   (test: PostgreSQL without fsync)
#   LEDGER_PG_PORT, LEDGER_KAFKA_PORT, LEDGER_KAFKA_CONTROLLER_PORT   port overrides
#   LEDGER_KAFKA_VERSION   default 3.9.1 (4.x: see KAFKA_VERSION below, SCRAM fails with librdkafka 2.0.2)
#   LEDGER_SKIP_DEPS=1     `up` does not run scripts/deps.sh
#   LEDGER_PG_BIN          PostgreSQL bin dir (default /usr/lib/postgresql/15/bin)
#
# State lives in $REPO/.local/<profile>/ ; downloaded jars in $REPO/.local/cache/.
# PostgreSQL authenticates every TCP connection with SCRAM-SHA-256: the
# superuser's and every service role's password are generated on first use
# into $REPO/.local/<profile>/secrets/pgpass (mode 600, libpq's password-file
# format); only the superuser may log in over the local socket, by peer.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd -P)"

PROFILE="${LEDGER_PROFILE:-dev}"
case "$PROFILE" in
  dev)  def_pg=54329; def_kafka=19092; def_ctrl=19093 ;;
  test) def_pg=54339; def_kafka=19192; def_ctrl=19193 ;;
  *) echo "[infra] LEDGER_PROFILE must be 'dev' or 'test', got '$PROFILE'" >&2; exit 2 ;;
esac
PG_PORT="${LEDGER_PG_PORT:-$def_pg}"
KAFKA_PORT="${LEDGER_KAFKA_PORT:-$def_kafka}"
KAFKA_CTRL_PORT="${LEDGER_KAFKA_CONTROLLER_PORT:-$def_ctrl}"
PG_DB=ledger
PG_SUPERUSER=postgres

LOCAL_DIR="$REPO/.local"
STATE="$LOCAL_DIR/$PROFILE"
CACHE="$LOCAL_DIR/cache"

# 3.9.1, not 4.x: Debian's librdkafka 2.0.2 builds a SCRAM client-final nonce
# that Kafka 4.x rejects (strict RFC 5802 check; librdkafka fixed it in 2.6.1),
# so every SCRAM login from the services fails against a 4.x broker while the
# Java tools succeed. Checked here against 4.1.1 (fails) and 3.9.1 (works).
KAFKA_VERSION="${LEDGER_KAFKA_VERSION:-3.9.1}"
LOG4J_VERSION=2.24.3
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DIR="$STATE/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_CONF_DIR="$KAFKA_DIR/config"
KAFKA_CONF="$KAFKA_CONF_DIR/server.properties"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_SECRETS="$KAFKA_DIR/secrets"
KAFKA_TLS="$KAFKA_DIR/tls"
KAFKA_ADMIN_PROPS="$KAFKA_CONF_DIR/admin.properties"
KAFKA_KCAT_CONF="$KAFKA_CONF_DIR/kcat.conf"
KAFKA_OUT="$KAFKA_LOGS/kafka.out"
KAFKA_START_TIMEOUT=90
KAFKA_STOP_TIMEOUT=60

PG_BIN="${LEDGER_PG_BIN:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$PG_BIN/pg_ctl" ]; then
  alt="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [ -n "$alt" ] && PG_BIN="$alt"
fi
PG_LINK="$STATE/pg"          # real dir, or a symlink to a place the postgres user can write
PG_SECRETS_DIR="$STATE/secrets"
PG_PASSFILE="$PG_SECRETS_DIR/pgpass"   # host:port:database:user:password, mode 600
# Every role that logs in: the superuser and the migration's service roles
# (adapters/postgres/sql/001_event_store.sql creates the same ones).
PG_ROLES=(postgres ledger_app ledger_command ledger_relay ledger_projector ledger_query ledger_auditor)
PG_START_TIMEOUT=60

REPO_HASH="$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
FALLBACK_BASE="/var/tmp/policy-ledger/$REPO_HASH"

log() { echo "[infra] $*" >&2; }
die() { echo "[infra] ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

IS_ROOT=0; [ "$(id -u)" -eq 0 ] && IS_ROOT=1

# Run a command as the PostgreSQL OS user (postgres when we are root, else ourselves).
as_pg() {
  if [ "$IS_ROOT" -eq 1 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi
}

pid_alive() {  # running and not a zombie
  local pid="$1" st
  [ -n "$pid" ] && [ -e "/proc/$pid" ] || return 1
  st="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

with_lock() {  # with_lock <file> <cmd...>: serialise against other infra.sh runs
  local f="$1"; shift
  mkdir -p "$(dirname "$f")"
  (
    flock -w 600 9 || die "could not lock $f"
    "$@"
  ) 9>"$f"
}

# ---------------------------------------------------------------- PostgreSQL

# Resolve (and on first use create) the PostgreSQL folder of this profile.
# Prefers $STATE/pg; when the postgres user cannot reach or write it (e.g. repo
# under a private home), uses $FALLBACK_BASE/<profile>/pg and symlinks it.
pg_prepare_dir() {
  mkdir -p "$STATE"
  chmod a+rx "$LOCAL_DIR" "$STATE" 2>/dev/null || true
  if [ -L "$PG_LINK" ]; then
    mkdir -p "$(readlink "$PG_LINK")"
  elif [ ! -d "$PG_LINK" ]; then
    mkdir -p "$PG_LINK"
    if [ "$IS_ROOT" -eq 1 ]; then
      chown postgres:postgres "$PG_LINK"
      if ! runuser -u postgres -- test -w "$PG_LINK" -a -x "$PG_LINK" 2>/dev/null; then
        rmdir "$PG_LINK"
        local alt="$FALLBACK_BASE/$PROFILE/pg"
        log "postgres user cannot write $PG_LINK; using $alt (symlinked)"
        mkdir -p "$alt"
        chmod 755 /var/tmp/policy-ledger "$FALLBACK_BASE" "$FALLBACK_BASE/$PROFILE"
        ln -s "$alt" "$PG_LINK"
      fi
    fi
  fi
  PG_DIR="$(cd "$PG_LINK" && pwd -P)"
  PG_DATA="$PG_DIR/data"
  PG_LOG="$PG_DIR/postgres.log"
  PG_SOCK="$PG_DIR/run"
  # Unix socket paths are limited to 107 bytes.
  if [ "$(printf '%s' "$PG_SOCK/.s.PGSQL.$PG_PORT.lock" | wc -c)" -gt 100 ]; then
    PG_SOCK="$FALLBACK_BASE/$PROFILE/pgsock"
  fi
  mkdir -p "$PG_SOCK"
  [ "$IS_ROOT" -eq 1 ] && chown postgres:postgres "$PG_DIR" "$PG_SOCK"
  return 0
}

pg_resolve_dir() {  # read-only variant: no creation
  PG_DIR=""; PG_DATA=""; PG_LOG=""
  [ -e "$PG_LINK" ] || return 1
  PG_DIR="$(cd "$PG_LINK" && pwd -P)"
  PG_DATA="$PG_DIR/data"
  PG_LOG="$PG_DIR/postgres.log"
}

pg_running() { [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }
pg_ready()   { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres -t 2 >/dev/null 2>&1; }

# Generates the password of every role that has none yet (kept across
# restarts; `clean` removes them with the rest of the profile).
pg_secrets_ensure() {
  mkdir -p "$PG_SECRETS_DIR"
  chmod 700 "$PG_SECRETS_DIR"
  [ -f "$PG_PASSFILE" ] || : >"$PG_PASSFILE"
  chmod 600 "$PG_PASSFILE"
  local role
  for role in "${PG_ROLES[@]}"; do
    if ! pg_password "$role" >/dev/null; then
      printf '*:*:*:%s:%s\n' "$role" "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >>"$PG_PASSFILE"
    fi
  done
  export PGPASSFILE="$PG_PASSFILE"
}

pg_password() {  # pg_password <role>: its generated password (exit 1 if none)
  [ -f "$PG_PASSFILE" ] || return 1
  awk -F: -v r="$1" '$4 == r { print $5; found = 1; exit } END { exit !found }' "$PG_PASSFILE"
}

# As the superuser over the local socket (peer): works before any password is set.
pg_psql_local() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres "$@"; }

# Sets the superuser's and every service role's password (creating a missing
# service role, which the migration then grants its rights), idempotently.
pg_set_passwords() {
  local role sql=""
  for role in "${PG_ROLES[@]}"; do
    local pw; pw="$(pg_password "$role")" || die "no password for $role in $PG_PASSFILE"
    if [ "$role" != "$PG_SUPERUSER" ]; then
      sql+="DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN CREATE ROLE $role LOGIN; END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$;"$'\n'
    fi
    sql+="ALTER ROLE $role PASSWORD '$pw';"$'\n'
  done
  printf '%s' "$sql" | pg_psql_local -f - >/dev/null || die "could not set the PostgreSQL role passwords"
}

pg_write_hba() {
  local f="$PG_DATA/pg_hba.conf" me; me="$(id -un)"
  {
    echo "# Written by scripts/infra.sh on every start (profile $PROFILE). Do not edit."
    echo "# TYPE  DATABASE  USER       ADDRESS        METHOD"
    echo "local   all       $PG_SUPERUSER                 peer map=ledger_infra"
    echo "host    all       all        127.0.0.1/32   scram-sha-256"
    echo "host    all       all        ::1/128        scram-sha-256"
  } >"$f"
  {
    echo "# Written by scripts/infra.sh: the OS users that may be the superuser over the local socket."
    echo "ledger_infra  postgres  $PG_SUPERUSER"
    if [ "$me" != postgres ]; then echo "ledger_infra  $me  $PG_SUPERUSER"; fi
  } >"$PG_DATA/pg_ident.conf"
  [ "$IS_ROOT" -eq 1 ] && chown postgres:postgres "$f" "$PG_DATA/pg_ident.conf"
  return 0
}

pg_write_conf() {
  local f="$PG_DATA/ledger.conf"
  {
    echo "# Written by scripts/infra.sh on every start (profile $PROFILE). Do not edit."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PG_PORT"
    echo "unix_socket_directories = '$PG_SOCK'"
    echo "max_connections = 200"
    echo "password_encryption = 'scram-sha-256'"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    echo "log_timezone = 'UTC'"
    echo "timezone = 'UTC'"
    if [ "$PROFILE" = test ]; then
      echo "# test profile: speed over durability"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
      echo "# and disk over recycled WAL: a run creates a few hundred databases"
      echo "max_wal_size = '256MB'"
      echo "min_wal_size = '32MB'"
    else
      echo "fsync = on"
      echo "synchronous_commit = on"
      echo "full_page_writes = on"
    fi
  } >"$f"
  [ "$IS_ROOT" -eq 1 ] && chown postgres:postgres "$f"
  grep -q "^include_if_exists = 'ledger.conf'" "$PG_DATA/postgresql.conf" ||
    echo "include_if_exists = 'ledger.conf'" >>"$PG_DATA/postgresql.conf"
  pg_write_hba
}

pg_start() {
  [ -x "$PG_BIN/pg_ctl" ] || die "PostgreSQL binaries not found in $PG_BIN (run scripts/deps.sh)"
  pg_prepare_dir
  pg_secrets_ensure
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "PostgreSQL: initdb $PG_DATA"
    local extra=()
    [ "$PROFILE" = test ] && extra+=(--no-sync)
    # No trust anywhere, from the first start on (pg_hba.conf is rewritten below).
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" --auth-local=peer --auth-host=scram-sha-256 -U "$PG_SUPERUSER" -E UTF8 \
      --locale=C "${extra[@]}" >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  if pg_running; then
    if pg_ready; then
      log "PostgreSQL ($PROFILE) already running on 127.0.0.1:$PG_PORT"
      # A server started by an older script (trust): passwords first, then
      # the SCRAM-only pg_hba.conf.
      pg_set_passwords
      pg_write_hba
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null
      pg_ensure_db
      return 0
    fi
    log "PostgreSQL ($PROFILE) running but not answering on port $PG_PORT yet; waiting"
  else
    pg_write_conf
    [ "$IS_ROOT" -eq 1 ] && { touch "$PG_LOG"; chown postgres:postgres "$PG_LOG"; }
    log "PostgreSQL ($PROFILE): starting on 127.0.0.1:$PG_PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -W start >/dev/null 9>&-  # don't leak the lock fd
  fi
  local t0 deadline; t0="$(now)"; deadline=$((SECONDS + PG_START_TIMEOUT))
  until pg_ready; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$PG_LOG" >&2 || true
      die "PostgreSQL did not become ready within ${PG_START_TIMEOUT}s (log: $PG_LOG)"
    fi
    if ! pg_running && [ "$(elapsed "$t0" | cut -d. -f1)" -ge 2 ]; then
      tail -n 30 "$PG_LOG" >&2 || true
      die "PostgreSQL exited during start-up (log: $PG_LOG)"
    fi
    sleep 0.1
  done
  log "PostgreSQL ($PROFILE) ready in $(elapsed "$t0")s"
  pg_set_passwords
  pg_ensure_db
}

pg_ensure_db() {
  local exists
  exists="$(PGPASSFILE="$PG_PASSFILE" "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")"
  if [ "$exists" != 1 ]; then
    PGPASSFILE="$PG_PASSFILE" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" "$PG_DB"
    log "PostgreSQL: created database $PG_DB"
  fi
}

pg_stop() {
  pg_resolve_dir || { log "PostgreSQL ($PROFILE): not initialised"; return 0; }
  if ! pg_running; then
    log "PostgreSQL ($PROFILE): not running"
    return 0
  fi
  local t0; t0="$(now)"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" stop -m fast -w -t 60 >/dev/null ||
    die "pg_ctl stop failed (log: $PG_LOG)"
  log "PostgreSQL ($PROFILE): stopped in $(elapsed "$t0")s"
}

pg_status() {
  pg_resolve_dir || true
  if pg_running; then
    local pid; pid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || echo '?')"
    if pg_ready; then
      echo "[infra] postgresql ($PROFILE): UP    pid $pid, 127.0.0.1:$PG_PORT, data $PG_DATA"
      return 0
    fi
    echo "[infra] postgresql ($PROFILE): STARTED but not answering on 127.0.0.1:$PG_PORT (pid $pid)"
    return 1
  fi
  echo "[infra] postgresql ($PROFILE): DOWN  (port $PG_PORT${PG_DATA:+, data $PG_DATA})"
  return 1
}

# --------------------------------------------------------------------- Kafka

kafka_is_legacy() { [ "${KAFKA_VERSION%%.*}" -lt 4 ]; }

kafka_fetch_libs() {
  local marker="$KAFKA_LIBS/.complete" want
  want="kafka=$KAFKA_VERSION pom=$(sha256sum "$KAFKA_POM" | cut -c1-16)"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found (run scripts/deps.sh)"
  log "Kafka: fetching kafka_2.13 + kafka-tools $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  local t0 tmp; t0="$(now)"; tmp="$KAFKA_HOME/libs.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp" "$CACHE/m2"
  local mvn_args=(-B -q -f "$KAFKA_POM" -Dmaven.repo.local="$CACHE/m2"
    -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION"
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp")
  kafka_is_legacy && mvn_args+=(-Dkafka.legacy.logging=true)
  if ! mvn "${mvn_args[@]}" </dev/null >"$KAFKA_HOME/mvn.log" 2>&1; then
    tail -n 40 "$KAFKA_HOME/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn copy-dependencies failed (log: $KAFKA_HOME/mvn.log)"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$tmp/kafka-tools-$KAFKA_VERSION.jar" ] ||
    die "kafka jars missing after mvn run (see $KAFKA_HOME/mvn.log)"
  echo "$want" >"$tmp/.complete"
  rm -rf "$KAFKA_LIBS"; mv "$tmp" "$KAFKA_LIBS"
  log "Kafka: $(ls "$KAFKA_LIBS"/*.jar | wc -l) jars ready in $(elapsed "$t0")s"
}

# ------------------------------------------------------- Kafka security
#
# The broker listens SASL_SSL (SCRAM-SHA-512 over TLS) for clients; the
# controller listener (loopback, the node talking to itself) is SASL_SSL with
# PLAIN and one static entry, the admin. StandardAuthorizer, deny by default,
# the admin the only super user. Generated here on first use, then reused:
#   $KAFKA_SECRETS/<principal>.password   SCRAM password of each principal (0600)
#   $KAFKA_TLS/ca.crt, ca.key             the local CA (the key stays in the folder)
#   $KAFKA_TLS/broker.p12, truststore.p12 broker key + certificate, the CA for the JVM
# Rotation: README "Kafka security". Delete $KAFKA_TLS to re-issue certificates.

KAFKA_ADMIN_USER=ledger-admin
# One SCRAM principal per service; the admin (also the tests' harness) is the super user.
KAFKA_SERVICE_USERS=(ledger-command ledger-relay ledger-projector ledger-query ledger-audit)

kafka_secret() {  # kafka_secret <name>: prints the secret, generating it (0600) on first use
  local f="$KAFKA_SECRETS/$1.password"
  if [ ! -s "$f" ]; then
    mkdir -p "$KAFKA_SECRETS"; chmod 700 "$KAFKA_SECRETS"
    (umask 077; openssl rand -hex 24 >"$f.tmp.$$") && mv "$f.tmp.$$" "$f"
  fi
  chmod 600 "$f"
  cat "$f"
}

kafka_make_tls() {  # idempotent: the CA and the broker certificate, once
  [ -s "$KAFKA_TLS/broker.p12" ] && [ -s "$KAFKA_TLS/truststore.p12" ] && [ -s "$KAFKA_TLS/ca.crt" ] && return 0
  command -v openssl >/dev/null || die "openssl not found"
  command -v keytool >/dev/null || die "keytool not found (JDK)"
  log "Kafka: generating a local CA and the broker certificate in $KAFKA_TLS"
  rm -rf "$KAFKA_TLS"; mkdir -p "$KAFKA_TLS"; chmod 700 "$KAFKA_TLS"
  local store_pw; store_pw="$(kafka_secret tls-store)"
  (
    cd "$KAFKA_TLS"; umask 077
    openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 825 -keyout ca.key -out ca.crt \
      -subj "/CN=Policy Ledger local Kafka CA ($PROFILE)" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -sha256 -nodes -keyout broker.key -out broker.csr \
      -subj "/CN=localhost" >/dev/null 2>&1
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth" >broker.ext
    openssl x509 -req -sha256 -days 825 -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -extfile broker.ext -out broker.crt >/dev/null 2>&1
    openssl pkcs12 -export -in broker.crt -inkey broker.key -certfile ca.crt -name broker \
      -out broker.p12 -passout "pass:$store_pw"
    keytool -importcert -noprompt -alias ledger-ca -file ca.crt -keystore truststore.p12 \
      -storetype PKCS12 -storepass "$store_pw" >/dev/null 2>&1
    rm -f broker.csr broker.ext
    chmod 644 ca.crt   # public: clients verify the broker with it
  ) || die "certificate generation failed in $KAFKA_TLS"
  chmod 755 "$KAFKA_TLS"   # ca.crt readable; the keys and stores are 0600
}

kafka_jaas_escape() { printf '%s' "$1" | sed 's/["\\]/\\&/g'; }

kafka_write_conf() {
  mkdir -p "$KAFKA_CONF_DIR" "$KAFKA_DATA" "$KAFKA_LOGS"
  kafka_make_tls
  local admin_pw store_pw
  admin_pw="$(kafka_jaas_escape "$(kafka_secret "$KAFKA_ADMIN_USER")")"
  store_pw="$(kafka_secret tls-store)"
  (umask 077; cat >"$KAFKA_CONF.tmp") <<CONF
# Written by scripts/infra.sh on every start (profile $PROFILE). Do not edit.
# Holds the admin's password: mode 0600.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CTRL_PORT
listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CTRL_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
# Clients: SCRAM-SHA-512, credentials in the cluster metadata.
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_ADMIN_USER" password="$admin_pw";
# Controller (this node talking to itself): PLAIN with one static entry, the admin.
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$KAFKA_ADMIN_USER" password="$admin_pw" user_$KAFKA_ADMIN_USER="$admin_pw";
# TLS with the locally generated CA.
ssl.keystore.type=PKCS12
ssl.keystore.location=$KAFKA_TLS/broker.p12
ssl.keystore.password=$store_pw
ssl.truststore.type=PKCS12
ssl.truststore.location=$KAFKA_TLS/truststore.p12
ssl.truststore.password=$store_pw
ssl.endpoint.identification.algorithm=https
ssl.client.auth=none
# Deny unless an ACL allows; the admin is the only super user.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$KAFKA_ADMIN_USER
log.dirs=$KAFKA_DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
CONF
  mv "$KAFKA_CONF.tmp" "$KAFKA_CONF"
  # The admin client's settings for the Java tools (ConfigCommand, AclCommand).
  (umask 077; cat >"$KAFKA_ADMIN_PROPS.tmp") <<CONF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_ADMIN_USER" password="$admin_pw";
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS/ca.crt
CONF
  mv "$KAFKA_ADMIN_PROPS.tmp" "$KAFKA_ADMIN_PROPS"
  # The same for kcat (librdkafka names): readiness probe and debugging.
  (umask 077; cat >"$KAFKA_KCAT_CONF.tmp") <<CONF
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$KAFKA_ADMIN_USER
sasl.password=$(kafka_secret "$KAFKA_ADMIN_USER")
ssl.ca.location=$KAFKA_TLS/ca.crt
CONF
  mv "$KAFKA_KCAT_CONF.tmp" "$KAFKA_KCAT_CONF"
}

kafka_java_opts() {
  KAFKA_JAVA=(java)
  [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && KAFKA_JAVA=("$JAVA_HOME/bin/java")
  KAFKA_JAVA+=(-Xms256m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true
    -Dkafka.logs.dir="$KAFKA_LOGS")
  if kafka_is_legacy; then
    KAFKA_JAVA+=(-Dlog4j.configuration="file:$SCRIPT_DIR/kafka/log4j.properties")
  else
    KAFKA_JAVA+=(-Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties")
  fi
  KAFKA_JAVA+=(-cp "$KAFKA_LIBS/*")
}

kafka_format() {
  if [ -f "$KAFKA_DATA/meta.properties" ]; then
    [ -f "$KAFKA_DIR/secured" ] && return 0
    die "Kafka state in $KAFKA_DATA predates SASL/ACLs (no admin credential in its metadata); remove it once with: LEDGER_PROFILE=$PROFILE scripts/infra.sh clean"
  fi
  kafka_java_opts
  local id
  if [ -s "$KAFKA_DIR/cluster.id" ]; then id="$(cat "$KAFKA_DIR/cluster.id")"; else
    id="$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    [ -n "$id" ] || die "StorageTool random-uuid failed"
    echo "$id" >"$KAFKA_DIR/cluster.id"
  fi
  # Every known principal's SCRAM credential goes into the metadata at format
  # time (KIP-900), the admin's first: no JVM start per user afterwards.
  local scram=() u
  for u in "$KAFKA_ADMIN_USER" "${KAFKA_SERVICE_USERS[@]}"; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$u,password=$(kafka_secret "$u")]")
  done
  log "Kafka: formatting $KAFKA_DATA (cluster id $id) with SCRAM users $KAFKA_ADMIN_USER ${KAFKA_SERVICE_USERS[*]}"
  "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$id" -c "$KAFKA_CONF" "${scram[@]}" \
    </dev/null >"$KAFKA_LOGS/format.log" 2>&1 || { cat "$KAFKA_LOGS/format.log" >&2; die "kafka storage format failed"; }
  printf '%s\n' "$KAFKA_ADMIN_USER" "${KAFKA_SERVICE_USERS[@]}" >"$KAFKA_DIR/scram-users"
  touch "$KAFKA_DIR/secured"
}

# The admin tools' main classes, run as the admin: kafka.admin.ConfigCommand
# (kafka_2.13 jar, 3.9 and 4.1) and AclCommand (kafka.admin in 3.9,
# org.apache.kafka.tools in the kafka-tools jar from 4.0).
kafka_tool() {  # kafka_tool <main class> <args...>
  kafka_java_opts
  "${KAFKA_JAVA[@]}" "$1" --bootstrap-server "127.0.0.1:$KAFKA_PORT" --command-config "$KAFKA_ADMIN_PROPS" "${@:2}" \
    </dev/null >>"$KAFKA_LOGS/admin-tools.log" 2>&1
}

kafka_add_user() {  # kafka_add_user <name>: its SCRAM credential (generated password) in the cluster, once
  local u="$1"
  grep -qxF "$u" "$KAFKA_DIR/scram-users" 2>/dev/null && return 0
  log "Kafka: adding SCRAM user $u"
  kafka_tool kafka.admin.ConfigCommand --alter --entity-type users --entity-name "$u" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$(kafka_secret "$u")]" ||
    die "could not add Kafka user $u (log: $KAFKA_LOGS/admin-tools.log)"
  echo "$u" >>"$KAFKA_DIR/scram-users"
}

kafka_acl() {  # kafka_acl <principal> <Op,Op> <prefixed|literal> <resource args...>
  local principal="$1" ops=() op list
  IFS=, read -ra list <<<"$2"
  for op in "${list[@]}"; do ops+=(--operation "$op"); done
  local main=org.apache.kafka.tools.AclCommand
  kafka_is_legacy && main=kafka.admin.AclCommand   # moved to kafka-tools in 4.0
  kafka_tool "$main" --add --force --allow-principal "User:$principal" \
    "${ops[@]}" --resource-pattern-type "$3" "${@:4}" ||
    die "could not add ACLs for $principal (log: $KAFKA_LOGS/admin-tools.log)"
}

# What each service principal may do over Kafka (README "Kafka security").
# PREFIXED patterns, so that the tests' unique names (ledger.events.t<pid>.<n>,
# ledger-projector.t<pid>.<n>, ...) fall under the same rules as the real ones.
# Topic creation and everything else: the admin only.
kafka_apply_acls() {
  kafka_acl ledger-relay Write,Describe prefixed --topic ledger.events
  kafka_acl ledger-projector Read,Describe prefixed --topic ledger.events --group ledger-projector
  kafka_acl ledger-command Read,Describe prefixed --topic ledger.commands --group ledger-command
  # Deletes a producer record that held a secret in clear once it is answered.
  kafka_acl ledger-command Delete prefixed --topic ledger.commands
  kafka_acl ledger-command Write,Describe prefixed --topic ledger.command-results --topic ledger.commands-dlq
  kafka_acl ledger-query Read,Describe prefixed --topic ledger.events --group ledger-query
  # Its access refusals: a command producer on its own topic only.
  kafka_acl ledger-query Write,Describe literal --topic ledger.commands.ledger-query
  kafka_acl ledger-audit Read,Describe prefixed --topic ledger.events
  # The decision log (README "Decision log"): the query service writes it,
  # the projector reads it into decision_log.decisions.
  kafka_acl ledger-query Write,Describe prefixed --topic ledger.decisions
  kafka_acl ledger-projector Read,Describe prefixed --topic ledger.decisions
}

kafka_provision() {  # after start: missing users, then the ACLs whenever their spec changed
  local u want
  for u in "$KAFKA_ADMIN_USER" "${KAFKA_SERVICE_USERS[@]}"; do kafka_add_user "$u"; done
  want="acls $(declare -f kafka_apply_acls | sha256sum | cut -c1-16)"
  if [ "$(cat "$KAFKA_DIR/acls.applied" 2>/dev/null)" != "$want" ]; then
    local t0; t0="$(now)"
    kafka_apply_acls
    echo "$want" >"$KAFKA_DIR/acls.applied"
    log "Kafka: ACLs applied in $(elapsed "$t0")s"
  fi
}

kafka_pid() { [ -f "$KAFKA_PID" ] && cat "$KAFKA_PID" 2>/dev/null || true; }

kafka_running() {  # pid alive and really our broker (guards against pid reuse)
  local pid; pid="$(kafka_pid)"
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_CONF"
}

kafka_ready() {
  command -v kcat >/dev/null || die "kcat not found (run scripts/deps.sh)"
  local md
  [ -f "$KAFKA_KCAT_CONF" ] || return 1
  md="$(timeout 10 kcat -F "$KAFKA_KCAT_CONF" -b "127.0.0.1:$KAFKA_PORT" -L -m 2 2>/dev/null)" || return 1
  [[ "$md" == *"broker 1 at 127.0.0.1:$KAFKA_PORT"* ]]
}

KAFKA_LAUNCHED_AT=""
kafka_launch() {  # start without waiting; kafka_wait finishes the job
  KAFKA_LAUNCHED_AT=""
  if kafka_running; then
    [ -f "$KAFKA_DIR/secured" ] ||
      die "the running Kafka ($PROFILE) predates SASL/ACLs; replace it once with: LEDGER_PROFILE=$PROFILE scripts/infra.sh clean && LEDGER_PROFILE=$PROFILE scripts/infra.sh up"
    return 0
  fi
  with_lock "$CACHE/.fetch.lock" kafka_fetch_libs
  mkdir -p "$KAFKA_DIR"
  kafka_write_conf
  kafka_format
  kafka_java_opts
  log "Kafka ($PROFILE): starting $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CTRL_PORT)"
  KAFKA_LAUNCHED_AT="$(now)"
  rm -f "$KAFKA_PID"
  # setsid: own session, so it survives the caller's process group; the inner
  # shell records its own pid, then execs java (same pid).
  setsid bash -c 'echo $$ >"$0"; exec nohup "$@"' "$KAFKA_PID" \
    "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_CONF" </dev/null >>"$KAFKA_OUT" 2>&1 9>&- &
  local i
  for i in $(seq 1 50); do [ -s "$KAFKA_PID" ] && break; sleep 0.05; done
  [ -s "$KAFKA_PID" ] || die "Kafka launcher did not write its pid file"
}

kafka_wait() {
  local t0="${KAFKA_LAUNCHED_AT:-$(now)}" deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  until kafka_ready; do
    if ! kafka_running; then
      tail -n 40 "$KAFKA_OUT" >&2 || true
      die "Kafka exited during start-up (logs: $KAFKA_OUT, $KAFKA_LOGS/server.log)"
    fi
    [ "$SECONDS" -lt "$deadline" ] ||
      die "Kafka did not answer on 127.0.0.1:$KAFKA_PORT within ${KAFKA_START_TIMEOUT}s (log: $KAFKA_LOGS/server.log)"
    sleep 0.25
  done
  if [ -n "$KAFKA_LAUNCHED_AT" ]; then
    log "Kafka ($PROFILE) ready in $(elapsed "$t0")s (pid $(kafka_pid))"
  else
    log "Kafka ($PROFILE) already running on 127.0.0.1:$KAFKA_PORT (pid $(kafka_pid))"
  fi
}

kafka_start() { kafka_launch; kafka_wait; kafka_provision; }

kafka_stop() {
  local pid; pid="$(kafka_pid)"
  if ! kafka_running; then
    rm -f "$KAFKA_PID"
    log "Kafka ($PROFILE): not running"
    return 0
  fi
  local t0 deadline; t0="$(now)"; deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "Kafka ($PROFILE): no exit after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL to $pid"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while pid_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
      pid_alive "$pid" && die "Kafka pid $pid survived SIGKILL"
      break
    fi
    sleep 0.1
  done
  rm -f "$KAFKA_PID"
  log "Kafka ($PROFILE): stopped in $(elapsed "$t0")s"
}

kafka_status() {
  if kafka_running; then
    if kafka_ready; then
      echo "[infra] kafka      ($PROFILE): UP    pid $(kafka_pid), 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CTRL_PORT), $KAFKA_VERSION"
      return 0
    fi
    echo "[infra] kafka      ($PROFILE): STARTED but not answering on 127.0.0.1:$KAFKA_PORT (pid $(kafka_pid))"
    return 1
  fi
  echo "[infra] kafka      ($PROFILE): DOWN  (port $KAFKA_PORT)"
  return 1
}

# ------------------------------------------------------------------ commands

cmd_up() {
  if [ "${LEDGER_SKIP_DEPS:-0}" != 1 ]; then "$SCRIPT_DIR/deps.sh"; fi
  local t0; t0="$(now)"
  kafka_launch          # Kafka boots (seconds) while PostgreSQL starts
  pg_start
  kafka_wait
  kafka_provision
  log "profile $PROFILE up in $(elapsed "$t0")s: PostgreSQL 127.0.0.1:$PG_PORT, Kafka 127.0.0.1:$KAFKA_PORT"
}

cmd_down() { kafka_stop; pg_stop; }

cmd_status() {
  local rc=0
  pg_status || rc=3
  kafka_status || rc=3
  return "$rc"
}

cmd_env() {
  # The URLs carry no password: libpq reads each role's from PGPASSFILE, so
  # `${url/postgres@/ledger_query@}` still names a working URL.
  local url="postgresql://$PG_SUPERUSER@127.0.0.1:$PG_PORT/$PG_DB"
  if [ -f "$PG_PASSFILE" ]; then
    printf 'export PGPASSFILE=%q\n' "$PG_PASSFILE"
    printf 'export LEDGER_PG_SECRETS_FILE=%q\n' "$PG_PASSFILE"
  fi
  printf 'export LEDGER_PROFILE=%q\n' "$PROFILE"
  printf 'export LEDGER_PG_URL=%q\n' "$url"
  printf 'export LEDGER_PG_ADMIN_URL=%q\n' "$url"
  printf 'export LEDGER_KAFKA_BROKERS=%q\n' "127.0.0.1:$KAFKA_PORT"
  printf 'export LEDGER_KAFKA_LIBS=%q\n' "$KAFKA_LIBS"
  # The admin principal (tests, ledger-admin); each service gets its own user
  # and password file from LEDGER_KAFKA_SECRETS_DIR (ledgerctl, e2e_stack.h).
  printf 'export LEDGER_KAFKA_SECURITY_PROTOCOL=%q\n' "sasl_ssl"
  printf 'export LEDGER_KAFKA_SASL_MECHANISM=%q\n' "SCRAM-SHA-512"
  printf 'export LEDGER_KAFKA_CA=%q\n' "$KAFKA_TLS/ca.crt"
  printf 'export LEDGER_KAFKA_USERNAME=%q\n' "$KAFKA_ADMIN_USER"
  printf 'export LEDGER_KAFKA_PASSWORD_FILE=%q\n' "$KAFKA_SECRETS/$KAFKA_ADMIN_USER.password"
  printf 'export LEDGER_KAFKA_SECRETS_DIR=%q\n' "$KAFKA_SECRETS"
  # The admin's client properties for Kafka's Java tools (--command-config).
  printf 'export LEDGER_KAFKA_ADMIN_PROPERTIES=%q\n' "$KAFKA_ADMIN_PROPS"
  # The key-encryption key of configuration secrets (README "Configuration
  # secrets"): 256 random bits per profile, made once, kept with its state.
  local kek="$STATE/config-kek.hex"
  if [ ! -s "$kek" ]; then
    mkdir -p "$STATE"
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$kek.tmp" && mv "$kek.tmp" "$kek")
  fi
  printf 'export LEDGER_CONFIG_KEK=%q\n' "${LEDGER_CONFIG_KEK:-$(cat "$kek")}"
}

cmd_clean() {
  cmd_down
  local target=""
  [ -L "$PG_LINK" ] && target="$(readlink "$PG_LINK")"
  rm -rf "$STATE"
  [ -n "$target" ] && rm -rf "$target"
  rm -rf "$FALLBACK_BASE/$PROFILE"
  log "profile $PROFILE: state removed"
}

usage() { sed -n '2,/^# State lives/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

main() {
  local cmd="${1:-}"
  case "$cmd" in
    up)          with_lock "$LOCAL_DIR/.lock-$PROFILE" cmd_up ;;
    down)        with_lock "$LOCAL_DIR/.lock-$PROFILE" cmd_down ;;
    status)      cmd_status ;;
    env)         cmd_env ;;
    pg-start)    with_lock "$LOCAL_DIR/.lock-$PROFILE" pg_start ;;
    pg-stop)     with_lock "$LOCAL_DIR/.lock-$PROFILE" pg_stop ;;
    kafka-start) with_lock "$LOCAL_DIR/.lock-$PROFILE" kafka_start ;;
    kafka-stop)  with_lock "$LOCAL_DIR/.lock-$PROFILE" kafka_stop ;;
    clean)       with_lock "$LOCAL_DIR/.lock-$PROFILE" cmd_clean ;;
    kafka-add-user)
      [[ "${2:-}" =~ ^[a-z0-9_-]{1,100}$ ]] || { echo "[infra] usage: kafka-add-user NAME ([a-z0-9_-])" >&2; exit 2; }
      kafka_running || die "Kafka ($PROFILE) is not running"
      with_lock "$LOCAL_DIR/.lock-$PROFILE" kafka_add_user "$2"
      echo "$KAFKA_SECRETS/$2.password" ;;
    -h|--help|help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
