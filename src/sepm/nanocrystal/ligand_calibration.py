r"""Ligand amplitudes consistent with the exported potential: calibrated to its bulk band edges.

The client's ligand Gaussians a exp(-r^2/b) (:mod:`.ligands`) are absolute (zero in the vacuum) and were
tuned with the group's published potentials; the group's codes use the same built-in P1/P2 for every
material they passivate (CdS, CdSe, InP, InAs, GaAs, ZnSe), a potP1.par file overriding it. They work
because of where they put the dangling-bond states relative to the band edges: the attractive P2 on an
anion's dangling bond makes a bonding level below the valence-band maximum, the repulsive P1 on a
cation's pushes its level above the conduction-band minimum.

What they cannot do: the default GaAs fit's v(q) is 4-28 % deeper than the library's between q = 0.25
and 0.75 1/Bohr (below the first shell, where the bulk does not see it), so its atoms attract out to
3-6 Bohr (-0.03 Hartree at 6 Bohr for As, library -0.008) and a dot's electron spreads onto its surface:
the LUMO lies 0.2-0.7 eV above the CBM against 0.8-1.5 eV with the library, with 31-36 % of its weight
in the core against 46-52 % (R >= 14 Bohr). A P1 of 1.0 Hartree instead of 0.64 raises it by only
0.13-0.20 eV; that is the potential's small-q freedom, not the passivation.

A fitted potential reproduces the bulk bands but not their absolute position: the bulk fixes v(q) only
on the crystal's shells, each species' v(q -> 0) is free (the bands fix only the sum) and the client's
cut of the tables moves every bulk level again (:mod:`.client_export`). When the fit's band edges sit
Delta below the library's, a level held by a ligand, which stays where the ligand puts it, is Delta
nearer the gap; the same Gaussian that cleared the gap with the library may then leave a surface state
at the edge.

Rule. Each side's ligand moves with the band edge it must clear, measured in the bulk crystal with the
tables the dot will use (the cut included):

    a_anion  = a_client + VBM_fit - VBM_reference,
    a_cation = a_client + CBM_fit - CBM_reference      (Hartree),

so the ligand's depth at its centre keeps its distance from that edge. The edges are those of the bundle
system the dots are cut from (``sepm export --nc-system``). Until the export settled its tables' last row
(:func:`.client_export.settle`), the client's subtraction of it moved the bulk edges of a default GaAs fit by
-0.36 eV and not the dot's levels, and this rule moved P1/P2 by -0.33/-0.45 eV for that artefact; with settled
tables that fit's edges lie within 0.09 eV of the library's. It is a first-order rule, not a guarantee: a
ligand-bound level moves by its weight on the Gaussian times the change of a, at most that change; the dot's
sanity checks (:mod:`.location`) judge the result. With the reference as its own input the client's amplitudes
come back unchanged.

Why not match the potential near the host atom (the rule used before): the anion's ligand sits 1.2 Bohr
from it, in the core region where the bulk fixes v(r) least and the valence states have little weight.
On a default GaAs fit (fit's As 0.09 Hartree deeper there than the library's) that rule weakened P2 from
-0.384 to -0.292 Hartree; the dots' top valence states then lay on the ligands (78 % of the HOMO's weight
at R = 10 Bohr, 20-38 % from R = 12 to 20) and the HOMO sat 0.09 eV below the VBM at R = 20. With this
rule (P2 -0.392) the HOMO's ligand weight is 14-27 %, its core weight 34-72 %, and it lies 1.48 to 0.29 eV
below the VBM, nearer it with every size step (bench/passivation.py table).
"""

from __future__ import annotations

from .ligands import LIGAND_A, Passivation


def calibrate_ligands(edges: dict, reference_edges: dict, passivation: Passivation = Passivation()) -> dict:
    """Amplitudes of the cation and anion ligands of ``passivation`` for a potential whose bulk band edges
    are ``edges`` against the reference's ``reference_edges`` ({"vbm", "cbm"} in Hartree, e.g. from
    :func:`.dot.bulk_edges`); the other ligands keep the client's. Returns {"amplitudes": {symbol: a},
    "shift": {symbol: a - a_client}, "edges": ..., "rule": ...} (Hartree)."""
    amplitudes, shift = dict(LIGAND_A), {}
    for ligand, edge in ((passivation.cation_ligand, "cbm"), (passivation.anion_ligand, "vbm")):
        shift[ligand] = float(edges[edge] - reference_edges[edge])
        amplitudes[ligand] = LIGAND_A[ligand] + shift[ligand]
    return {"amplitudes": amplitudes, "shift": shift,
            "edges": {"potential": {k: float(edges[k]) for k in ("vbm", "cbm")},
                      "reference": {k: float(reference_edges[k]) for k in ("vbm", "cbm")}},
            "rule": f"{passivation.anion_ligand} (anion side) a = a_client + VBM - VBM_reference; "
                    f"{passivation.cation_ligand} (cation side) a = a_client + CBM - CBM_reference; bulk edges "
                    "of the client tables (Hartree)"}
