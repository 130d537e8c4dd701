"""Ids of new hub contacts: UUIDs in the layout of UUIDv7 (RFC 9562), strictly increasing
within a process.

Their order is read as the order the contacts were made in: ``twins.order`` keeps the
older of two contacts a run made of one person, and ``Matching._match`` falls back on it
between contacts equally alike. With random bits below the millisecond, two contacts made
in one millisecond (most of a first sync's) sorted at random, so one folder synced twice
from identical copies made a twin a second person in one run and not in the other
(``bench/two_hubs.py``: 5,200 contacts created, then 5,201). So within a millisecond the
bits after the time count up from a random start (RFC 9562, 6.2 method 2), and a clock
that steps back keeps the last time: each id sorts after the one made before it.
"""

from __future__ import annotations

import os
import threading
import time

_RANDOM_BITS = 74  # 12 bits of rand_a, 62 of rand_b
_lock = threading.Lock()
_last_millis = 0
_last_count = 0


def new_contact_id() -> str:
    """A UUIDv7-shaped id greater than every one made before it in this process: ids made
    one after another sort together (the many indexes keyed by contact id grow at their
    end, which keeps large first syncs fast) and in the order they were made."""
    global _last_millis, _last_count
    millis = time.time_ns() // 1_000_000
    with _lock:
        if millis > _last_millis:
            # a random start with its top bit clear: room to count up within the millisecond
            count = int.from_bytes(os.urandom(10)) & ((1 << (_RANDOM_BITS - 1)) - 1)
        else:
            millis, count = _last_millis, _last_count + 1
            if count >> _RANDOM_BITS:  # (2**73 ids in one millisecond: never, but sorted still)
                millis, count = millis + 1, 0
        _last_millis, _last_count = millis, count
    high, low = count >> 62, count & ((1 << 62) - 1)
    value = (millis << 80) | (0x7 << 76) | (high << 64) | (0x2 << 62) | low
    h = f"{value:032x}"  # (str(uuid.UUID(int=value)), without two objects per contact)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
