"""Latency figures for the Python benches, as bench/latency.h gives them to the C++ ones: median,
99th percentile and minimum wall time of a call after a warm-up, in milliseconds."""
import time


def timed(fn, repeats):
    for _ in range(max(10, repeats // 20)):
        fn()
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    return {"median_ms": ms[repeats // 2], "p99_ms": ms[repeats * 99 // 100], "min_ms": ms[0]}
