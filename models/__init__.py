"""Fireside's machine learning: generation, classification, fine-tuning, model registry.

Nothing here imports Qt or the SQLite store; functions take and return plain Python values.
"""

import os as _os


def _choose_openmp_wait_policy() -> None:
    """How torch's OpenMP threads wait between operations; set before torch loads its runtime.

    Decoding one token runs hundreds of small parallel operations. Threads that spin a little
    while waiting for the next one make decoding about 2.5x faster on a machine with cores to
    spare (90 against 36 tokens/s here, idle); on a machine already busy with other work they
    take the cores that the thread they wait for needs, and decoding became 3.5x slower (6.6
    against 23 tokens/s). So: a bounded spin (GNU OpenMP's GOMP_SPINCOUNT, Linux) when the load
    at start leaves at least one core free, sleeping threads otherwise. Values set by the user win.
    """
    if "OMP_WAIT_POLICY" in _os.environ or "GOMP_SPINCOUNT" in _os.environ:
        return
    try:
        load = _os.getloadavg()[0]
        cores = len(_os.sched_getaffinity(0))
    except (OSError, AttributeError):  # no load average or affinity (Windows, macOS)
        load, cores = None, 0
    if load is not None and load < cores - 1:
        _os.environ["OMP_WAIT_POLICY"] = "ACTIVE"
        _os.environ["GOMP_SPINCOUNT"] = "10000"
    else:
        _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


_choose_openmp_wait_policy()
