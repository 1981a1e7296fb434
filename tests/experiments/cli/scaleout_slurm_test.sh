#!/usr/bin/env bash
# The Slurm recipe, experiments/scaleout/slurm_submit.sh (a job array of shards from
# experiments/scaleout/slurm_array.sbatch, then a job that merges them), run for real on a single-node Slurm
# that this test starts from Debian's packages: munged with a fresh key, slurmctld and slurmd on free ports,
# their configuration, state and logs in a temporary directory; a system Slurm or munged is neither used
# nor disturbed. A tiny grid (6 runs) in 3 shards, merged by the merge job, equals the same grid swept in one
# go, bit for bit (every dataset and attribute but wall_seconds), and the shards split the grid. An array
# numbered 1-3 (shard 0 would go unrun) is refused by the array script: its tasks fail, saying why, and run
# no shard. experiments/README.md links both scripts. Every daemon is stopped on every way out (trap).
#   bash tests/experiments/cli/scaleout_slurm_test.sh SANDBOX_BINARY SOURCE_DIR     (ctest: scaleout.slurm)
# Exit 0 passed, 1 failed ("FAIL: ..."), 77 skipped: a daemon cannot start here, or (outside CI) Slurm or
# MUNGE is not installed; one line "SKIPPED: ..." says which and why.
set -uo pipefail

TEST_NAME=scaleout_slurm_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
# shellcheck source=scaleout_lib.sh
source "$ROOT/tests/experiments/cli/scaleout_lib.sh"
SANDBOX=$SANDBOX_REAL ROOT=$(cd "$ROOT" && pwd)  # absolute: the test runs in its temporary directory

readme_links experiments/scaleout/slurm_submit.sh
readme_links experiments/scaleout/slurm_array.sbatch
need_tools "MUNGE (Debian package munge)" munged mungekey munge unmunge
need_tools "Slurm (Debian packages slurmctld, slurmd, slurm-client)" slurmctld slurmd sbatch scontrol sinfo scancel

# Bounded waits for a state: wait_until SECONDS COMMAND... polls COMMAND every 0.1 s until it succeeds.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
# start_daemon NAME SECONDS READY COMMAND...: starts COMMAND in the background (its output in
# $TMP/log/NAME.out) and waits until READY succeeds. Skips the test, in one line naming NAME and the last
# error it logged, if it exits first or is not ready in time.
start_daemon() {
  local name=$1 seconds=$2 ready=$3 pid deadline why
  shift 3
  "$@" >"$TMP/log/$name.out" 2>&1 &
  pid=$!
  DAEMONS+=("$name $pid")
  deadline=$((SECONDS + seconds))
  until "$ready"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      why="it exited"
      break
    fi
    if ((SECONDS >= deadline)); then
      why="not ready within $seconds s"
      break
    fi
    sleep 0.1
  done
  [[ -z "${why:-}" ]] && return 0
  local logged
  logged=$(cat "$TMP/log/$name".* 2>/dev/null | grep -iE 'error|fatal|cannot|unable|denied' | tail -1)
  skip "$name cannot start here: $why${logged:+: $logged}"
}

