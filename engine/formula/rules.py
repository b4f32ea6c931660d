"""What a formula may be: its size limits, the characters and names it may use, and the default
time a worker may take. Every other module of engine.formula reads its limits from here."""

from __future__ import annotations

import re
import string

MAX_CHARS = 200
MAX_DEPTH = 30
MAX_NODES = 150
MAX_LITERAL = 10**6
MAX_EXPONENT = 1000
MAX_BITS = 4096
MAX_NAME = 16
MAX_ROOT_WORK = 2**20  # bits of the base × denominator of a number's fractional exponent
VECTOR_DIM = 3
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 60.0
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}")
# what a formula may contain, character by character (checked before anything else)
ALLOWED_CHARS = frozenset(string.ascii_letters + string.digits + " +-*/^().,_")
