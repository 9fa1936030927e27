#!/usr/bin/env bash
# cluster.sh - a throw-away single-node Slurm cluster for pipeline's integration
# tests and CI, on Debian 12, as root, without systemd.
#
#   usage: tests/slurm/cluster.sh install | up | down | env
#
#   install  apt-get the Slurm, munge (and accounting) packages, unless present
#   up       stop a leftover cluster of this base dir, write a fresh config,
#            start munged [mariadbd slurmdbd] slurmctld slurmd, wait until the
#            node is idle; the last line printed is `export SLURM_CONF=...`
#   down     cancel remaining jobs and stop the daemons `up` started (safe to
#            call when nothing is up)
#   env      print the `export SLURM_CONF=...` line for the base dir
#
# With SLURM_CONF set as printed, sbatch/squeue/scancel/sacct/scontrol talk to
# this cluster only. Node "localhost", partition "debug" (default), N fake GPUs
# (gres "gpu", char devices cloned from /dev/null) so that every task asking
# for --gres=gpu:1 gets its own CUDA_VISIBLE_DEVICES.
#
# Settings (environment variables):
#   SLURM_TEST_BASE        everything written goes here  (default ${TMPDIR:-/tmp}/pipeline-slurm)
#   SLURM_TEST_PORT        first of 4 ports on 127.0.0.1: slurmctld, slurmd,
#                          slurmdbd, mariadbd            (default 16817)
#   SLURM_TEST_CPUS        CPUs advertised; may exceed the machine's (default 4)
#   SLURM_TEST_GPUS        fake GPUs; 0 = none           (default 4)
#   SLURM_TEST_ACCOUNTING  1 = mariadbd + slurmdbd so that sacct works; 0 = off (default 1)
#
# It stops only the daemons it started, found by the pid files in its base dir.
set -euo pipefail

BASE=${SLURM_TEST_BASE:-${TMPDIR:-/tmp}/pipeline-slurm}
PORT=${SLURM_TEST_PORT:-16817}
CPUS=${SLURM_TEST_CPUS:-4}
GPUS=${SLURM_TEST_GPUS:-4}
ACCT=${SLURM_TEST_ACCOUNTING:-1}
CLUSTER=pipeline
MARK=.pipeline-slurm-test          # marks a base dir this script may wipe
export SLURM_CONF=$BASE/etc/slurm.conf
RUN=$BASE/run
T0=${EPOCHREALTIME/./}

die() { echo "cluster.sh: error: $*" >&2; exit 1; }
log() {
  local ds=$(((${EPOCHREALTIME/./} - T0) / 100000))
  printf 'cluster.sh [%3d.%ds] %s\n' $((ds / 10)) $((ds % 10)) "$*"
}

