"""Fireside's machine learning: generation, classification, fine-tuning, model registry.

Nothing here imports Qt or the SQLite store; functions take and return plain Python values.
"""

import os as _os

# OpenMP worker threads that spin while waiting for work burn the CPU time that the thread they wait
# for (or the GUI thread) needs whenever the machine has other work: on a busy two-core machine
# decoding went from ~20 ms to over 100 ms a token. Waiting threads sleep instead. It must be set
# before torch loads its OpenMP runtime, hence here; a value set by the user wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
