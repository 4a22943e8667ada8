"""Every reply residents read by SMS or USSD, in one place so wording can be reviewed.

Bahasa Indonesia, GSM-7 only, one SMS (160 characters) each: the tests render every text
with the longest values it can carry.  Identifiers appear masked only (``8271****0001``).
"""

from __future__ import annotations

from datetime import date

from app.channels.gsm7 import clip, fits_one_sms

HELP_SMS = ("SIGAP Ternate: DAFTAR#NIK#NoKK#jumlah#kelurahan utk daftar. STATUS utk cek. "
            "PIN#1234 ganti PIN. BATAL batalkan. STOP berhenti.")

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
_CHANNEL = {"sms": "SMS", "ussd": "USSD", "enumerator": "petugas", "import": "impor data",
            "api": "Dinas Sosial"}


def registered(nik: str, kelurahan: str, code: str, *, ask_pin: bool) -> str:
    then = "Buat PIN: PIN#1234. Cek: STATUS" if ask_pin else "Cek: SMS STATUS"
    return _one(f"Terima kasih. Keluarga NIK {nik} terdaftar di {kelurahan[:24]}. Petugas akan datang "
                f"memeriksa. {then} atau {code}")


def unknown_kelurahan(typed: str, suggestions: list[str]) -> str:
    hint = f" Maksud Anda: {', '.join(s[:20] for s in suggestions[:3])}?" if suggestions else ""
    return clip(f"Kelurahan '{typed[:24]}' tidak ditemukan.{hint} Balas KEL#nama kelurahan")


def status(*, nik: str, registered_on: date, channel: str, verification: str) -> str:
    return _one(f"SIGAP: Keluarga NIK {nik}, daftar {registered_on:%d-%m-%Y} lewat "
                f"{_CHANNEL.get(channel, channel)}. Status: {_STATUS.get(verification, verification)}. "
                "Hasil kelayakan belum ada.")


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
