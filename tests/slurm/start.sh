#!/usr/bin/env bash
# Start a single-node SLURM cluster (munged, slurmctld, slurmd -N localhost) as root, without systemd.
#   tests/slurm/start.sh STATE_DIR
# Writes STATE_DIR/slurm.conf, keeps spool/state/logs there and the PIDs of the daemons it started in
# STATE_DIR/{munged,slurmctld,slurmd}.pid; stop them with tests/slurm/stop.sh STATE_DIR. Clients find the
# cluster with `export SLURM_CONF=STATE_DIR/slurm.conf`. Running it again with live daemons does nothing.
# Environment: SLURM_CPUS (default: nproc), SLURM_MEMORY_MB (default: min(8000, 90% of RAM)),
# SLURMCTLD_PORT / SLURMD_PORT (6817 / 6818), SLURM_USER (slurm if that user exists, else root).
set -euo pipefail

state=${1:?usage: start.sh STATE_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$state"
state=$(cd "$state" && pwd)
conf=$state/slurm.conf
export SLURM_CONF=$conf

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "start.sh: timed out waiting for $what" >&2
            return 1
        fi
        sleep 0.5
    done
}

[[ $(id -u) -eq 0 ]] || { echo "start.sh: must run as root" >&2; exit 1; }

user=${SLURM_USER:-$(id -u slurm >/dev/null 2>&1 && echo slurm || echo root)}
cpus=${SLURM_CPUS:-$(nproc)}
memory=${SLURM_MEMORY_MB:-$(awk '/^MemTotal:/ {m = int($2 / 1024 * 0.9); print (m < 8000 ? m : 8000)}' /proc/meminfo)}

# 1. munge: key, socket folder, daemon (unless one already answers).
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    install -d -o munge -g munge -m 0700 /etc/munge
    install -d -o munge -g munge -m 0711 /var/lib/munge /var/log/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        fi
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --force
    wait_for 10 munged test -s /run/munge/munged.pid
    cp /run/munge/munged.pid "$state/munged.pid"
fi
munge -n | unmunge | grep -q 'STATUS: *Success' || { echo "start.sh: munge -n | unmunge fails" >&2; exit 1; }

# 2. slurm.conf and folders (the state folder must be reachable by the SlurmUser).
chmod 0755 "$state"
install -d -o "$user" -m 0755 "$state/ctld" "$state/d"
sed -e "s|@STATE@|$state|g" -e "s|@HOSTNAME@|$(hostname)|g" -e "s|@CPUS@|$cpus|g" \
    -e "s|@MEMORY@|$memory|g" -e "s|@SLURM_USER@|$user|g" \
    -e "s|@CTLD_PORT@|${SLURMCTLD_PORT:-6817}|g" -e "s|@SLURMD_PORT@|${SLURMD_PORT:-6818}|g" \
    "$here/slurm.conf.in" >"$conf"
touch "$state/jobcomp.txt" "$state/slurmctld.log"
chown "$user" "$state/jobcomp.txt" "$state/slurmctld.log"

# The plugin's job step (snakemake-executor-plugin-slurm-jobstep 0.6) drops SLURM_CONF from the
# environment of its nested `srun`, which then reads only the default /etc/slurm/slurm.conf: link it
# there unless a real configuration is in place (stop.sh removes the link).
etc_conf=/etc/slurm/slurm.conf
# A link left by an earlier start.sh whose cluster is gone (its folder deleted, or its slurmctld dead,
# as after a killed test session) is stale: replace it.
if [[ -L $etc_conf ]]; then
    linked=$(readlink "$etc_conf")
    if [[ $linked != "$conf" && $(basename "$linked") == slurm.conf ]] \
        && { [[ ! -e $linked ]] || grep -q '^ClusterName=sepmci$' "$linked"; } \
        && ! alive "$(dirname "$linked")/slurmctld.pid"; then
        echo "start.sh: replacing the stale link $etc_conf -> $linked"
        rm -f "$etc_conf"
    fi
fi
if [[ ! -e $etc_conf ]]; then
    mkdir -p /etc/slurm
    ln -s "$conf" "$etc_conf"
elif [[ $(readlink -f "$etc_conf") != "$conf" ]]; then
    holder=$(readlink "$etc_conf" || true)
    ctld=${holder:+$(dirname "$holder")/slurmctld.pid}
    pid=${ctld:+$(cat "$ctld" 2>/dev/null || echo unknown)}
    echo "start.sh: $etc_conf exists${holder:+ (a link to $holder}${ctld:+, slurmctld pid $pid)};" \
        "jobs would use it instead of $conf: stop that cluster (tests/slurm/stop.sh ITS_STATE_DIR) or wait for it" >&2
    exit 1
fi

# 3. slurmctld, then slurmd under the node name of slurm.conf; both fork and write their pid files.
if ! alive "$state/slurmctld.pid"; then
    /usr/sbin/slurmctld -f "$conf"
    wait_for 30 slurmctld scontrol ping
fi
if ! alive "$state/slurmd.pid"; then
    /usr/sbin/slurmd -f "$conf" -N localhost
fi
wait_for 60 "partition debug idle" bash -c "sinfo -h -p debug -o %t | grep -qx idle"
sinfo
