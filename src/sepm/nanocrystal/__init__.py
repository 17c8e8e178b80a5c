"""From a bulk fit to a nanocrystal.

- :mod:`.potfiles`: the nanocrystal codes' ``pot<Sym>.par`` format (read, check, write) and its grid;
- :mod:`.radial`: radial tables v(r) <-> form factors v(q) (back-transform of a real-space library);
- :mod:`.ligands`: the Gaussian ligand pseudo-atoms P1-P4 and the passivation geometry;
- :mod:`.client_export`: client-ready potential files of a fitted potential, with a sidecar record;
- :mod:`.builder`: a passivated dot cut from a bulk crystal; :mod:`.conffile`: the client's ``conf.par``;
- :mod:`.grid`: the real-space box, grid and the local potential on it;
- :mod:`.hamiltonian`: H = -1/2 nabla^2 (spectral, capped) + V(r) on the grid;
- :mod:`.projectors`: the fit's spin-orbit and l = 1 nonlocal terms as atom-centred separable projectors;
- :mod:`.spinor`: the spinor H (two-component complex states) with them, and its use by the real solver;
- :mod:`.supercell`: a periodic supercell on the grid against the plane-wave Hamiltonian (validation);
- :mod:`.solver`: the states nearest a reference energy (folded-spectrum LOBPCG) and a dense check;
- :mod:`.dot`: one dot end to end (HOMO, LUMO, gap, levels, densities); :mod:`.series`: gap against size.
"""