# ---- teardown: jobs cancelled, then every daemon this test started, by pid ----------------------------------
DAEMONS=()  # "name pid"
stop_slurm() {
  if [[ -n "${SLURM_CONF:-}" ]] && ((${#DAEMONS[@]} > 1)) && ctld_up; then
    scancel --quiet --full -u "$(id -un)" 2>/dev/null  # our controller has only our jobs
    wait_until 10 no_jobs_left || true
  fi
  local i name pid
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    read -r name pid <<<"${DAEMONS[i]}"
    kill -TERM "$pid" 2>/dev/null || continue
    wait_until 10 eval "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  DAEMONS=()
}
trap 'stop_slurm; cleanup' EXIT
# A signal ends the test through `exit`, so that the EXIT trap runs (bash does not always run it on a signal).
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
no_jobs_left() { [[ -z $(squeue -h -o %i 2>/dev/null) ]]; }

# ---- munged with its own key and socket -----------------------------------------------------------------------
mkdir -p "$TMP/munge" "$TMP/state" "$TMP/spool" "$TMP/log" || fail "mkdir"
chmod 700 "$TMP/munge"
mungekey --create --keyfile="$TMP/munge/munge.key" 2>"$TMP/log/mungekey.err" ||
  skip "munged: mungekey cannot create a key: $(tail -1 "$TMP/log/mungekey.err")"
socket="$TMP/munge/munge.socket"
# --force: run although the temporary directory's permissions are not the ones munged wants for /run/munge.
munge_works() { munge -S "$socket" -n 2>/dev/null | unmunge -S "$socket" >/dev/null 2>&1; }
start_daemon munged 15 munge_works munged --foreground --force --key-file="$TMP/munge/munge.key" \
  --socket="$socket" --pid-file="$TMP/munge/munged.pid" --seed-file="$TMP/munge/munged.seed" \
  --log-file="$TMP/log/munged.log"

# ---- slurm.conf: one node, this host, 2 CPUs; free ports ------------------------------------------------------
ports=$("$PY" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))') || fail "no free port"
read -r ctld_port slurmd_port <<<"$ports"
node=$(hostname -s)
user=$(id -un)
export SLURM_CONF="$TMP/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=sandboxtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# The node has the CPUs configured here whatever the machine has; schedule without the default 3 s delays.
SlurmdParameters=config_overrides
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF

ctld_up() { scontrol ping 2>/dev/null | grep -q "is UP"; }
start_daemon slurmctld 20 ctld_up slurmctld -D -i
node_idle() { [[ $(sinfo -h -n "$node" -o %T 2>/dev/null) == idle ]]; }
start_daemon slurmd 20 node_idle slurmd -D -N "$node"
note "Slurm $(sinfo -V | cut -d' ' -f2) up: node $node, ports $ctld_port and $slurmd_port, munge socket in $TMP"

# ---- the recipe ---------------------------------------------------------------------------------------------
cd "$TMP" || fail "cd $TMP"
write_tiny_grid grid.ini
"$SANDBOX" sweep --config grid.ini --out whole.h5 --jobs 1 --quiet >/dev/null 2>err || fail "unsharded sweep: $(cat err)"

# job_state ID: COMPLETED, FAILED, CANCELLED... of a job, or of every task of an array (one per line).
job_state() { scontrol show job "$1" 2>/dev/null | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2 | sort -u; }
finished() { ! job_state "$1" | grep -qE '^(PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUED)'; }
# submit OUT SHARDS: runs slurm_submit.sh on grid.ini; sets ARRAY and MERGE, the job ids it printed.
submit() {
  SANDBOX="$SANDBOX" "$ROOT/experiments/scaleout/slurm_submit.sh" grid.ini "$1" "$2" >out 2>err ||
    fail "experiments/scaleout/slurm_submit.sh exited $?: $(tail -3 err)"
  note "slurm_submit.sh: $(cat out)"
  ARRAY=$(sed -n 's/.*job array \([0-9]*\);.*/\1/p' out)
  MERGE=$(sed -n 's/.*: job \([0-9]*\)$/\1/p' out)
  [[ -n "$ARRAY" && -n "$MERGE" ]] || fail "slurm_submit.sh printed no job ids: $(cat out)"
}

# The partition is down while the recipe submits, so that nothing has run yet when the merge job's pending
# dependencies are read: it must wait for the whole array to succeed (a merge that did not wait would merge
# whatever shards happened to be done).
scontrol update PartitionName=test State=DOWN || fail "scontrol cannot set the partition down"
submit merged.h5 3
dependency=$(squeue -h -j "$MERGE" -o %E 2>&1)
[[ $dependency == "afterok:${ARRAY}_*(unfulfilled)" ]] ||
  fail "the merge job's dependency is '$dependency', not on the whole array (afterok:${ARRAY}_*(unfulfilled))"
scontrol update PartitionName=test State=UP || fail "scontrol cannot set the partition up"
wait_until 50 finished "$MERGE" ||
  fail "the merge job $MERGE did not finish within 50 s (array: $(job_state "$ARRAY" | tr '\n' ' '), merge: $(job_state "$MERGE"))"
[[ $(job_state "$ARRAY") == COMPLETED ]] ||
  fail "the array's tasks ended $(job_state "$ARRAY" | tr '\n' ' '): $(cat merged.parts/slurm-*.out 2>/dev/null | tail -5)"
[[ $(job_state "$MERGE") == COMPLETED ]] ||
  fail "the merge job ended $(job_state "$MERGE"): $(tail -5 merged.parts/slurm-merge.out 2>/dev/null)"
note "merge job: $(tr '\n' ' ' <merged.parts/slurm-merge.out)"
check_shards whole.h5 merged.parts/part{0,1,2}.h5
same_runs whole.h5 merged.h5

# An array numbered from 1 would leave shard 0 unrun: the array script refuses it (and slurm_submit.sh's merge
# job, whose afterok dependency can then never be met, would be cancelled rather than merge part of the grid).
mkdir -p bad.parts
SANDBOX="$SANDBOX" sbatch --parsable --array=1-3 --output=bad.parts/slurm-%a.out "$ROOT/experiments/scaleout/slurm_array.sbatch" \
  grid.ini bad.parts >out 2>err || fail "sbatch of an array 1-3: $(cat err)"
bad=$(cut -d';' -f1 out)
wait_until 30 finished "$bad" || fail "the array 1-3 did not finish within 30 s: $(job_state "$bad" | tr '\n' ' ')"
[[ $(job_state "$bad") == FAILED ]] || fail "an array numbered 1-3 ended $(job_state "$bad" | tr '\n' ' '), not FAILED"
grep -q "the array must be 0-N-1" bad.parts/slurm-1.out || fail "array 1-3: no message saying why: $(cat bad.parts/slurm-1.out)"
compgen -G "bad.parts/*.h5" >/dev/null && fail "an array numbered 1-3 ran shards: $(ls bad.parts)"
echo "the Slurm recipe: a 3-task job array and its merge job equal the unsharded sweep bit for bit: ok"
