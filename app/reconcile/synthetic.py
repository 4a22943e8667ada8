"""Synthetic Ternate persons with injected duplicates and the truth: evaluation data.

Deterministic by seed. Every person gets one clean "enumerator" record; a share of persons
(``dup_rate``, 5 % by default) get more records produced by the error models below, and the
truth file says which records are the same person. The engine never reads the truth; only
the evaluation does (:mod:`app.reconcile.evaluate`). The error models are documented in
docs/reconciliation.md; their names appear in the truth file's ``errors`` column.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from app.reconcile.records import PersonRecord
from app.registry.identifiers import nik_birth_digits


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


MALE = _words("Abdul Rahman Abdul Gani Ahmad Muhammad Rizal Hasan Husain Ismail Yusuf Fadli Irfan Rahmat "
        "Arif Sukri Jafar Nasir Samsul Budi Hendra Imran Iksan Rusdi Yakub Anwar Saiful Taufik "
        "Zulkifli Fahri Fikri Ilham Rifai Safrudin Sahrul Syamsudin Nurdin Jainudin Kamarudin Husen "
        "Mansur Idris Salim Syarif Hamzah Jufri Darwis Agus Bambang Joko Slamet Wahyu Eko Dedi Andi "
        "Rudi Asrul Aswin Alfian Ardiansyah Firmansyah Gunawan Hidayat Iwan Jamal Kasim Lukman Malik "
        "Nasrun Rais Rasid Ridwan Rustam Sofyan Sulaiman Syukur Usman Wahab Yunus Zainal Abubakar "
        "Adnan Amin Arsyad Basri Faisal Halim Harun Iskandar Junaidi Kadir Latif Muhlis Nawawi Rahim "
        "Saleh Tamrin Umar Yasin Zulfikar Cahyono Suyono Haryanto Yusran Akbar Arham Darmin Fandi "
        "Gazali Hairul Irwan Jainal Khairul Mukhtar Nasaruddin Rahmatia Sahril Sudirman Syahrir "
        "Wahidin Yamin Zulham")
FEMALE = _words("Siti Nurhayati Fatimah Aisyah Rahma Hadijah Mariam Salma Nur Wahyuni Sri Ani Rosita "
          "Halima Kartini Dewi Yulianti Saida Nurlela Rukmini Asma Zainab Farida Sumarni Irma "
          "Nurjana Hasna Jamila Rosmini Suryani Wati Yuni Fitri Rina Lina Mila Nurul Ainun Hartini "
          "Sartika Marlina Sulastri Rahmawati Nurmala Hamida Samsia Rosdiana Hafsah Jumiati "
          "Kasmawati Masita Nining Rahmi Sahria Syarifah Ummi Warda Yanti Zulaiha Agustina Anisa "
          "Indah Putri Ratna Sinta Susanti Lestari Mulyani Puspita Hayati Murni Nurbaya Sahara Safia "
          "Aminah Juwita Kurniati Maryam Nuraini Rosna Sitti Suhartini Yusnita Zaitun Hijrah Jubaida "
          "Kalsum Darmawati Erni Fatmawati Hasnah Iriani Jusniati")
SURNAMES = _words("Sangaji Tomagola Marsaoly Buamona Fabanyo Tidore Sabtu Kiat Soleman Syah Baay Hamid "
            "Umar Abdullah Latif Gani Ibrahim Mahmud Djafar Usman Ali Naser Rahman Saleh Kadir Hasan "
            "Taher Alting Arsad Bahrudin Bailussy Duwila Fataruba Hanafi Ishak Kaunar Lamakarate "
            "Mahifa Mandea Malagapi Pora Ruray Sibela Soamole Talib Tuanany Umasangadji Wahid "
            "Warnangan Yoisangadji Abas Abdurahman Alhadar Assagaf Albaar Bachmid Basalamah Manoppo "
            "Lengkong Hasyim Jusuf Karim Muhammad Salama Tjan Syamsudin Daud Hamisi Fokaaya Kharie "
            "Laitupa Maswain Nyong Rajak Sahupala Tawainella Wahab Yunus Hi.Ahmad Hi.Usman Hi.Hasan "
            "Kader Loilatu Mamang Samsudin Tuasikal Hatari Banau Bakar Habib Ternate Gamkonora "
            "Sarif Nukuhehe Lamasi")
STREETS = ("Pahlawan Revolusi", "Sultan Babullah", "Merdeka", "Hasan Esa", "Kapitan Pattimura",
           "Sultan Khairun", "Nuku", "Batu Angus", "Raya Jambula", "Stadion", "Kampung Pisang",
           "Mononutu", "Bandara Babullah", "Cempaka", "Melati")
OTHER_REGIONS = ("820101", "820401", "737101", "717101", "827201", "820201")
# Old (pre-1972) spellings written back: the reverse of names.fold, for people born before 1972.
_TO_OLD = (("u", "oe"), ("c", "tj"), ("j", "dj"), ("y", "j"), ("kh", "ch"))


def old_spelling(word: str) -> str:
    """Yusuf -> Joesoef, Cahyono -> Tjahjono, Jafar -> Djafar (one of several old forms)."""
    out = word.lower()
    placeholder = {"u": "\x01", "c": "\x02", "j": "\x03", "y": "\x04", "kh": "\x05"}
    for new, _old in _TO_OLD:
        out = out.replace(new, placeholder[new])
    for new, old in _TO_OLD:
        out = out.replace(placeholder[new], old)
    return out[:1].upper() + out[1:]


@dataclass
class Truth:
    record_id: str
    person_id: str
    household_id: str
    scenario: str  # enumerator (the clean record), revisit, sms, moved, agency
    errors: str    # error models applied, ';'-separated
    relation: str = ""  # head, spouse, child, parent (not written to the truth file)


@dataclass
class _Person:
    person_id: str
    given: list[str]
    surname: str | None
    sex: str
    birth: date
    nik: str | None
    relation: str


@dataclass
class _Household:
    household_id: str
    kelurahan: str
    kk: str
    street: str
    number: int
    rt: int
    rw: int
    phone: str | None
    members: list[_Person] = field(default_factory=list)


class PersonGenerator:
    """Households of Ternate with duplicate records; see the module docstring."""

    def __init__(self, *, seed: int = 2026, kelurahan_codes: list[str], dup_rate: float = 0.05,
                 today: date = date(2026, 6, 30)) -> None:
        self.rng = random.Random(seed)
        self.kelurahan_codes = kelurahan_codes
        self.dup_rate = dup_rate
        self.today = today
        self._serials: dict[str, int] = {}
        self._records = 0
        self._persons = 0

    # -- identifiers ---------------------------------------------------------------------
    def _serial(self, stem: str) -> str:
        n = self._serials.get(stem, 0) + 1
        self._serials[stem] = n
        return f"{n:04d}"

    def _nik(self, region: str, birth: date, sex: str) -> str:
        stem = region + nik_birth_digits(birth, sex)
        return stem + self._serial(stem)

    def _kk(self, region: str) -> str:
        issued = date(2008, 1, 1) + timedelta(days=self.rng.randrange(6600))
        stem = f"{region}{issued.day:02d}{issued.month:02d}{issued.year % 100:02d}"
        return stem + self._serial("kk" + stem)

    def _phone(self) -> str:
        prefix = self.rng.choice(("0812", "0813", "0821", "0852", "0853", "0822", "0811"))
        return f"{prefix}{self.rng.randint(1_000_000, 99_999_999):08d}"

    def _birth(self, age_from: int, age_to: int) -> date:
        return self.today - timedelta(days=self.rng.randrange(age_from * 365, age_to * 365 + 1))

    # -- people --------------------------------------------------------------------------
    def _given(self, sex: str) -> list[str]:
        rng = self.rng
        pool = MALE if sex == "male" else FEMALE
        first = rng.choice(pool)
        if rng.random() < 0.45:
            second = rng.choice(pool)
            if second != first:
                return [first, second]
        return [first]

    def _person(self, *, sex: str, relation: str, birth: date, surname: str | None,
                region: str) -> _Person:
        rng = self.rng
        self._persons += 1
        nik_region = region if rng.random() > 0.06 else rng.choice(OTHER_REGIONS)
        age = self.today.year - birth.year
        nik = self._nik(nik_region, birth, sex) if age >= 1 or rng.random() < 0.5 else None
        given = self._given(sex)
        if birth.year < 1972 and rng.random() < 0.3:
            given = [old_spelling(g) for g in given]
        return _Person(f"P{self._persons:07d}", given, surname, sex, birth, nik, relation)

    def household(self, number: int) -> _Household:
        rng = self.rng
        kel = rng.choice(self.kelurahan_codes)
        region = kel.replace(".", "")[:6]
        surname = rng.choice(SURNAMES) if rng.random() < 0.75 else None
        hh = _Household(f"H{number:06d}", kel, self._kk(region), rng.choice(STREETS),
                        rng.randint(1, 250), rng.randint(1, 15), rng.randint(1, 6),
                        self._phone() if rng.random() < 0.7 else None)
        head_sex = "male" if rng.random() < 0.85 else "female"
        hh.members.append(self._person(sex=head_sex, relation="head", birth=self._birth(22, 80),
                                       surname=surname, region=region))
        if head_sex == "male" and rng.random() < 0.85:
            hh.members.append(self._person(
                sex="female", relation="spouse", birth=self._birth(20, 75),
                surname=rng.choice(SURNAMES) if rng.random() < 0.6 else None, region=region))
        children = rng.choice((0, 0, 1, 1, 1, 2, 2, 2, 3, 4))  # ~3.5 persons a household
        for _ in range(children):
            child_surname = surname if rng.random() < 0.8 else None
            hh.members.append(self._person(sex=rng.choice(("male", "female")), relation="child",
                                           birth=self._birth(0, 25), surname=child_surname,
                                           region=region))
        if children and rng.random() < 0.03:  # twins: a hard negative (same birth date and KK)
            first = hh.members[-1]
            hh.members.append(self._person(sex=rng.choice(("male", "female")), relation="child",
                                           birth=first.birth, surname=first.surname, region=region))
        if rng.random() < 0.1:
            hh.members.append(self._person(sex=rng.choice(("male", "female")), relation="parent",
                                           birth=self._birth(60, 90), surname=None, region=region))
        return hh

    # -- records -------------------------------------------------------------------------
    def _record_id(self) -> str:
        self._records += 1
        return f"R{self._records:07d}"

    def _address(self, hh: _Household) -> str:
        return f"Jl. {hh.street} No. {hh.number} RT {hh.rt:03d}/RW {hh.rw:03d}"

    def _name(self, p: _Person) -> str:
        rng = self.rng
        parts = list(p.given) + ([p.surname.replace("Hi.", "Hi. ")] if p.surname else [])
        age = self.today.year - p.birth.year
        if age >= 45 and rng.random() < 0.12:
            parts.insert(0, "Hi." if p.sex == "male" else "Hj.")
        name = " ".join(parts)
        if age >= 23 and rng.random() < 0.04:
            name += rng.choice((", S.Pd.", ", S.E.", ", S.H.", ", S.Sos.", ", A.Md."))
        return name

    def clean_record(self, p: _Person, hh: _Household) -> tuple[PersonRecord, Truth]:
        rid = self._record_id()
        rec = PersonRecord(rid, self._name(p), p.birth, p.sex, p.nik, hh.kk, self._address(hh),
                           hh.kelurahan, hh.phone)
        return rec, Truth(rid, p.person_id, hh.household_id, "enumerator", "", p.relation)

    def generate(self, households: int) -> Iterator[tuple[PersonRecord, Truth]]:
        """All records in a shuffled order; about ``dup_rate`` of persons duplicated."""
        rng = self.rng
        out: list[tuple[PersonRecord, Truth]] = []
        homes = [self.household(i + 1) for i in range(households)]
        for hh in homes:
            for p in hh.members:
                out.append(self.clean_record(p, hh))
        budget = round(self.dup_rate * len(out))
        base = list(out)
        made = 0
        while made < budget:
            rec, truth = rng.choice(base)
            hh = homes[int(truth.household_id[1:]) - 1]
            scenario = rng.choices(("revisit", "sms", "moved", "agency"), (35, 25, 15, 25))[0]
            if scenario == "moved":
                new = self._moved(hh)
            else:
                person = next(m for m in hh.members if m.person_id == truth.person_id)
                new = [self._duplicate(rec, person, hh, scenario)]
            out.extend(new)
            made += len(new)
        rng.shuffle(out)
        # number the records in file order, so that an id says nothing about who is who
        for number, (rec, truth) in enumerate(out, start=1):
            rid = f"R{number:07d}"
            yield replace(rec, record_id=rid), replace(truth, record_id=rid)

    def _duplicate(self, rec: PersonRecord, p: _Person, hh: _Household,
                   scenario: str) -> tuple[PersonRecord, Truth]:
        rng = self.rng
        errors: list[str] = []
        name = rec.full_name or ""
        birth, sex, nik, kk, address, kel, phone = (rec.birth_date, rec.sex, rec.nik, rec.kk_number,
                                                     rec.address, rec.kelurahan_code, rec.phone)
        if scenario == "sms":  # self-registered by SMS: what a resident types on a keypad
            name = " ".join(name.lower().replace(",", " ").replace(".", " ").split())
            birth = None if rng.random() < 0.7 else birth
            sex, kk, address = None, None, None
            phone = hh.phone if hh.phone and rng.random() < 0.5 else self._phone()
            errors.append("sms_fields")
        elif scenario == "agency":  # another agency's list: upper case, no phone, old KK
            name = name.upper()
            phone = None
            address = f"{hh.street.upper()} NO.{hh.number}"
            errors.append("agency_format")
        n_errors = {"revisit": rng.choice((1, 1, 2, 2, 3)), "sms": 1, "agency": rng.choice((0, 1, 2))}[
            scenario]

        def name_error() -> None:
            nonlocal name
            name, e = self._name_error(name, p)
            errors.append(e)

        def birth_error() -> None:
            nonlocal birth
            if birth is not None:
                birth, e = self._birth_error(birth)
                errors.append(e)

        def nik_error() -> None:
            nonlocal nik
            nik, e = self._nik_error(nik)
            errors.append(e)

        def contact_error() -> None:
            nonlocal kk, phone
            if rng.random() < 0.5:
                kk = None
                errors.append("kk_missing")
            else:
                phone = self._phone()
                errors.append("phone_other")

        models: list[tuple[str, Callable[[], None]]] = [
            ("name", name_error), ("birth", birth_error), ("nik", nik_error),
            ("contact", contact_error)]
        for _label, model in rng.sample(models, k=min(n_errors, len(models))):
            model()
        record = PersonRecord(self._record_id(), name, birth, sex, nik, kk, address, kel, phone)
        return record, Truth(record.record_id, p.person_id, hh.household_id, scenario,
                             ";".join(errors), p.relation)

    def _moved(self, hh: _Household) -> list[tuple[PersonRecord, Truth]]:
        """The family moved: a new KK, a new address (often another kelurahan), all members."""
        rng = self.rng
        kel = rng.choice(self.kelurahan_codes) if rng.random() < 0.7 else hh.kelurahan
        moved = replace(hh, kelurahan=kel, kk=self._kk(kel.replace(".", "")[:6]),
                        street=rng.choice(STREETS), number=rng.randint(1, 250),
                        rt=rng.randint(1, 15), rw=rng.randint(1, 6),
                        phone=hh.phone if rng.random() < 0.5 else self._phone())
        out = []
        for p in hh.members:
            rec, _ = self.clean_record(p, moved)
            errors = ["new_kk_moved"]
            name, nik = rec.full_name or "", rec.nik
            if rng.random() < 0.3:
                name, e = self._name_error(name, p)
                errors.append(e)
            if rng.random() < 0.15:
                nik, e = self._nik_error(nik)
                errors.append(e)
            out.append((replace(rec, full_name=name, nik=nik),
                        Truth(rec.record_id, p.person_id, hh.household_id, "moved", ";".join(errors),
                              p.relation)))
        return out

    # -- error models --------------------------------------------------------------------
    def _name_error(self, name: str, p: _Person) -> tuple[str, str]:
        rng = self.rng
        kind = rng.choices(("typo", "muhammad", "title", "order", "drop", "spelling"),
                           (35, 12, 15, 10, 15, 13))[0]
        words = name.split()
        if kind == "muhammad" and words and any(w.lower().startswith(("muh", "moh", "abd"))
                                                 for w in words):
            out = []
            for w in words:
                low = w.lower()
                if low.startswith(("muh", "moh")):
                    out.append(rng.choice(("M.", "Moh.", "Muh.", "Mohammad", "Muhamad")))
                elif low.startswith("abd"):
                    out.append("Abd.")
                else:
                    out.append(w)
            return " ".join(out), "name_variant"
        if kind == "title":
            stripped = [w for w in words if w.rstrip(".,").lower() not in ("hi", "hj", "h")]
            if len(stripped) < len(words):
                return " ".join(stripped), "title_removed"
            return rng.choice(("H. ", "Hj. ", "Drs. ")) + name, "title_added"
        if kind == "order" and len(words) >= 2:
            return " ".join(words[-1:] + words[:-1]), "word_order"
        if kind == "drop" and len(words) >= 2:
            return " ".join(words[:-1]) if rng.random() < 0.5 else " ".join(words[1:]), "name_dropped"
        if kind == "spelling" and p.birth.year < 1990:
            out = [old_spelling(w) if w[:1].isupper() and "." not in w else w for w in words]
            if out != words:
                return " ".join(out), "old_spelling"
        return self._typo(name), "name_typo"

    def _typo(self, name: str) -> str:
        rng = self.rng
        letters = [i for i, c in enumerate(name) if c.isalpha()]
        if len(letters) < 3:
            return name + "h"
        i = rng.choice(letters[1:])
        op = rng.choice(("sub", "del", "ins", "swap"))
        alphabet = "aiueonrsktlmh"
        if op == "sub":
            return name[:i] + rng.choice(alphabet) + name[i + 1:]
        if op == "del":
            return name[:i] + name[i + 1:]
        if op == "ins":
            return name[:i] + rng.choice(alphabet) + name[i:]
        j = i - 1
        return name[:j] + name[i] + name[j] + name[i + 1:]

    def _birth_error(self, birth: date) -> tuple[date, str]:
        rng = self.rng
        if birth.day <= 12 and birth.day != birth.month and rng.random() < 0.5:
            return date(birth.year, birth.day, birth.month), "birth_day_month_swapped"
        for _ in range(10):
            text = birth.strftime("%Y%m%d")
            i = rng.choice((2, 3, 5, 6, 7))
            new = text[:i] + str(rng.randrange(10)) + text[i + 1:]
            try:
                candidate = date(int(new[:4]), int(new[4:6]), int(new[6:]))
            except ValueError:
                continue
            if candidate != birth:
                return candidate, "birth_digit"
        return birth + timedelta(days=1), "birth_digit"

    def _nik_error(self, nik: str | None) -> tuple[str | None, str]:
        rng = self.rng
        if nik is None:
            return None, "nik_missing"
        roll = rng.random()
        if roll < 0.45:
            return None, "nik_missing"
        i = rng.randrange(15)
        if roll < 0.75:
            new = nik[:i] + str((int(nik[i]) + rng.randint(1, 9)) % 10) + nik[i + 1:]
            return new, "nik_digit"
        if roll < 0.95 and nik[i] != nik[i + 1]:
            return nik[:i] + nik[i + 1] + nik[i] + nik[i + 2:], "nik_transposed"
        return nik[:-1], "nik_invalid_length"


RECORD_COLUMNS = ("record_id", "full_name", "birth_date", "sex", "nik", "kk_number", "address",
                  "kelurahan_code", "phone")
TRUTH_COLUMNS = ("record_id", "person_id", "household_id", "scenario", "errors")


def write_synthetic(*, households: int, persons_path: Path, truth_path: Path, seed: int,
                    kelurahan_codes: list[str], dup_rate: float = 0.05, drop_nik: bool = False,
                    progress: Callable[[int], None] | None = None) -> int:
    """Write persons.csv and truth.csv; returns the number of records."""
    gen = PersonGenerator(seed=seed, kelurahan_codes=kelurahan_codes, dup_rate=dup_rate)
    count = 0
    with persons_path.open("w", newline="", encoding="utf-8") as pf, \
            truth_path.open("w", newline="", encoding="utf-8") as tf:
        pw, tw = csv.writer(pf), csv.writer(tf)
        pw.writerow(RECORD_COLUMNS)
        tw.writerow(TRUTH_COLUMNS)
        for rec, truth in gen.generate(households):
            pw.writerow(rec.as_row(drop_nik=drop_nik))
            tw.writerow((truth.record_id, truth.person_id, truth.household_id, truth.scenario,
                         truth.errors))
            count += 1
            if progress and count % 5000 == 0:
                progress(5000)
    return count
