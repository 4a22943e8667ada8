"""Build the static character model of SMS format K2 (``sync_protocol/smsmodel_table.py``).

The model predicts the next character of a name, place or address from the two before it in
the same word (docs/sms-fallback.md, "Text").  It is trained on a corpus of Indonesian personal
names, place names and street names, ``bench/data/sms_name_corpus.txt``, assembled from:

- Faker's ``id_ID`` person and address providers (MIT licence, copyright 2012 Daniele
  Faraglia; Faker took its names from nama.web.id): first names, family names, titles and
  degrees, cities, streets;
- the project's synthetic lists (``app/registry/synthetic.py``, ``app/reconcile/synthetic.py``):
  given and family names of Ternate and Tidore, streets of Kota Ternate;
- the kelurahan and kecamatan names of ``seed_data/ternate_wilayah.csv`` (Kemendagri codes);
- the format's own reference lists (``smsref.PLACES``, ``smsref.WORDS``).

One word in five (by a hash of the word, ``held_out``) is HELD OUT: no training text holds
it, and the table that ships is the one trained without them, so the bench and the tests can
measure the model on words it never saw.

    .venv/bin/python bench/build_sms_name_model.py            # corpus file -> table, figures
    .venv/bin/python bench/build_sms_name_model.py --collect  # sources -> corpus file (needs faker)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import math
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from sync_protocol import smsmodel  # noqa: E402
from sync_protocol.smsref import PLACES, WORDS  # noqa: E402

CORPUS = PROJECT_ROOT / "bench" / "data" / "sms_name_corpus.txt"
TABLE = PROJECT_ROOT / "sync_protocol" / "smsmodel_table.py"
SECTIONS = ("first_male", "first_female", "family", "title", "degree", "place", "street", "listed")
ORDER = smsmodel.ORDER
DISCOUNT = 0.75         # absolute discounting, interpolated with the shorter context
MIN_CONTEXT = 20        # a two-character context gets its own row when seen this often
SAMPLES = 4_000         # texts composed from the corpus: how many words a text has
WORD_SHARE = 0.25       # P(a listed word) at the start of a word: a prior, the corpus cannot say
TAIL_SHARE = 0.5        # TAIL (the end of an earlier text follows) as often as half of END
CASE_HEADER = """\
# Corpus of the SMS name model (bench/build_sms_name_model.py --collect writes this file).
# Sources: Faker id_ID providers (person: first names, last names, prefixes, suffixes;
#   address: cities, streets), MIT licence:
#   Copyright (c) 2012 Daniele Faraglia. Permission is hereby granted, free of charge, to any
#   person obtaining a copy of this software and associated documentation files (the
#   "Software"), to deal in the Software without restriction [...]. The above copyright
#   notice and this permission notice shall be included in all copies or substantial
#   portions of the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
# + app/registry/synthetic.py and app/reconcile/synthetic.py (names, family names, streets)
# + seed_data/ternate_wilayah.csv (kecamatan and kelurahan names of Kota Ternate)
# + sync_protocol/smsref.py (PLACES, WORDS)
"""


# --- corpus ---------------------------------------------------------------------------------

def collect() -> dict[str, list[str]]:
    person = importlib.import_module("faker.providers.person.id_ID").Provider
    address = importlib.import_module("faker.providers.address.id_ID").Provider
    from app.reconcile import synthetic as rec
    from app.registry import synthetic as reg

    wilayah = PROJECT_ROOT / "seed_data" / "ternate_wilayah.csv"
    with wilayah.open(encoding="utf-8") as f:
        regions = [row["nama_kemendagri"] for row in csv.DictReader(f)]
    sections = {
        "first_male": [*person.first_names_male, *reg.MALE, *rec.MALE],
        "first_female": [*person.first_names_female, *reg.FEMALE, *rec.FEMALE],
        "family": [*person.last_names_male, *person.last_names_female, *reg.FAMILY, *rec.SURNAMES],
        "title": [*person.prefixes_male, *person.prefixes_female],
        "degree": list(person.suffixes),
        "place": [*address.cities, *PLACES, *reg.PLACES, *regions],
        "street": [*address.streets, *rec.STREETS],
        "listed": list(WORDS),
    }
    return {k: list(dict.fromkeys(v)) for k, v in sections.items()}


def write_corpus(sections: dict[str, list[str]]) -> None:
    CORPUS.parent.mkdir(exist_ok=True)
    lines = [CASE_HEADER.rstrip("\n")]
    for name in SECTIONS:
        lines += [f"[{name}]", *sections[name]]
    CORPUS.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_corpus(path: Path = CORPUS) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = defaultdict(list)
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        else:
            sections[current].append(line.strip())
    return dict(sections)


def held_out(word: str) -> bool:
    """One upper-cased word in five, fixed by its hash: never in a training text."""
    return hashlib.sha256(word.upper().encode()).digest()[0] % 5 == 0


def corpus_words(sections: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """(training words, held-out words): the distinct upper-case words of the corpus."""
    words = sorted({w for entries in sections.values() for e in entries for w in e.upper().split()})
    return [w for w in words if not held_out(w)], [w for w in words if held_out(w)]


ADDRESS_KEYWORDS = ("JL.", "JALAN", "GG.", "GANG", "LORONG", "NO.", "RT", "RW", "BLOK", "KEL.", "DESA")
KEYWORD_WEIGHT = 10     # a closed class of frequent words: counted as if seen this often


def address_words() -> list[str]:
    """Words of addresses as the registry writes them (``Jl. Merdeka No. 12 RT 005``)."""
    return [*ADDRESS_KEYWORDS * KEYWORD_WEIGHT, *(str(n) for n in range(1, 251)),
            *(f"{n:03d}" for n in range(1, 31))]


def training_texts(sections: dict[str, list[str]], n: int = SAMPLES, seed: int = 7) -> list[str]:
    """Texts as an enumerator types them (Faker id_ID's name formats, places, addresses),
    composed from the corpus without any held-out word: only for how often a word is the last."""
    usable = {k: [e for e in v if not any(held_out(w) for w in e.split())] for k, v in sections.items()}
    rng = random.Random(seed)
    given = usable["first_male"] + usable["first_female"] + usable["listed"]
    texts: list[str] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            name = f"{rng.choice(given)} {rng.choice(usable['family'])}"
            if rng.random() < 0.3:
                name = f"{rng.choice(given)} {name}"
            if rng.random() < 0.12:
                name = f"{rng.choice(usable['title'])} {name}"
            if rng.random() < 0.12:
                name = f"{name}, {rng.choice(usable['degree'])}"
            texts.append(name)
        elif r < 0.65:
            texts.append(rng.choice(given))
        elif r < 0.85:
            texts.append(rng.choice(usable["place"]))
        else:
            street = rng.choice(usable["street"] + usable["family"])
            lead = rng.choice(("Jl.", "Jl.", "Jalan", "Gg.", "Lorong"))
            text = f"{lead} {street} No. {rng.randint(1, 250)}"
            if rng.random() < 0.3:
                text += f" RT {rng.randint(1, 20):03d} RW {rng.randint(1, 9):03d}"
            texts.append(text)
    return texts


# --- model ----------------------------------------------------------------------------------

def symbols_of(text: str) -> list[tuple[str, int]]:
    """(context, symbol) pairs of an upper-case text, spelled out, ending with END."""
    out, history = [], smsmodel.START
    for c in text.upper():
        s = smsmodel.SYMBOL_OF.get(c, smsmodel.ESC)
        out.append((history, s))
        history = smsmodel.next_history(history, c)
    out.append((history, smsmodel.END))
    return out


def train(words: list[str], texts: list[str]) -> dict[str, list[float]]:
    """Interpolated absolute discounting over contexts of 0 .. ORDER characters, counting each
    distinct word ONCE (a name list repeated would teach the model those names, not names);
    the end of a word is then split between a space and END as in ``texts``."""
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for word in words:
        for history, s in symbols_of(word):
            for k in range(ORDER + 1):
                counts[history[ORDER - k:]][s] += 1
    n = len(smsmodel.SYMBOLS)
    spellable = [s for s in range(n) if s != smsmodel.WORD]
    uniform = [1 / len(spellable) if s != smsmodel.WORD else 0.0 for s in range(n)]
    rows: dict[str, list[float]] = {}
    for k in range(ORDER + 1):
        for context, c in counts.items():
            if len(context) != k or (k == ORDER and sum(c.values()) < MIN_CONTEXT):
                continue
            lower = rows[context[1:]] if k else uniform
            total = sum(c.values())
            back = DISCOUNT * len(c) / total
            rows[context] = [max(c[s] - DISCOUNT, 0) / total + back * lower[s] for s in range(n)]
    tokens = [len(t.split()) for t in texts]
    space = 1 - len(tokens) / sum(tokens)  # word ends followed by another word
    for context, p in rows.items():
        word_end = p[smsmodel.END]
        p[smsmodel.SYMBOL_OF[" "]] += space * word_end
        p[smsmodel.END] = (1 - space) * word_end
        p[smsmodel.TAIL] = TAIL_SHARE * p[smsmodel.END]
        if context == smsmodel.START:
            p[smsmodel.WORD] = WORD_SHARE * sum(p) / (1 - WORD_SHARE)
        mass = sum(p)
        rows[context] = [x / mass for x in p]
    return rows


def quantise(rows: dict[str, list[float]]) -> dict[str, str]:
    """Each probability as a level q (p ~ 2^(-q/2)), one character per symbol."""
    out = {}
    for context, p in rows.items():
        levels = [smsmodel.NEVER if x == 0 else min(smsmodel.NEVER - 1, round(-2 * math.log2(x)))
                  for x in p]
        out[context] = "".join(smsmodel.LEVEL_CHARS[q] for q in levels)
    return out


def write_table(table: dict[str, str], sections: dict[str, list[str]]) -> None:
    counts = {k: len(v) for k, v in sections.items()}
    lines = [
        '"""GENERATED by bench/build_sms_name_model.py from bench/data/sms_name_corpus.txt; do not edit.',
        "",
        "The character model of SMS format K2 (docs/sms-fallback.md, \"Text\"): for each context (the",
        "characters before, in the same word; ^ = start of word, ~ = a character outside the model's",
        "alphabet) one level per symbol of ``smsmodel.SYMBOLS``, ``smsmodel.LEVEL_CHARS[q]`` for a",
        "probability of about 2^(-q/2) (V: never).  Part of the format: changing it is a new format.",
        "Corpus entries per section:",
        f"{', '.join(f'{k} {n}' for k, n in counts.items())}.",
        '"""',
        "",
        "ROWS: dict[str, str] = {",
        *(f"    {c!r}: {r!r}," for c, r in sorted(table.items(), key=lambda i: (len(i[0]), i[0]))),
        "}",
    ]
    TABLE.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collect", action="store_true", help="rebuild the corpus file from its sources")
    args = parser.parse_args()
    if args.collect:
        write_corpus(collect())
    sections = read_corpus()
    train_words, test_words = corpus_words(sections)
    texts = training_texts(sections)
    table = quantise(train(train_words + address_words(), texts))
    write_table(table, sections)
    print(f"{len(train_words)} training words, {len(test_words)} held out; {len(texts)} training texts; "
          f"{len(table)} contexts in the table ({TABLE.stat().st_size} bytes)")
    print("measure it: .venv/bin/python -c 'from bench.build_sms_name_model import report; report()'")


def report() -> None:
    """Bits per character of the shipped table on training and held-out words."""
    train_words, test_words = corpus_words(read_corpus())
    for label, words in (("training", train_words), ("held out", test_words)):
        print(f"{label:9} words {len(words):5}: {smsmodel.bits_per_character(words):.2f} bits per character")


if __name__ == "__main__":
    main()