case $BASE in /*) ;; *) die "SLURM_TEST_BASE must be an absolute path, not '$BASE'" ;; esac
for v in PORT CPUS GPUS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "SLURM_TEST_$v must be a number, not '${!v}'"
done

# alive PID: the process exists and is not a zombie.
alive() {
  local st
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}

# wait_for SECONDS WHAT CMD...: retry CMD every 0.1 s; fail naming WHAT after
# SECONDS, or at once when the daemon being started ($DAEMON) has exited.
DAEMON=
wait_for() {
  local end=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ -n "$DAEMON" ] && ! alive "$DAEMON"; then
      echo "cluster.sh: $DAEMON_NAME exited while waiting for $what" >&2; return 1
    fi
    [ "$SECONDS" -lt "$end" ] || { echo "cluster.sh: timed out waiting for $what" >&2; return 1; }
    sleep 0.1
  done
}

do_install() {
  local pkgs=(munge slurmctld slurmd slurm-client)
  [ "$ACCT" = 1 ] && pkgs+=(slurmdbd slurm-wlm-mysql-plugin mariadb-server-core mariadb-client-core)
  if dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
    log "packages already installed"
  else
    [ "$(id -u)" = 0 ] || die "install needs root (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null \
      || die "apt-get install ${pkgs[*]} failed"
  fi
  log "installed: $(slurmctld -V)"
}

write_config() {
  if [ -e "$BASE" ]; then
    [ -e "$BASE/$MARK" ] || [ -z "$(ls -A "$BASE")" ] \
      || die "$BASE exists and was not made by this script; remove it or set SLURM_TEST_BASE"
    rm -rf "$BASE"
  fi
  mkdir -p "$BASE"/{etc,run,log,state/ctld,state/d}
  touch "$BASE/$MARK"
  install -d -m 700 "$BASE/munge"
  mungekey -c -k "$BASE/munge/munge.key"

  local mem gres=""
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  if [ "$GPUS" -gt 0 ]; then
    mkdir -p "$BASE/gpu"
    for ((i = 0; i < GPUS; i++)); do mknod "$BASE/gpu/nvidia$i" c 1 3; done
    echo "NodeName=localhost Name=gpu File=$BASE/gpu/nvidia[0-$((GPUS - 1))]" >"$BASE/etc/gres.conf"
    gres="Gres=gpu:$GPUS"
  fi

  cat >"$SLURM_CONF" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$RUN/munge.socket
StateSaveLocation=$BASE/state/ctld
SlurmdSpoolDir=$BASE/state/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
MinJobAge=120
MaxArraySize=20001
MaxJobCount=50000
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem $gres State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if [ "$ACCT" = 1 ]; then
    cat >>"$SLURM_CONF" <<EOF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$((PORT + 2))
AccountingStoragePass=$RUN/munge.socket
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
EOF
    # slurmdbd has no config flag: it reads slurmdbd.conf next to $SLURM_CONF,
    # and refuses one that others can read.
    install -m 600 /dev/null "$BASE/etc/slurmdbd.conf"
    cat >"$BASE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$RUN/munge.socket
DbdHost=localhost
DbdPort=$((PORT + 2))
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$BASE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT + 3))
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  else
    printf '%s\n' AccountingStorageType=accounting_storage/none \
      JobAcctGatherType=jobacct_gather/none >>"$SLURM_CONF"
  fi
}

# start NAME CMD...: start a daemon in the foreground of its own session, its
# stdio off ours (a caller reading our output through a pipe must not be held
# open), and wait for its pid file. Without job control `setsid` does not fork,
# so $! is the daemon itself.
start() {
  DAEMON_NAME=$1; shift
  setsid "$@" </dev/null >>"$BASE/log/$DAEMON_NAME.out" 2>&1 &
  DAEMON=$!
  wait_for 30 "$DAEMON_NAME's pid file" test -s "$RUN/$DAEMON_NAME.pid" || failed "$DAEMON_NAME"
}

# failed NAME: show the end of NAME's log, stop what is up, exit.
failed() {
  local f=$BASE/log/$1.log
  [ -s "$f" ] || f=$BASE/log/$1.out
  echo "cluster.sh: error: $1 did not come up; the end of $f:" >&2
  tail -n 15 "$f" >&2 2>/dev/null || true
  DAEMON=
  if [ "$1" = slurmd ]; then
    echo "cluster.sh: slurmctld's view of the node:" >&2
    sinfo -N -o '%N %T %E' >&2 2>/dev/null || true
    tail -n 5 "$BASE/log/slurmctld.log" >&2 2>/dev/null || true
  fi
  do_down >&2 || true
  exit 1
}

mysql_() { mariadb --no-defaults -S "$RUN/mysqld.sock" -uroot "$@"; }

do_up() {
  command -v slurmctld >/dev/null || die "Slurm is not installed: run '$0 install' first"
  [ "$ACCT" != 1 ] || command -v slurmdbd >/dev/null || die "slurmdbd is not installed: run '$0 install' first"
  do_down
  write_config
  log "config in $BASE/etc"

  start munged munged -F --key-file="$BASE/munge/munge.key" --socket="$RUN/munge.socket" \
    --pid-file="$RUN/munged.pid" --log-file="$BASE/log/munged.log" --seed-file="$BASE/munge/seed"
  wait_for 10 munged sh -c "munge -n -S '$RUN/munge.socket' | unmunge -S '$RUN/munge.socket'" || failed munged
  log "munged up"

  if [ "$ACCT" = 1 ]; then
    mariadb-install-db --no-defaults --datadir="$BASE/mysql" --user=root --skip-test-db \
      --auth-root-authentication-method=normal >"$BASE/log/mysqld-install.log" 2>&1 || failed mysqld
    start mysqld mariadbd --no-defaults --datadir="$BASE/mysql" --user=root \
      --bind-address=127.0.0.1 --port=$((PORT + 3)) --socket="$RUN/mysqld.sock" \
      --pid-file="$RUN/mysqld.pid" --log-error="$BASE/log/mysqld.log" \
      --innodb-buffer-pool-size=64M --innodb-log-file-size=8M --innodb-lock-wait-timeout=900
    wait_for 30 mariadbd mysql_ -e 'select 1' || failed mysqld
    mysql_ -e "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
               GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || failed mysqld
    log "mariadbd up"
    start slurmdbd slurmdbd -D
    wait_for 60 slurmdbd sacctmgr -n show cluster || failed slurmdbd
    sacctmgr -i add cluster "$CLUSTER" >/dev/null || failed slurmdbd
    log "slurmdbd up"
  fi

  start slurmctld slurmctld -D
  wait_for 30 slurmctld sh -c 'scontrol ping | grep -q UP' || failed slurmctld
  log "slurmctld up"
  start slurmd slurmd -D -N localhost
  wait_for 60 "node localhost idle" sh -c 'sinfo -h -n localhost -o %T | grep -qx idle' || failed slurmd
  log "slurmd up, node idle: $(sinfo -h -o '%P cpus=%c mem=%m gres=%G')"
  echo "export SLURM_CONF=$SLURM_CONF"
}

# stop NAME COMM: SIGTERM the pid in run/NAME.pid if that process is still COMM,
# wait up to 10 s, then SIGKILL.
stop() {
  local f=$RUN/$1.pid pid
  [ -s "$f" ] || return 0
  pid=$(<"$f")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    log "stopped $2 (pid $pid)"
  fi
  rm -f "$f"
}

queue_empty() { [ -z "$(squeue -h)" ]; }

do_down() {
  [ -d "$RUN" ] || return 0
  if [ -s "$RUN/slurmctld.pid" ] && scontrol ping 2>/dev/null | grep -q UP; then
    scancel -u "$(id -un)" 2>/dev/null || true
    wait_for 30 "jobs to end" queue_empty || true
  fi
  stop slurmd slurmd & local a=$!
  stop slurmctld slurmctld & local b=$!
  wait "$a" "$b"
  stop slurmdbd slurmdbd & a=$!
  stop mysqld mariadbd & b=$!
  wait "$a" "$b"
  stop munged munged                       # last: the others authenticate with it
}

case "${1:-}" in
  install) do_install ;;
  up) do_up ;;
  down) do_down; log "down" ;;
  env) echo "export SLURM_CONF=$SLURM_CONF" ;;
  *) echo "usage: $0 install|up|down|env" >&2; exit 2 ;;
esac
