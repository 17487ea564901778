"""Across CPUs: one seed gives the same numbers to the cross-machine tolerance whichever BLAS kernels run.

OpenBLAS picks its kernels per CPU; ``OPENBLAS_CORETYPE`` forces another choice, so the kernels of another
x86-64 CPU can run on this one (only those whose instructions this CPU has).  Each run is a fresh process
(the variable is read when OpenBLAS loads).
"""
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from linmeta.figures import agree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = r"""
import json
import numpy as np, threadpoolctl
import linmeta as lm
arch = sorted({i.get("architecture") for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"})
a = lm.simulate_curve(lm.presets.FIG2, "alpha_r", np.linspace(-0.3, 0.9, 25), 100, 0, "protocol")
b = lm.simulate_curve(lm.presets.FIG3, "alpha_t", np.linspace(-2.0, 1.0, 13), 100, 0, "exact")
values = np.concatenate([a["mean"], a["stderr"], b["mean"], b["stderr"]])
print(json.dumps({"arch": arch, "values": [float(v).hex() for v in values]}))
"""
#: OpenBLAS core types of other x86-64 CPUs and the instructions their kernels need
CORES = {"Haswell": {"avx2", "fma"}, "Sandybridge": {"avx"}, "Nehalem": {"sse4_2"}}


def _run(coretype=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["arch"], np.array([float.fromhex(v) for v in res["values"]])


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as fh:
            line = next(ln for ln in fh if ln.startswith("flags"))
    except (OSError, StopIteration):
        return set()
    return set(line.split(":", 1)[1].split())


@pytest.mark.statistical
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 OpenBLAS core types")
def test_other_cpus_kernels_agree_to_the_stated_tolerance():
    native_arch, native = _run()
    if not native_arch:
        pytest.skip("NumPy/SciPy do not use OpenBLAS here")
    flags = _cpu_flags()
    compared = {}
    for core, needs in CORES.items():
        if not needs <= flags:
            continue
        arch, values = _run(core)
        if arch == native_arch:
            continue                                      # this CPU's own kernels: nothing to compare
        np.testing.assert_allclose(values, native, rtol=agree.RTOL, atol=0, err_msg=f"{core} vs {native_arch}")
        compared[core] = int(np.count_nonzero(values != native))
    if not compared:
        pytest.skip(f"no other OpenBLAS core type runs on this CPU ({native_arch})")
    print(f"kernels {native_arch} vs {compared}: values not bit-identical (of {native.size})")
