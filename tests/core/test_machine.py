import json

from real3d.core import machine

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni
"""
AVX2_ONLY = "model name\t: Some CPU\nflags\t\t: sse2 avx avx2 fma\n"


def test_cpu_model_and_extensions_from_cpuinfo():
    assert machine.cpu_model(CPUINFO) == "AMD EPYC 7B13"
    assert machine.cpu_extensions(CPUINFO) == ["avx2", "avx512f", "avx512bw", "avx512_vnni"]
    assert machine.has_avx512(CPUINFO) and not machine.has_avx512(AVX2_ONLY)
    assert machine.cpu_extensions(AVX2_ONLY) == ["avx2"]
    # nothing readable: no flags, and a model name from platform (never empty)
    assert machine.cpu_flags("") == set() and machine.cpu_model("")


def test_library_versions_name_what_is_installed():
    import numpy as np

    v = machine.library_versions(["numpy", "PIL", "skimage", "no_such_library_here"])
    assert v["numpy"] == np.__version__
    assert v["pillow"] not in ("", "-") and v["scikit-image"] not in ("", "-")
    assert v["no_such_library_here"] == "-"


def test_machine_info_is_json_and_the_line_names_the_parts():
    info = machine.machine_info(("numpy",))
    json.dumps(info)
    assert {"cpu", "cpu_extensions", "avx512", "cpus", "python", "numpy", "load_avg"} <= set(info)
    assert info["avx512"] == ("avx512f" in info["cpu_extensions"])
    line = machine.describe_machine(("numpy",))
    assert info["cpu"] in line and "AVX-512" in line and f"numpy {info['numpy']}" in line


def test_process_memory():
    now, peak = machine.current_rss_mb(), machine.peak_rss_mb()
    assert 0 < now <= peak * 1.01 + 1
