#!/bin/sh
# Run the small Si example of tests/qe_si in folder $1 (created): pw.x SCF, copy of the SCF XML,
# pw.x bands along L-Gamma-X, bands.x. Needs pw.x and bands.x (Debian: quantum-espresso) and the
# Si.pz-vbc.UPF pseudopotential (quantum-espresso-data). About a second or two on one core.
# Outputs in $1: si.scf.xml, si.bands.xml (tmp/si.save/data-file-schema.xml), si.bands.dat (filband).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?usage: run.sh WORKDIR}
mkdir -p "$work"
cp "$here"/si.scf.in "$here"/si.bands.in "$here"/si.bandsx.in "$work"/
cd "$work"
export OMP_NUM_THREADS=1
pw.x -in si.scf.in > si.scf.out
cp tmp/si.save/data-file-schema.xml si.scf.xml
pw.x -in si.bands.in > si.bands.out
cp tmp/si.save/data-file-schema.xml si.bands.xml
bands.x -in si.bandsx.in > si.bandsx.out
