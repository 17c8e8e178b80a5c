#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start.sh STATE_DIR started, by the PIDs in STATE_DIR/*.pid.
#   tests/slurm/stop.sh STATE_DIR
set -uo pipefail

state=${1:?usage: stop.sh STATE_DIR}
state=$(cd "$state" 2>/dev/null && pwd) || exit 0
# Cancel what is still queued or running, then the daemons.
if [[ -s $state/slurmctld.pid ]] && kill -0 "$(cat "$state/slurmctld.pid")" 2>/dev/null; then
    mapfile -t jobs < <(SLURM_CONF=$state/slurm.conf timeout 10 squeue -h -o %i 2>/dev/null)
    ((${#jobs[@]})) && SLURM_CONF=$state/slurm.conf timeout 10 scancel "${jobs[@]}"
fi
# slurmd first (it talks to slurmctld while shutting down), munged last (both authenticate through it).
for daemon in slurmd slurmctld munged; do
    pidfile=$state/$daemon.pid
    [[ -s $pidfile ]] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
done
# The /etc/slurm/slurm.conf link that start.sh made.
if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$state/slurm.conf" ]]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
