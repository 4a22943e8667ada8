"""The USSD menu engine: one pure function from the dialled path to the next screen.

Gateways send the whole path of a session on every step (``text`` = the inputs joined by
``*``), and send it again when they retry.  So the engine replays the path from the main
menu each time: the same ``text`` always gives the same screen, and nothing is saved
until the final confirmation, which returns an ``Action`` for the caller to carry out.
``0`` goes back one screen; ``98`` shows the next page of a list.  Every screen fits one
USSD screen (160 GSM-7 characters); the tests walk every screen to prove it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.channels.gsm7 import fits_one_sms
from app.registry.identifiers import IdentifierInvalid, mask, parse_kk, parse_nik

BACK, NEXT, RESUME, APPEAL = "0", "98", "5", "6"
PAGE = 5
MAX_MEMBERS = 30
MAIN = "SIGAP Ternate\n1 Daftar keluarga\n2 Cek status\n3 Ganti PIN\n4 Bantuan"
APPEAL_LINE = f"{APPEAL} Sanggah"  # after the optional "5 Lanjutkan pendaftaran": numbers never move
MAIN_SCREEN = f"{MAIN}\n{APPEAL_LINE}"  # the main menu when there is nothing to resume
# A sanggah by USSD: what it is about (about, programme, label) and a reason picked from a
# list (typing free text on a USSD screen is hard, and ``*`` would end the field).
APPEAL_SUBJECTS: tuple[tuple[str, str | None, str], ...] = (
    ("decision", None, "Hasil bansos"), ("desil", None, "Desil"), ("data", None, "Data keluarga salah"))
APPEAL_REASONS: tuple[str, ...] = (
    "Ekonomi memburuk", "Data rumah/aset salah", "Anggota keluarga berubah",
    "Layak tapi tidak dapat bansos", "Lainnya (jelaskan ke petugas)")
HELP = ("Daftar bansos Kota Ternate lewat *123#. Petugas akan datang memeriksa. "
        "Info: kantor kelurahan atau Dinas Sosial.")
# The screening questions: the household field each answer fills, the question, and the
# choices with the code the registry stores (so a lead carries real field-visit answers).
QUESTIONS: tuple[tuple[str, str, tuple[tuple[str, str | bool], ...]], ...] = (
    ("roof_material", "Atap rumah terbuat dari?",
     (("Seng", "zinc"), ("Genteng/beton", "clay_tile"), ("Rumbia/daun", "thatch_leaves"),
      ("Lainnya", "other"))),
    ("floor_material", "Lantai rumah?",
     (("Keramik", "ceramic"), ("Semen/bata", "cement_brick"), ("Kayu/papan", "wood_board"),
      ("Tanah", "earth"), ("Lainnya", "other"))),
    ("asset_motorbike", "Punya sepeda motor?", (("Ya", True), ("Tidak", False))),
)


class Places(Protocol):
    """Where the resident lives: the kecamatan and kelurahan of Ternate, as (code, name)."""

    def kecamatan(self) -> Sequence[tuple[str, str]]: ...

    def kelurahan(self, kecamatan_code: str) -> Sequence[tuple[str, str]]: ...


@dataclass(frozen=True)
class Screen:
    text: str
    end: bool = False  # END (session over) or CON (waits for input)


@dataclass(frozen=True)
class Register:
    nik: str
    kk: str
    kelurahan_code: str
    members: int
    answers: dict[str, str | bool]  # household field -> code, from QUESTIONS
    pin: str


@dataclass(frozen=True)
class CheckStatus:
    pin: str


@dataclass(frozen=True)
class ChangePin:
    old_pin: str
    new_pin: str


@dataclass(frozen=True)
class FileAppeal:
    about: str
    programme: str | None
    reason: str
    pin: str


Action = Register | CheckStatus | ChangePin | FileAppeal


@dataclass
class _State:
    """The answers so far; the engine rebuilds it from the path on every request."""

    step: str = "main"
    data: dict[str, str] = field(default_factory=dict)
    page: int = 0
    error: str = ""


def respond(text: str, places: Places, resume: str | None = None) -> tuple[Screen, Action | None]:
    """The screen for a dialled path (``text`` as the gateway sends it), and the action to
    carry out when the path ends with a confirmation.

    ``resume`` is the path of this phone's unfinished registration from an earlier session
    (the caller keeps it per phone number): the main menu then offers ``5``, which replays
    that path before this session's further inputs.  The caller fixes ``resume`` for the
    whole session, so the same ``text`` still always gives the same screen.
    """
    inputs = _inputs(text)
    if resume and inputs[:1] == [RESUME]:
        inputs = _inputs(resume) + inputs[1:]
    history: list[_State] = [_State()]
    for value in inputs:
        state = history[-1]
        if value == BACK and state.step != "main":
            if len(history) > 1:
                history.pop()
            history[-1] = _State(history[-1].step, dict(history[-1].data), history[-1].page)
            continue
        result = _advance(state, value, places)
        if isinstance(result, tuple):  # the end of a session: replies never go further
            screen, action = result
            return screen, action
        if result is state:  # same screen (a wrong answer, or the next page)
            continue
        history.append(result)
    return _screen(history[-1], places, resumable=bool(resume)), None


def _inputs(text: str) -> list[str]:
    return [part.strip() for part in text.split("*")] if text.strip() else []


def unfinished_registration(text: str) -> bool:
    """Whether a path stopped inside the registration menu (worth offering to resume)."""
    inputs = _inputs(text)
    return len(inputs) > 1 and inputs[0] == "1"


def _advance(state: _State, value: str, places: Places) -> _State | tuple[Screen, Action | None]:
    step, data = state.step, dict(state.data)

    def go(next_step: str, **updates: str) -> _State:
        return _State(next_step, {**data, **updates})

    def wrong(message: str) -> _State:
        state.error = message
        return state

    state.error = ""
    if step == "main":
        routes = {"1": "nik", "2": "status_pin", "3": "old_pin", APPEAL: "appeal_about"}
        if value == "4":
            return Screen(HELP, end=True), None
        return go(routes[value]) if value in routes else wrong("Pilihan salah.")
    if step == "nik":
        try:
            parse_nik(value)
        except IdentifierInvalid as exc:
            return wrong(exc.problem.message_id + ".")
        return go("nik_confirm", nik=value)
    if step == "nik_confirm":
        return go("kk") if value == "1" else go("nik") if value == "2" else wrong("Pilih 1 atau 2.")
    if step == "kk":
        try:
            parse_kk(value)
        except IdentifierInvalid as exc:
            return wrong(exc.problem.message_id + ".")
        return go("kecamatan", kk=value)
    if step in ("kecamatan", "kelurahan"):
        options = places.kecamatan() if step == "kecamatan" else places.kelurahan(data["kecamatan"])
        if value == NEXT:
            if (state.page + 1) * PAGE < len(options):
                state.page += 1
                return state
            return wrong("Tidak ada halaman lagi.")
        chosen = _pick(value, options, state.page)
        if chosen is None:
            return wrong("Pilihan salah.")
        return go("kelurahan", kecamatan=chosen) if step == "kecamatan" else go("members", kelurahan=chosen)
    if step == "members":
        if value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_MEMBERS:
            return go("q0", members=value)
        return wrong(f"Tulis angka 1-{MAX_MEMBERS}.")
    if step.startswith("q"):
        i = int(step[1:])
        key, _, choices = QUESTIONS[i]
        if not (value.isdigit() and 1 <= int(value) <= len(choices)):
            return wrong("Pilihan salah.")
        nxt = f"q{i + 1}" if i + 1 < len(QUESTIONS) else "pin"
        return go(nxt, **{key: str(int(value) - 1)})
    if step in ("pin", "new_pin"):
        if not _pin_ok(value):
            return wrong("PIN 4-6 angka, jangan angka sama/berurutan.")
        return go("pin_again" if step == "pin" else "new_pin_again", pin=value)
    if step in ("pin_again", "new_pin_again"):
        if value != data["pin"]:
            retry = go("pin" if step == "pin_again" else "new_pin")
            retry.error = "PIN tidak sama, ulangi."
            return retry
        return go("confirm" if step == "pin_again" else "change_confirm")
    if step == "confirm":
        if value == "1":
            answers = {k: choices[int(data[k])][1] for k, _, choices in QUESTIONS}
            return Screen("Terima kasih. Data diterima dan akan diperiksa petugas. Cek status: "
                          "*123*2#", end=True), Register(
                nik=data["nik"], kk=data["kk"], kelurahan_code=data["kelurahan"],
                members=int(data["members"]), answers=answers, pin=data["pin"])
        if value == "2":
            return Screen("Pendaftaran dibatalkan. Tidak ada data yang disimpan.", end=True), None
        return wrong("Pilih 1 atau 2.")
    if step == "status_pin":
        if not (value.isascii() and value.isdigit() and 4 <= len(value) <= 6):
            return wrong("PIN 4-6 angka.")
        return Screen("Status dikirim lewat SMS ke nomor ini.", end=True), CheckStatus(pin=value)
    if step in ("appeal_about", "appeal_reason"):
        count = len(APPEAL_SUBJECTS if step == "appeal_about" else APPEAL_REASONS)
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= count):
            return wrong("Pilihan salah.")
        return go("appeal_reason", about=value) if step == "appeal_about" else go("appeal_pin", reason=value)
    if step == "appeal_pin":
        if not (value.isascii() and value.isdigit() and 4 <= len(value) <= 6):
            return wrong("PIN 4-6 angka.")
        return go("appeal_confirm", pin=value)
    if step == "appeal_confirm":
        if value == "1":
            about, programme, label = APPEAL_SUBJECTS[int(data["about"]) - 1]
            reason = f"{label}: {APPEAL_REASONS[int(data['reason']) - 1]} (USSD)"
            return Screen("Sanggah dikirim.", end=True), FileAppeal(
                about=about, programme=programme, reason=reason, pin=data["pin"])
        if value == "2":
            return Screen("Sanggah dibatalkan.", end=True), None
        return wrong("Pilih 1 atau 2.")
    if step == "old_pin":
        if not (value.isascii() and value.isdigit() and 4 <= len(value) <= 6):
            return wrong("PIN 4-6 angka.")
        return go("new_pin", old_pin=value)
    if step == "change_confirm":
        if value == "1":
            return Screen("PIN diganti.", end=True), ChangePin(old_pin=data["old_pin"], new_pin=data["pin"])
        return Screen("PIN tidak diganti.", end=True), None
    return wrong("Pilihan salah.")


def _pin_ok(value: str) -> bool:
    return (value.isascii() and value.isdigit() and 4 <= len(value) <= 6 and len(set(value)) > 1
            and value not in "0123456789" and value not in "9876543210")


def _pick(value: str, options: Sequence[tuple[str, str]], page: int) -> str | None:
    shown = options[page * PAGE:(page + 1) * PAGE]
    if value.isascii() and value.isdigit() and 1 <= int(value) <= len(shown):
        return shown[int(value) - 1][0]
    return None


def _menu(title: str, options: Sequence[tuple[str, str]], page: int) -> str:
    shown = options[page * PAGE:(page + 1) * PAGE]
    lines = [title] + [f"{i} {name[:22]}" for i, (_, name) in enumerate(shown, start=1)]
    if (page + 1) * PAGE < len(options):
        lines.append(f"{NEXT} Berikutnya")
    lines.append(f"{BACK} Kembali")
    return "\n".join(lines)


def _screen(state: _State, places: Places, *, resumable: bool = False) -> Screen:
    step, data = state.step, state.data
    prefix = state.error + "\n" if state.error else ""
    if step == "main":
        body = MAIN + (f"\n{RESUME} Lanjutkan pendaftaran" if resumable else "") + "\n" + APPEAL_LINE
    elif step == "appeal_about":
        body = "\n".join(["Sanggah (keberatan) atas:"]
                         + [f"{i} {label}" for i, (_, _, label) in enumerate(APPEAL_SUBJECTS, start=1)])
    elif step == "appeal_reason":
        body = "\n".join(["Alasan:"] + [f"{i} {r}" for i, r in enumerate(APPEAL_REASONS, start=1)])
    elif step == "appeal_pin":
        body = "Masukkan PIN Anda:"
    elif step == "appeal_confirm":
        _, _, label = APPEAL_SUBJECTS[int(data["about"]) - 1]
        body = (f"Kirim sanggah?\n{label}: {APPEAL_REASONS[int(data['reason']) - 1]}\n1 Kirim\n2 Batal")
    elif step == "nik":
        body = "NIK kepala keluarga (16 angka, lihat KTP):"
    elif step == "nik_confirm":
        info = parse_nik(data["nik"])
        sex = "Perempuan" if info.sex == "female" else "Laki-laki"
        body = (f"NIK {mask(data['nik'])}\nLahir {info.birth_day:02d}-{info.birth_month:02d}-"
                f"{info.birth_yy:02d}, {sex}\n1 Benar\n2 Salah, ulangi")
    elif step == "kk":
        body = "Nomor Kartu Keluarga (16 angka):"
    elif step == "kecamatan":
        body = _menu("Kecamatan:", places.kecamatan(), state.page)
    elif step == "kelurahan":
        body = _menu("Kelurahan:", places.kelurahan(data["kecamatan"]), state.page)
    elif step == "members":
        body = "Jumlah anggota keluarga (1-30):"
    elif step.startswith("q"):
        _, question, choices = QUESTIONS[int(step[1:])]
        body = "\n".join([question] + [f"{i} {c}" for i, (c, _) in enumerate(choices, start=1)])
    elif step in ("pin", "new_pin"):
        body = "Buat PIN 4-6 angka (untuk cek status):" if step == "pin" else "PIN baru (4-6 angka):"
    elif step in ("pin_again", "new_pin_again"):
        body = "Ulangi PIN:"
    elif step == "confirm":
        body = (f"Kirim pendaftaran?\nNIK {mask(data['nik'])}, {data['members']} orang\n"
                f"1 Kirim\n2 Batal")
    elif step == "status_pin":
        body = "Masukkan PIN Anda:"
    elif step == "old_pin":
        body = "PIN lama:"
    else:  # change_confirm
        body = "Ganti PIN?\n1 Ya\n2 Tidak"
    screen = Screen(prefix + body)
    assert fits_one_sms(screen.text), screen.text
    return screen
