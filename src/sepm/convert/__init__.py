"""Convert stage (DeepPseudopot's convert_bgwBS): Quantum ESPRESSO / BerkeleyGW outputs -> an input bundle.

Sources (energies of the reference bands; the structure always comes from pw.x's XML):

- ``qe``: pw.x's ``data-file-schema.xml`` (eigenvalues in Hartree), optionally bands.x's ``filband``
  (eV) for the energies instead (:mod:`sepm.convert.qe`);
- ``bgw``: ``eqp1.dat`` / ``eqp.dat`` (k fractional) or inteqp's ``bandstructure.dat`` (k Cartesian,
  1/Bohr), quasiparticle (default) or mean-field energies (:mod:`sepm.convert.bgw`).

:func:`convert` writes the bundle with :func:`sepm.convert.writer.write_bundle` and reads it back with
:func:`sepm.io.read_bundle`. Command line: ``sepm convert`` (see ``sepm convert --help``).
"""

from __future__ import annotations

from .bgw import read_bandstructure, read_eqp
from .qe import read_filband, read_qe_xml, read_structure
from .writer import Structure, write_bundle

__all__ = ["convert", "read_qe_xml", "read_filband", "read_structure", "read_eqp", "read_bandstructure",
           "Structure", "write_bundle"]


def convert(outdir, *, qe_xml, prior, maxke: float, nbands: int | None = None, qe_bands=None, bgw_eqp=None,
            bgw_bandstructure=None, bgw_energy: str = "qp", vbm_align: float | None = None,
            name: str | None = None, nn_config: dict | None = None) -> dict:
    """Write a one-system bundle to ``outdir`` from the given source files; returns a summary dict.

    ``nbands`` defaults to every band the source has (spin-doubled). ``vbm_align`` shifts the reference
    so that the valence-band maximum is at this energy (eV); default: energies as in the source.
    """
    from sepm.io import read_bundle

    if bgw_eqp and bgw_bandstructure:
        raise ValueError("give either bgw_eqp or bgw_bandstructure, not both")
    qe = read_qe_xml(qe_xml)
    structure, nelec, doubled = qe.structure, qe.nelec, not qe.noncolin
    if bgw_eqp:
        kfrac, levels = read_eqp(bgw_eqp, bgw_energy)
        source = bgw_eqp
    elif bgw_bandstructure:
        kcart, levels = read_bandstructure(bgw_bandstructure, bgw_energy)
        kfrac, source = structure.frac_from_cartesian_k(kcart, "1/bohr"), bgw_bandstructure
    elif qe_bands:
        kcart, levels = read_filband(qe_bands)
        kfrac, source = structure.frac_from_cartesian_k(kcart, "2pi/alat"), qe_bands
    else:
        kfrac, levels, source = qe.kpoints_frac, qe.energies, qe_xml
    nbands = nbands or levels.shape[1] * (2 if doubled else 1)
    summary = write_bundle(outdir, structure, kfrac, levels, nbands=nbands, maxke=maxke, prior=prior,
                           spin_doubled=doubled, nelec=nelec, vbm_align=vbm_align,
                           name=name or "".join(sorted(set(structure.species))), nn_config=nn_config,
                           source=str(source))
    bundle = read_bundle(outdir, require_reference=True)
    summary.update(source=str(source), notices=bundle.notices + bundle.config_notices())
    return summary
