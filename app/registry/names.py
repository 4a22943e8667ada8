"""Name normalisation for search.  Reconciliation (issue 6) grows the full Indonesian rules."""

from __future__ import annotations

import re

_TITLES = frozenset({
    "h", "hj", "haji", "hajjah", "drs", "dra", "dr", "ir", "prof", "spd", "sh", "se", "st",
    "skm", "sked", "ssos", "ag", "mm", "mpd", "amd", "bapak", "ibu", "bpk", "sdr", "sdri",
})
# the head's name of an SMS/USSD lead until the field visit asks it: not a name (matching
# treats it as missing, or every lead would look like every other)
LEAD_NAME = "BELUM DIISI"
_SEPARATORS = re.compile(r"[\s,]+")
_NON_LETTER = re.compile(r"[^a-z]")


def normalise_name(name: str) -> str:
    """Lower case, punctuation out, academic and religious titles dropped."""
    tokens = (_NON_LETTER.sub("", t) for t in _SEPARATORS.split(name.lower()))
    words = [t for t in tokens if t]
    kept = [w for w in words if w not in _TITLES]
    return " ".join(kept or words)
