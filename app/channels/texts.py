"""Every reply residents read by SMS or USSD, in one place so wording can be reviewed.

Bahasa Indonesia, GSM-7 only, one SMS (160 characters) each: the tests render every text
with the longest values it can carry.  Identifiers appear masked only (``8271****0001``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.channels.gsm7 import clip, fits_one_sms

HELP_SMS = ("SIGAP Ternate: DAFTAR#NIK#NoKK#jumlah#kelurahan utk daftar. STATUS utk cek. "
            "PIN#1234 ganti PIN. SANGGAH#alasan. BATAL batalkan. STOP berhenti.")

ASK_KELURAHAN = "Hampir selesai. Balas KEL#nama kelurahan Anda, contoh KEL#Bastiong"
NO_PENDING = "Tidak ada pendaftaran yang menunggu. Daftar: DAFTAR#NIK#NoKK#jumlah#kelurahan"
PENDING_EXPIRED = "Pendaftaran lama sudah kedaluwarsa. Kirim lagi: DAFTAR#NIK#NoKK#jumlah#kelurahan"
NOT_REGISTERED = "Nomor ini belum mendaftarkan keluarga. Daftar: DAFTAR#NIK#NoKK#jumlah#kelurahan"
NIK_TAKEN = ("NIK ini sudah terdaftar. Cek dengan STATUS#NIK#PIN, atau hubungi kantor kelurahan "
             "jika Anda tidak mendaftar.")
KK_TAKEN = "No KK ini sudah terdaftar untuk keluarga lain. Hubungi kantor kelurahan."
NIK_OR_PIN_WRONG = "NIK atau PIN salah. Periksa lalu kirim lagi: STATUS#NIK#PIN"
PIN_SAVED = "PIN baru disimpan. Gunakan untuk cek status dari HP lain: STATUS#NIK#PIN"
PIN_NEEDS_REGISTRATION = ("PIN hanya bisa dibuat dari nomor yang mendaftar. Daftar dulu: "
                          "DAFTAR#NIK#NoKK#jumlah")
CANCELLED_PENDING = "Pendaftaran dibatalkan. Tidak ada data yang disimpan."
CANCELLED_LEAD = "Pendaftaran dibatalkan dan data dihapus. Daftar lagi kapan saja: DAFTAR#NIK#NoKK#jumlah"
CANNOT_CANCEL = "Data sudah diverifikasi petugas, tidak bisa dibatalkan lewat SMS. Hubungi kantor kelurahan."
NOTHING_TO_CANCEL = "Tidak ada pendaftaran untuk dibatalkan dari nomor ini."
STOPPED = "Anda tidak akan menerima SMS SIGAP lagi. Kirim STATUS atau DAFTAR untuk mulai lagi."
ALREADY_REGISTERED = "Nomor ini sudah mendaftarkan keluarga NIK {nik}. Kirim STATUS untuk cek."
USSD_NOT_REGISTERED = "Nomor ini belum mendaftarkan keluarga. Pilih 1 Daftar keluarga di menu."
USSD_PIN_CHANGED = "PIN diganti."
USSD_BUSY = "Terlalu banyak permintaan dari nomor atau NIK ini. Coba lagi besok."

_STATUS = {
    "self_reported": "menunggu verifikasi petugas lapangan",
    "field_verified": "sudah diverifikasi petugas",
    "dukcapil_matched": "sudah diverifikasi petugas dan Dukcapil",
    "rejected": "tidak lolos verifikasi, hubungi kantor kelurahan",
}
# An appeal's status as the resident reads it, after "Sanggah Anda: "
_APPEAL = {
    "filed": "diterima, menunggu kunjungan",
    "visit_scheduled": "sedang dijadwalkan kunjungan",
    "re_surveyed": "sudah disurvei ulang",
    "sent_to_bps": "diperiksa BPS",
    "upheld": "dikabulkan, hasil diperbarui",
    "rejected": "ditolak, info di kelurahan",
}
APPEAL_NEEDS_REGISTRATION = ("Nomor ini belum mendaftarkan keluarga. Dari HP yang mendaftar kirim "
                             "SANGGAH#alasan, dari HP lain SANGGAH#NIK#PIN#alasan")
USSD_APPEAL_NOT_REGISTERED = "Nomor ini belum mendaftarkan keluarga. Sanggah lewat kantor kelurahan."
_CHANNEL = {"sms": "SMS", "ussd": "USSD", "enumerator": "petugas", "import": "impor data",
            "api": "Dinas Sosial"}


def registered(nik: str, kelurahan: str, code: str, *, ask_pin: bool) -> str:
    then = "Buat PIN: PIN#1234. Cek: STATUS" if ask_pin else "Cek: SMS STATUS"
    return _one(f"Terima kasih. Keluarga NIK {nik} terdaftar di {kelurahan[:24]}. Petugas akan datang "
                f"memeriksa. {then} atau {code}")


def unknown_kelurahan(typed: str, suggestions: list[str]) -> str:
    hint = f" Maksud Anda: {', '.join(s[:20] for s in suggestions[:3])}?" if suggestions else ""
    return clip(f"Kelurahan '{typed[:24]}' tidak ditemukan.{hint} Balas KEL#nama kelurahan")


@dataclass(frozen=True)
class Eligibility:
    """The family's current decisions as a resident reads them (app/eligibility decisions)."""

    eligible: tuple[str, ...]      # programme ids with an eligible decision (family or a member)
    needs_data: bool               # nothing eligible, and some decision waits for data
    desil: int | None
    desil_source: str | None       # official | estimate
    desil_period: str | None       # BPS period of an official desil


