"""Electron-phonon couplings: dV/dtau against finite differences of the Hamiltonian with a displaced atom
(q = 0 with DeepPseudopot's displaced CdSe cells, q != 0 through a supercell), gauge invariance, umklapp,
the readers' errors, and the gradient of the coupling loss."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sepm.basis import PlaneWaveBasis
from sepm.bands import system_hamiltonian
from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.errors import InputError
from sepm.hamiltonian import Hamiltonian
from sepm.io import read_bundle, read_system_file
from sepm.io.band_index import table_slot
from sepm.observables import SystemCouplings, average, matrix_elements
from sepm.observables.coupling import DerivativeGeometry
from sepm.pseudopotential import Pseudopotential
from threads import single_thread  # noqa: F401 (autouse)

DATA = Path(__file__).parent / "data" / "deeppseudopot"
COUPLE, MONTECARLO = DATA / "test_ham_couple", DATA / "test_ham_montecarlo"


def cdse_bundle(tmp_path, soc: bool, maxke=3.0) -> Path:
    """test_ham_couple as a bundle: system_0, its k- and q-points, the _soc or _tmp (all a5..a7 zero) parameters."""
    folder = tmp_path / f"cdse_{int(soc)}"
    folder.mkdir()
    for name in ("system_0.par", "kpoints_0.par", "qpoints_0.par"):
        shutil.copy(COUPLE / name, folder / name)
    vb = 7 if soc else 3  # the valence top: a level of the spinor spectrum, or a spatial level (DeepPseudopot's)
    (folder / "input_0.par").write_text(f"maxKE = {maxke}\nnBands = 16\nidxVB = {vb}\nidxCB = {vb + 1}\nidxGap = 0\n")
    for sym in ("Cd", "Se"):
        shutil.copy(COUPLE / f"{sym}Params_{'soc' if soc else 'tmp'}.par", folder / f"init_{sym}Params.par")
    (folder / "NN_config.par").write_text(f"nSystem = 1\nSObool = {int(soc)}\nPPmodel = ZeroFunction\n")
    return folder


def cspbi3_bundle(tmp_path, maxke=1.5, soc=True, extra_q=()) -> Path:
    """test_ham_montecarlo (CsPbI3 with coupling targets) as a bundle at a low cutoff."""
    folder = tmp_path / f"cspbi3_{int(soc)}"
    folder.mkdir()
    for p in MONTECARLO.iterdir():
        name = f"init_{p.name}" if p.name.endswith("Params.par") else p.name
        shutil.copy(p, folder / name)
    text = (MONTECARLO / "input_0.par").read_text().replace("maxKE = 6.0", f"maxKE = {maxke}")
    if not soc:  # spatial levels: 13 below the gap
        text = text.replace("idxVB = 25", "idxVB = 12").replace("idxCB = 26", "idxCB = 13")
    (folder / "input_0.par").write_text(text)
    if extra_q:
        with open(folder / "qpoints_0.par", "a") as f:
            f.writelines(" ".join(map(str, q)) + " 1.0\n" for q in extra_q)
        (folder / "expCoupling_0.par").unlink()
    (folder / "NN_config.par").write_text(f"nSystem = 1\nSObool = {int(soc)}\nPPmodel = ZeroFunction\n")
    return folder


def setup(folder):
    bundle = read_bundle(folder)
    spec = bundle.systems[0]
    pp = Pseudopotential.from_bundle(bundle)
    return bundle, spec, pp, system_hamiltonian(spec, pp)


def full_derivative(ham, k, kp):
    """dV/dtau as matrices (atoms, 3, dim, dim): matrix elements between unit vectors."""
    geo = DerivativeGeometry.build(ham.basis, k, kp, ham.pseudopotential.soc, ham.pseudopotential.nonlocal_)
    eye = torch.eye(ham.dim, dtype=torch.complex128)
    return matrix_elements(ham.basis, ham.pseudopotential, geo, eye, eye, ham.spinor)


def hamiltonian_at(crystal, miller, pp, maxke, k):
    return Hamiltonian(PlaneWaveBasis(crystal, maxke, miller=miller), pp).matrices(k)[0]


def test_without_soc_idxvb_and_idxcb_are_spatial_levels_as_in_deeppseudopot(tmp_path):
    """DeepPseudopot takes eigenvector idxVB of the N x N spin-free matrix: in a no-SOC bundle idxVB = 3 and
    idxCB = 4 are CdSe's valence top and conduction bottom (4 spatial valence levels; slots 7 and 8 of the
    spin-doubled band table)."""
    bundle, spec, pp, ham = setup(cdse_bundle(tmp_path, False))
    assert not ham.spinor
    states = SystemCouplings(ham, spec).states()[0]
    e = torch.linalg.eigvalsh(ham.matrices(ham.basis.kpoints(spec.kpoints[:1]))[0])
    assert float(states["vb"][1].max()) == pytest.approx(float(e[3]), abs=1e-12)
    assert float(states["cb"][1].min()) == pytest.approx(float(e[4]), abs=1e-12)
    assert float(e[4] - e[3]) * HARTREE_EV > 0.5  # the gap lies between them
    assert (table_slot(3, False, "vb"), table_slot(4, False, "cb")) == (7, 8)


@pytest.mark.parametrize("soc", [False, True], ids=["local", "soc_nl"])
def test_derivative_equals_finite_difference_of_displaced_cells(tmp_path, soc):
    """q = 0: dH/dtau of Cd along the displacement of system_dx2.par (+delta) and its mirror image (-delta),
    at Gamma and L, for every matrix element and for the band-edge matrix elements."""
    bundle, spec, pp, ham = setup(cdse_bundle(tmp_path, soc))
    _, _, _, frac_dx, _ = read_system_file(COUPLE / "system_dx2.par", [])
    base = ham.basis.crystal
    shift = (frac_dx - base.frac) @ base.lattice  # Cartesian, only Cd moves
    delta = float(np.linalg.norm(shift[0]))
    direction = shift[0] / delta
    assert delta == pytest.approx(1.14485278e-4, rel=1e-6) and np.allclose(direction, [0, 1, 0])
    for kidx in (0, 1):
        k = ham.basis.kpoints(spec.kpoints[kidx : kidx + 1])
        up = Crystal(base.lattice, base.atom_species, frac_dx, base.species)
        down = Crystal(base.lattice, base.atom_species, 2 * base.frac - frac_dx, base.species)
        fd = (hamiltonian_at(up, ham.basis.miller, pp, spec.maxke, k)
              - hamiltonian_at(down, ham.basis.miller, pp, spec.maxke, k)) / (2 * delta)
        d = full_derivative(ham, k[0], k[0])
        analytic = torch.einsum("g,gij->ij", torch.as_tensor(direction, dtype=torch.complex128), d[0])
        assert float(torch.linalg.norm(analytic - fd) / torch.linalg.norm(fd)) < 1e-6
        assert float(torch.linalg.norm(d[1])) > 0.1 * float(torch.linalg.norm(d[0]))  # Se's own, not zero
    # band-edge matrix elements at Gamma (q-point 1 is 0 0 0): <psi_m| FD |psi_n> = M_mn
    sc = SystemCouplings(ham, spec)
    states = sc.states()[0]
    m = sc.matrix_elements()[1]
    for edge in ("vb", "cb"):
        v = states[edge][0]
        k = ham.basis.kpoints(spec.kpoints[:1])
        fd = (hamiltonian_at(up, ham.basis.miller, pp, spec.maxke, k)
              - hamiltonian_at(down, ham.basis.miller, pp, spec.maxke, k)) / (2 * delta)
        m_dir = torch.einsum("g,gmn->mn", torch.as_tensor(direction, dtype=torch.complex128), m[edge][0])
        ref = v.mH @ fd @ v
        assert float((m_dir - ref).abs().max()) < 1e-6 * float(ref.abs().max()) + 1e-12


@pytest.mark.parametrize("soc", [False, True], ids=["local", "soc_nl"])
def test_phonon_q_derivative_equals_supercell_finite_difference(tmp_path, soc):
    """q = b1/3: sum over the 3 cells R of e^{+i q.R} dH_sc/dtau_{Cd,R} of a 3x1x1 supercell, between the plane
    waves k + G (rows) and k + q + G (columns), equals dV/dtau(q) between the bases at k and k + q."""
    bundle, spec, pp, ham = setup(cdse_bundle(tmp_path, soc, maxke=2.0))
    prim = ham.basis.crystal
    sc = prim.supercell([3, 1, 1])
    miller = ham.basis.miller
    rows = miller * np.array([3, 1, 1])
    cols = rows + np.array([1, 0, 0])
    union = np.concatenate([rows, cols])
    kfrac = np.array([[0.13, 0.27, -0.08]])
    k = torch.as_tensor(prim.kpoints_cartesian(kfrac))
    q = torch.as_tensor(prim.kpoints_cartesian([[1 / 3, 0, 0]]))[0]
    n, nsc = len(miller), len(union)
    spin = 2 if ham.spinor else 1
    ri = np.concatenate([np.arange(n) + s * nsc for s in range(spin)])
    ci = np.concatenate([np.arange(n, 2 * n) + s * nsc for s in range(spin)])
    natoms = len(prim.atom_species)
    h = 1e-4
    fd = torch.zeros((3, spin * n, spin * n), dtype=torch.complex128)
    for r in range(3):
        atom = r * natoms  # Cd of cell r (supercell atoms: cell-major)
        phase = np.exp(1j * float(q @ torch.as_tensor(r * prim.lattice[0])))
        for g in range(3):
            step = np.zeros_like(sc.frac)
            step[atom] = h * np.eye(3)[g] @ np.linalg.inv(sc.lattice)
            hp = hamiltonian_at(Crystal(sc.lattice, sc.atom_species, sc.frac + step, sc.species), union, pp,
                                spec.maxke, k)
            hm = hamiltonian_at(Crystal(sc.lattice, sc.atom_species, sc.frac - step, sc.species), union, pp,
                                spec.maxke, k)
            fd[g] += phase * ((hp - hm) / (2 * h))[np.ix_(ri, ci)]
    d = full_derivative(ham, k[0], k[0] + q)[0]
    assert float(torch.linalg.norm(d - fd) / torch.linalg.norm(fd)) < 1e-6
    assert float(torch.linalg.norm(fd)) > 1.0


def random_unitary(n, gen):
    z = torch.randn(n, n, dtype=torch.complex128, generator=gen)
    q, r = torch.linalg.qr(z)
    return q * (torch.diagonal(r) / torch.diagonal(r).abs())


def test_gauge_invariance_under_rotation_of_degenerate_states(tmp_path):
    """A random unitary rotation inside every degenerate set leaves g unchanged; the mean |M| changes."""
    _, spec, pp, ham = setup(cspbi3_bundle(tmp_path))
    sc = SystemCouplings(ham, spec)
    states = sc.states()
    gen = torch.Generator().manual_seed(3)
    sizes = {len(states[k][e][1]) for k in states for e in states[k]}
    assert max(sizes) >= 2  # Kramers pairs at least
    g0, g1, c0, c1 = [], [], [], []
    for kp in sc.inputs.partner:
        geo = sc.geometry(int(kp))
        for e in ("vb", "cb"):
            bra, ket = states[sc.kgap][e][0], states[int(kp)][e][0]
            rot_bra = bra @ random_unitary(bra.shape[1], gen)
            rot_ket = ket @ random_unitary(ket.shape[1], gen)
            m = matrix_elements(ham.basis, pp, geo, bra, ket, True)
            mr = matrix_elements(ham.basis, pp, geo, rot_bra, rot_ket, True)
            g0.append(average(m)), g1.append(average(mr))
            c0.append(average(m, "mean_abs")), c1.append(average(mr, "mean_abs"))
    g0, g1, c0, c1 = (torch.stack(v) for v in (g0, g1, c0, c1))
    assert float(g0.max()) > 0.01
    assert torch.allclose(g0, g1, rtol=1e-10, atol=1e-14)
    change = ((c1 - c0).abs() / c0.clamp_min(1e-12))[c0 > 1e-6]
    assert float(change.max()) > 0.05


def zunger_lr(q, p):
    """Wang-Zunger form with the a4 tail, written out here (independent of sepm.potentials)."""
    q = np.asarray(q)
    v = p[0] * (q**2 - p[1]) / (p[2] * np.exp(p[3] * q**2) - 1)
    safe = np.where(q < 1e-4, 1.0, q)
    return v + np.where(q < 1e-4, 0.0, -p[4] * 4 * np.pi / safe**2 * np.exp(-safe**2 / (4 * 0.2**2)))


def test_umklapp_equals_the_same_phonon_without_umklapp(tmp_path):
    """k_g = R, q = (1/2 1/2 1/2): k_g + q = Gamma + (1 1 1). The same phonon q - G0 = -(1/2 1/2 1/2) reaches
    Gamma directly; both give the same couplings, equal to an independent numpy evaluation that writes the ket
    in the plane waves k_g + q + G'' with its coefficients re-indexed by G0 (G'' = G - G0). Without the
    re-indexing (DeepPseudopot's) the values differ."""
    folder = cspbi3_bundle(tmp_path, soc=False, extra_q=[(-0.5, -0.5, -0.5)])
    bundle, spec, pp, ham = setup(folder)
    inputs = spec.couplings
    assert inputs.partner.tolist() == [2, 1, 2] and inputs.umklapp.tolist() == [[1, 1, 1], [0, 0, 0], [0, 0, 0]]
    sc = SystemCouplings(ham, spec)
    g = sc.values()
    assert torch.allclose(g[:, :, 0], g[:, :, 2], rtol=1e-12, atol=0)
    assert float(g[:, :, 0].max()) > 0.01

    crystal = ham.basis.crystal
    B, G = crystal.reciprocal, ham.basis.miller @ crystal.reciprocal
    kg = crystal.kpoints_cartesian(spec.kpoints[0])[0]
    q = crystal.kpoints_cartesian(inputs.qpoints[0])[0]
    g0 = inputs.umklapp[0] @ B
    states = sc.states()
    params = {s: bundle.params[s] for s in bundle.species}

    def independent(ket_shift):
        out = np.zeros((len(crystal.atom_species), 3, 2))
        for e, edge in enumerate(("vb", "cb")):
            bra = states[0][edge][0].numpy()
            ket = states[2][edge][0].numpy()  # psi(Gamma), coefficient c_G on k' + G = k_g + q + (G - G0)
            dk = (kg + G)[:, None, :] - (kg + q + G - ket_shift)[None, :, :]
            norm = np.linalg.norm(dk, axis=-1)
            for a, (sym, tau) in enumerate(zip(crystal.atom_species, crystal.positions)):
                v = zunger_lr(norm, params[sym]) * np.exp(1j * dk @ tau) / crystal.volume
                for c in range(3):
                    m = bra.conj().T @ (1j * dk[..., c] * v) @ ket
                    out[a, c, e] = np.sqrt((np.abs(m) ** 2).mean()) * HARTREE_EV
        return out

    assert np.allclose(independent(g0), g[:, :, 0].numpy(), rtol=1e-10, atol=1e-14)
    naive = independent(np.zeros(3))
    assert np.abs(naive - g[:, :, 0].numpy()).max() > 0.2 * float(g[:, :, 0].max())


def test_reader_errors_name_files_and_lines(tmp_path):
    folder = cspbi3_bundle(tmp_path)
    (folder / "qpoints_0.par").write_text("0.5 0.5 0.5 1.0\n0.25 0.1 0.1 1.0\n")
    with pytest.raises(InputError, match=r"qpoints_0.par:2: k_gap \+ q = \(0.75 0.6 0.6\).*not a k-point of "
                       r"kpoints_0.par"):
        read_bundle(folder)
    (folder / "qpoints_0.par").write_text("0.5 0.5 0.5 1.0\n0.1 0.1 0.1 1.0\n")
    text = (folder / "expCoupling_0.par").read_text().splitlines()
    text[2] = "0.028   0.69   0.5"
    (folder / "expCoupling_0.par").write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match=r"expCoupling_0.par:3: expected 2 values \(one per q-point"):
        read_bundle(folder)
    (folder / "expCoupling_0.par").write_text("\n".join(text[:2]) + "\n0.1 0.2\n")
    with pytest.raises(InputError, match=r"expCoupling_0.par: no values for atom 0 vb y"):
        read_bundle(folder)
    (folder / "input_0.par").write_text("maxKE = 1.5\nnBands = 32\nidxVB = 25\nidxCB = 26\n")
    with pytest.raises(InputError, match=r"input_0.par: qpoints_0.par asks for couplings, which need idxGap"):
        read_bundle(folder)


