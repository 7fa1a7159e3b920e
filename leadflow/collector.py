"""Python's cyclic garbage collector, set for processes that handle inquiries in batches.

CPython's defaults (a young collection every 700 net allocations, a full one when the
old generation grew by a quarter) suit short scripts. The consumer holds a batch of up
to 500 inquiries and their rows alive at once, so at the defaults it ran about 2,500
collections per 20,000 inquiries, 18 of them full walks of the whole heap (modules,
pydantic schemas, SQLAlchemy's metadata, caches): 2.1-2.3 s of CPU, a sixth of the
consumer's (issue 11, `bench.consumer_cpu --default-gc`). Imports nothing of ours.
"""

from __future__ import annotations

import gc

# Young objects between collections. Most of what a batch allocates is freed by its
# reference count when the batch ends; at 20,000 the collector rarely meets it alive,
# so it stops copying each batch's objects into the older generations and walking
# them there again. Cyclic garbage waits for at most this many allocations: a few MB.
YOUNG = 20_000
# Young collections per middle one, and middle collections per old one.
MIDDLE = 20
OLD = 20


def tune() -> None:
    """Set the thresholds; call once, as the process starts."""
    gc.set_threshold(YOUNG, MIDDLE, OLD)


def settle() -> None:
    """Move everything alive now out of the collector's sight, for good: call it once
    the process has started (imports, schemas, connections), so full collections walk
    only what was made since. What startup leaves behind is never collected, cycles
    included; it is kept anyway."""
    gc.collect()
    gc.freeze()
