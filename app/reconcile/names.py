"""Indonesian personal names: normalisation, old-spelling folding, sound keys, token weights.

Three levels of "the same name", from strict to loose:

* ``tokens`` (:func:`normalise`): lower case, punctuation gone, titles and degrees removed
  (H., Hj., Hi. - the Ternate way of writing Haji -, Drs., Ir., S.Pd., ...), and common
  variants mapped to one form (Moh./Muh./Mohammad -> muhammad, Abd. -> abdul). A lone
  letter (``M.``) stays an *initial*: compatible with any name starting with it, never equal.
* ``fold`` (:func:`fold`): the pre-1972 (Van Ophuijsen / Soewandi) spellings folded onto the
  EYD spelling: oe->u, dj->j, tj->c, then j->y, ch->kh, nj->ny, sj->sy, and doubled letters
  collapsed. So Joesoef, Jusuf and Yusuf all fold to ``yusuf``; Tjahjono and Cahyono to
  ``cahyono``. Soundex would code Joesoef J210 and Yusuf Y210: different.
* ``sound`` (:func:`sound_key`): a looser key for blocking only (kh->h, sy->s, f/v->p, z->s,
  q->k, dh->d, final h dropped), so Khadijah, Hadijah and Hadija share a block.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

# Honorifics, religious titles and forms of address, as single tokens after dots are removed.
TITLES = frozenset({
    "h", "hj", "hi", "haji", "hajah", "hajjah", "drs", "dra", "dr", "ir", "prof", "ust",
    "ustad", "ustadz", "ustaz", "kh", "bpk", "bapak", "pak", "ibu", "bu", "sdr", "sdri", "nn",
    "ny", "tn", "alm", "almh", "almarhum", "almarhumah", "dg", "daeng", "ama", "ina",
})
# Academic degrees written with dots ("S.Pd.I", "A.Md.Kep") and joined; compared dot-free.
DEGREES = frozenset({
    "spd", "spdi", "spdsd", "se", "sh", "shi", "ssos", "sag", "skom", "skep", "sked", "sip",
    "st", "ssi", "shut", "sp", "spt", "sfarm", "spsi", "sak", "skes", "skm", "sst", "str",
    "sthi", "sei", "ssy", "sikom", "shum", "ssn", "mpd", "mpdi", "msi", "mm", "mh", "mhum",
    "mkes", "mag", "mt", "mkom", "msc", "ma", "mba", "amd", "amdkep", "amdkeb", "ama", "amk",
    "amdkes", "lc", "phd", "bsc", "apt", "ners", "mse",
})
# Spelling and abbreviation variants of the same word -> one form.
VARIANTS: dict[str, str] = {}
for _canon, _forms in {
    "muhammad": "muhammad mohammad mohamad muhamad muhammat mochammad mochamad mohamed "
                "muchammad muchamad mohammed moh muh mhd mohd moch much mch md",
    "abdul": "abdul abd abdoel abdu",
    "ahmad": "ahmad achmad akhmad ahmat achmat",
    "abdullah": "abdullah abdulah abdollah",
    "siti": "siti sitti st",
    "nur": "nur noer nurul noor",
    "fatimah": "fatimah fatima fatma",
    "hadijah": "hadijah khadijah hadija khadija chadijah",
    "aisyah": "aisyah aisya aisah aishah",
    "zainab": "zainab zaenab",
    "umar": "umar oemar omar",
    "usman": "usman oesman osman utsman",
    "rahman": "rahman rachman rakhman",
}.items():
    for _form in _forms.split():
        VARIANTS[_form] = _canon

# Given names so frequent in Ternate that sharing them says little (used before the data's
# own frequencies are known, and as a floor on them).
COMMON_TOKENS = frozenset({
    "muhammad", "siti", "nur", "abdul", "ahmad", "sri", "dewi", "ali", "hasan", "husain",
    "fatimah", "aisyah", "hadijah", "yusuf", "ibrahim", "ismail", "umar", "rahman",
})

_DOTTED = re.compile(r"\b[a-z]{1,4}(?:\.[a-z]{1,4})+\b\.?")
_NON_LETTERS = re.compile(r"[^a-z\s]+")
_OLD_SPELLING = (("oe", "u"), ("dj", "j"), ("tj", "c"), ("j", "y"), ("ch", "kh"), ("nj", "ny"),
                 ("sj", "sy"))
_SOUND = (("kh", "h"), ("sy", "s"), ("dh", "d"), ("th", "t"), ("f", "p"), ("v", "p"), ("z", "s"),
          ("q", "k"), ("x", "ks"), ("ph", "p"))
_DOUBLE = re.compile(r"(.)\1+")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@lru_cache(maxsize=65536)
def normalise(name: str) -> tuple[str, ...]:
    """Name tokens: lower case, no punctuation, no titles or degrees, variants unified.

    Initials stay as one-letter tokens (``M. Yusuf`` -> ``("m", "yusuf")``).
    """
    text = _ascii(name).lower().replace("'", "").replace("`", "")

    def dotted(match: re.Match[str]) -> str:
        joined = match.group(0).replace(".", "")
        return " " if joined in DEGREES else match.group(0).replace(".", " ")

    text = _DOTTED.sub(dotted, text)
    text = _NON_LETTERS.sub(" ", text)
    tokens: list[str] = []
    for raw in text.split():
        if raw in TITLES or raw in DEGREES:
            continue
        tokens.append(VARIANTS.get(raw, raw))
    if not tokens:  # a name that was nothing but a title ("Hj.") is still a name
        tokens = text.split()
    return tuple(tokens)


@lru_cache(maxsize=65536)
def fold(token: str) -> str:
    """One token in EYD spelling: Joesoef -> yusuf, Tjahjono -> cahyono, Djafar -> yafar."""
    out = token
    for old, new in _OLD_SPELLING:
        out = out.replace(old, new)
    out = _DOUBLE.sub(r"\1", out)
    return VARIANTS.get(out, out)


@lru_cache(maxsize=65536)
def sound_key(token: str) -> str:
    """A loose key for blocking: the folded token with close sounds merged."""
    out = fold(token)
    for old, new in _SOUND:
        out = out.replace(old, new)
    if len(out) > 3 and out.endswith("h"):
        out = out[:-1]
    return _DOUBLE.sub(r"\1", out)


COMMON_FOLDED = frozenset(fold(t) for t in COMMON_TOKENS)


def is_initial(token: str) -> bool:
    return len(token) == 1


@dataclass
class TokenWeights:
    """How much sharing a (folded) name token tells: log-inverse frequency in the data.

    ``weight`` is about log2(N / count) clipped to [0.5, 12]; the tokens of
    :data:`COMMON_TOKENS` never weigh more than ``common_cap``. Unknown tokens get the
    top weight (a token nobody else has is informative).
    """

    counts: Counter[str] = field(default_factory=Counter)
    total: int = 0
    common_cap: float = 2.0

    @classmethod
    def from_names(cls, names: Iterable[str | None]) -> TokenWeights:
        weights = cls()
        for name in names:
            if name:
                weights.add(name)
        return weights

    def add(self, name: str) -> None:
        folded = {fold(t) for t in normalise(name) if not is_initial(t)}
        self.counts.update(folded)
        self.total += 1

    def weight(self, folded_token: str) -> float:
        if is_initial(folded_token):
            return 0.5
        count = self.counts.get(folded_token, 0)
        w = math.log2((self.total + 1) / (count + 1)) if self.total else 6.0
        w = min(max(w, 0.5), 12.0)
        return min(w, self.common_cap) if folded_token in COMMON_FOLDED else w