# short programme names for a 160-character reply (an unknown id is shown upper-cased)
_PROGRAMME = {"pkh": "PKH", "sembako": "Sembako", "blt": "BLT", "pbi_jk": "PBI-JK", "pip": "PIP"}


def _desil(e: Eligibility, *, period: bool) -> str:
    if e.desil is None:
        return "belum ada desil"
    if e.desil_source == "estimate":
        return f"desil {e.desil} PERKIRAAN"  # a computed desil is always labelled an estimate
    return f"desil {e.desil} BPS {e.desil_period}" if period and e.desil_period else f"desil {e.desil} BPS"


def _eligibility_line(e: Eligibility | None, *, period: bool = True, hint: bool = True) -> str:
    if e is None:
        return "Hasil kelayakan belum ada."
    if e.eligible:
        names = ", ".join(_PROGRAMME.get(p, p.upper()) for p in e.eligible) if hint \
            else f"{len(e.eligible)} program"  # the last resort to fit: the detail is at the kelurahan
        return f"Layak: {names} ({_desil(e, period=period)})."
    if e.needs_data:
        return f"Data belum lengkap ({_desil(e, period=period)})." + (" Hubungi kelurahan." if hint else "")
    return f"Belum layak ({_desil(e, period=period)})." + (" Sanggah: SANGGAH#alasan" if hint else "")


def status(*, nik: str, registered_on: date, channel: str, verification: str,
           appeal: str | None = None, eligibility: Eligibility | None = None) -> str:
    """The family's state and its eligibility (programmes and the desil they rest on); with an
    appeal, the appeal's status replaces the eligibility line. When it does not fit one SMS,
    the registration channel goes first, then the BPS period, then the hint how to appeal."""
    state = _STATUS.get(verification, verification)
    for with_channel, period, hint in ((True, True, True), (False, True, True), (False, False, True),
                                       (False, False, False)):
        tail = (f"Sanggah Anda: {_APPEAL[appeal]}." if appeal
                else _eligibility_line(eligibility, period=period, hint=hint))
        how = f" lewat {_CHANNEL.get(channel, channel)}" if with_channel else ""
        text = f"SIGAP: Keluarga NIK {nik}, daftar {registered_on:%d-%m-%Y}{how}. Status: {state}. {tail}"
        if fits_one_sms(text):
            break
    return _one(text)


def appeal_filed(ussd_code: str) -> str:
    return _one("Sanggah Anda diterima. Petugas kelurahan akan datang survei ulang. "
                f"Cek perkembangan: STATUS atau {ussd_code}")


def appeal_exists(filed_on: date, appeal: str) -> str:
    return _one(f"Sanggah Anda sudah tercatat sejak {filed_on:%d-%m-%Y}, status: {_APPEAL[appeal]}. "
                "Cek perkembangan: STATUS")


def appeal_window_closed(opens_on: date | None, closes_on: date | None, today: date) -> str:
    if opens_on is not None and today < opens_on:
        return _one(f"Masa sanggah belum dibuka. Sanggah bisa dikirim mulai {opens_on:%d-%m-%Y}.")
    closed = f" pada {closes_on:%d-%m-%Y}" if closes_on else ""
    return _one(f"Masa sanggah sudah ditutup{closed}. Untuk keberatan, hubungi kantor kelurahan atau "
                "Dinas Sosial.")


def status_removed(nik: str) -> str:
    return _one(f"SIGAP: Pendaftaran keluarga NIK {nik} sudah dihapus atau digabung. "
                "Hubungi kantor kelurahan.")


def pin_wrong(left: int, hours: int) -> str:
    return _one(f"NIK atau PIN salah. Sisa {left} kali lagi sebelum cek status dikunci {hours} jam.")


def locked(attempts: int, hours: int) -> str:
    return _one(f"PIN salah {attempts} kali. Cek status dikunci {hours} jam. Dari nomor yang mendaftar, "
                "kirim STATUS.")


def _one(text: str) -> str:
    assert fits_one_sms(text), text
    return text
