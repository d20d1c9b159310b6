"""Where a Python baseline ran, in the keys rflow's benches use: CPU model, BLAS core, threads.

It also applies the kernel choice rflow makes at start-up: where Debian's OpenBLAS falls back to
older kernels than the CPU runs (Prescott on AVX-512 Xeons), switch it to the matching core, so
C++ and Python are compared on the same GEMM kernels. OPENBLAS_CORETYPE set by the user wins.
"""
import ctypes
import ctypes.util
import os

import torch

_LEVEL = {"skylakex": 4, "cooperlake": 4, "sapphirerapids": 4, "haswell": 3, "zen": 3, "excavator": 3,
          "sandybridge": 2, "bulldozer": 2, "piledriver": 2, "steamroller": 2}


def _cpu():
    model, flags, vendor = "unknown CPU", set(), ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                elif key == "vendor_id" and not vendor:
                    vendor = value.strip()
    except OSError:
        pass
    if {"avx512f", "avx512dq", "avx512bw", "avx512vl"} <= flags:
        level = 4
    elif {"avx2", "fma"} <= flags:
        level = 3
    elif "avx" in flags:
        level = 2
    else:
        level = 1
    return model, flags, vendor, level


def _openblas():
    for name in ("openblas", "openblasp-r0.3.21"):
        path = ctypes.util.find_library(name)
        if path:
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                lib.openblas_get_config.restype = ctypes.c_char_p
                return lib
            except (OSError, AttributeError):
                pass
    return None


def _select(lib, flags, vendor, level):
    core = lib.openblas_get_corename().decode()
    if os.environ.get("OPENBLAS_CORETYPE"):
        return core, "user"
    if _LEVEL.get(core.lower(), 1) >= level:
        return core, "kept"
    wanted = (["Cooperlake"] if "avx512_bf16" in flags else []) + ["SkylakeX"]
    wanted += ["Zen" if vendor == "AuthenticAMD" else "Haswell", "Haswell", "Sandybridge"]
    for cand in wanted:
        if _LEVEL[cand.lower()] > _LEVEL.get(core.lower(), 1) and _LEVEL[cand.lower()] <= level:
            try:
                ctypes.c_void_p.in_dll(lib, "gotoblas_" + cand.upper())
            except ValueError:
                continue
            lib.gotoblas_dynamic_quit()
            os.environ["OPENBLAS_CORETYPE"] = cand
            lib.gotoblas_dynamic_init()
            del os.environ["OPENBLAS_CORETYPE"]
            if lib.openblas_get_corename().decode().lower() == cand.lower():
                return cand, "selected"
    return lib.openblas_get_corename().decode(), "unavailable"


_MODEL, _FLAGS, _VENDOR, _LEVEL_CPU = _cpu()
_LIB = _openblas()
_CORE, _ACTION = _select(_LIB, _FLAGS, _VENDOR, _LEVEL_CPU) if _LIB else ("n/a", "not-openblas")


def system_info():
    return {"cpu": _MODEL, "blas": _LIB.openblas_get_config().decode() if _LIB else "not OpenBLAS",
            "blas_core": _CORE, "blas_action": _ACTION, "torch": torch.__version__,
            "threads": torch.get_num_threads()}