def test_targets_are_read_per_atom_edge_direction_and_q(tmp_path):
    _, spec, _, _ = setup(cspbi3_bundle(tmp_path))
    ref = spec.couplings.reference
    assert ref.shape == (5, 3, 2, 2)
    assert ref[0, 1, 0, 0] == 0.12 and ref[0, 0, 1, 1] == 1.25 and ref[2, 2, 1, 1] == 0.166667
    assert np.all(ref[4] == 0)


def test_coupling_loss_gradient_matches_finite_differences(tmp_path):
    """d/dp of sum w_q (g - g_ref)^2 through the eigenvectors (degenerate Kramers pairs and a 4-fold set) and
    the potential derivative, for a0, a3, a5, a6 and a7, against central differences of the loss."""
    _, spec, pp, ham = setup(cspbi3_bundle(tmp_path, maxke=1.2))
    params = pp.params.clone().requires_grad_(True)
    pp.params = params
    sc = SystemCouplings(ham, spec)
    loss = sc.loss(sc.values(need_grad=True))
    (grad,) = torch.autograd.grad(loss, params)
    for index in [(1, 0), (2, 3), (2, 5), (1, 6), (2, 7)]:  # I a0, Pb a3, Pb a5, I a6, Pb a7
        h = 1e-5 * max(1.0, abs(float(params.detach()[index])))
        values = []
        for sign in (1, -1):
            p = params.detach().clone()
            p[index] += sign * h
            pp.params = p
            values.append(float(sc.loss(sc.values())))
        fd = (values[0] - values[1]) / (2 * h)
        assert abs(fd) > 1e-4
        assert float(grad[index]) == pytest.approx(fd, rel=1e-5)


def test_coupling_average_key_is_checked(tmp_path):
    folder = cspbi3_bundle(tmp_path)
    (folder / "NN_config.par").write_text("nSystem = 1\nSObool = 1\nPPmodel = ZeroFunction\ncoupling_average = mean\n")
    with pytest.raises(InputError, match=r"NN_config.par:4: coupling_average must be one of rms, mean_abs, got mean"):
        read_bundle(folder)
