"""Tests of the convergence study's section on real networks (studies/convergence_networks.py)."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

import gantheory as gt
from studies.convergence_networks import METHODS, QUICK, NetworksConfig, networks_section


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("networks")
    return out, networks_section(replace(NetworksConfig(), **QUICK), out, device="cpu", seed=0, progress=False)


def test_quick_section_writes_its_figures_table_and_numbers(quick):
    out, section = quick
    assert section.figures == ["networks_training.png", "networks_eigenvalues.png"]
    for name in section.figures:
        assert (out / name).stat().st_size > 10_000
    numbers = json.loads((out / "networks.json").read_text())
    assert set(numbers["summary"]) == set(METHODS)
    table = section.tables[0]
    assert table.count("\n") == 1 + len(METHODS)
    for label in ("none", "R1", "R2", "consensus", "instance noise"):
        assert f"| {label} |" in table


def test_quick_numbers_start_at_the_closed_form_and_r1_reaches_the_equilibrium(quick):
    """Every run starts at G = N(1.5, 0.5^2): distance hypot(1.5, 0.5) to (0, 1) and the exact JSD
    of gantheory.jsd. With R1 the equilibrium p_g = p_data is locally asymptotically stable
    (Mescheder et al. 2018, Theorem 4.1): every R1 run ends far closer than it started."""
    _, section = quick
    start_jsd = float(gt.jsd(gt.gaussian(0.0, 1.0), gt.gaussian(1.5, 0.5)).value)
    for method in METHODS:
        for run in section.numbers["runs"][method]:
            assert run["distance"][0] == pytest.approx(math.hypot(1.5, 0.5), abs=1e-7)
            assert run["jsd"][0] == pytest.approx(start_jsd, abs=1e-6)
            eig = np.array(run["game"]["eigenvalues_real"]) + 1j * np.array(
                run["game"]["eigenvalues_imag"]
            )
            assert run["game"]["max_real"] == pytest.approx(eig.real.max(), abs=1e-15)
            assert run["game"]["spectral_radius"] == pytest.approx(
                np.abs(1 + 0.1 * eig).max(), abs=1e-14
            )
    for run in section.numbers["runs"]["r1"]:
        assert run["jsd"][-1] < start_jsd / 100
        assert run["distance"][-1] < 0.15


def test_r1_and_r2_push_the_rotational_eigenvalues_left(quick):
    """R1/R2 subtract gamma times a positive semi-definite curvature from D's block of J (in the
    Dirac-GAN they move +-i/2 to -gamma/2 +- sqrt(gamma^2/4 - 1/4)): the complex eigenvalues (the
    G-D rotation) of every R1 and R2 run lie further left than those of every unregularised run."""
    _, section = quick
    summary_rows = {
        method: [_rotational(run["game"]) for run in section.numbers["runs"][method]]
        for method in ("none", "r1", "r2")
    }
    assert max(summary_rows["r1"] + summary_rows["r2"]) < min(summary_rows["none"]) < 0


def _rotational(game):
    re, im = np.asarray(game["eigenvalues_real"]), np.asarray(game["eigenvalues_imag"])
    return float(re[np.abs(im) > 1e-9].max())


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="net_methods"):
        NetworksConfig(net_methods=("none", "r3"))
    with pytest.raises(ValueError, match="net_lr"):
        NetworksConfig(net_lr=-1.0)
