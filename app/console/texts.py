"""Every sentence the console shows, in Bahasa Indonesia, in one place so wording can be reviewed.

Services raise English ``AppError`` messages for the API; ``error_message`` turns them into a
sentence an official can act on. Unknown messages fall back to a sentence per error class,
with the technical text kept beside it (small) for support.
"""

from __future__ import annotations

import re

from app.errors import AppError, Conflict, Forbidden, InvalidData, NotAuthenticated, NotFound, OutOfArea

ROLE = {"admin": "Admin", "dinsos": "Dinas Sosial", "supervisor": "Supervisor", "enumerator": "Enumerator"}

CANDIDATE_STATUS = {
    "pending": "menunggu keputusan",
    "merged": "digabung",
    "distinct": "bukan duplikat",
    "superseded": "tidak berlaku lagi",
}
CANDIDATE_KIND = {"household": "keluarga terdaftar dua kali", "member": "satu orang di dua keluarga"}
CONFLICT_STATUS = {"open": "terbuka", "auto_resolved": "diputuskan otomatis", "resolved": "diselesaikan"}
RESOLUTION = {"server": "nilai server", "device": "nilai tablet", "value": "nilai yang diisi"}
ENTITY = {"household": "keluarga", "member": "anggota keluarga"}
VERIFICATION = {
    "self_reported": "lapor mandiri",
    "field_verified": "terverifikasi lapangan",
    "dukcapil_matched": "cocok dengan Dukcapil",
    "rejected": "ditolak",
}
SOURCE = {"enumerator": "tablet enumerator", "sms": "SMS", "ussd": "USSD", "import": "impor", "api": "API"}
APPEAL_STATUS = {
    "filed": "diajukan",
    "visit_scheduled": "kunjungan dijadwalkan",
    "re_surveyed": "disurvei ulang",
    "sent_to_bps": "dikirim ke BPS",
    "upheld": "dikabulkan",
    "rejected": "ditolak",
}

# flash messages after a successful form: the redirect carries the key only, never free text
DONE = {
    "merge": "Kedua keluarga digabung menjadi satu. Penggabungan dapat dibatalkan di halaman ini.",
    "distinct": "Ditandai bukan duplikat: pasangan ini tidak akan diusulkan lagi.",
    "undo": "Penggabungan dibatalkan: kedua keluarga kembali seperti sebelum digabung.",
    "resolved": "Konflik diselesaikan; tablet menerima nilai ini pada sinkronisasi berikutnya.",
    "logout": "Anda sudah keluar.",
}

LOGIN_FAILED = "Nama pengguna atau kata sandi salah, atau akun tidak aktif."
LOGIN_LOCKED = (
    "Terlalu banyak percobaan masuk yang gagal. Demi keamanan, coba lagi dalam {minutes} menit "
    "atau minta admin memeriksa akun Anda."
)
INVALID_REQUEST = "Alamat atau isian tidak sah. Kembali ke halaman sebelumnya lalu coba lagi."
CSRF_REFUSED = (
    "Formulir ini sudah kedaluwarsa atau tidak dikirim dari halaman Sigap. Muat ulang halaman lalu coba lagi."
)

# (pattern of the English message, Indonesian sentence); the first match wins
_KNOWN: list[tuple[str, str]] = [
    (
        r"already decided|is (merged|distinct|superseded), not pending",
        "Kandidat ini sudah diputuskan sebelumnya (mungkin oleh supervisor lain). Muat ulang daftar.",
    ),
    (
        r"person found in two families|only a household candidate",
        "Satu orang yang tercatat di dua keluarga tidak digabung: perbaiki keluarganya "
        "(keluarkan anggota dari keluarga yang salah).",
    ),
    (
        r"deleted or merged since",
        "Salah satu keluarga sudah dihapus atau digabung sejak kandidat ini dibuat.",
    ),
    (r"survivor_id must be", "Keluarga yang dipertahankan harus salah satu dari kedua keluarga ini."),
    (
        r"break an identity rule",
        "Penggabungan ditolak: NIK atau KK akan bentrok dengan data lain di registri.",
    ),
    (r"was already undone", "Penggabungan ini sudah dibatalkan sebelumnya."),
    (
        r"surviving household was deleted or merged again",
        "Keluarga hasil penggabungan sudah dihapus atau digabung lagi: batalkan itu dulu.",
    ),
    (r"no longer merged into", "Keluarga yang digabung sudah tidak lagi tergabung ke keluarga ini."),
    (r"cannot come back", "Keluarga tidak dapat dikembalikan: NIK atau KK-nya kini dipakai keluarga lain."),
    (
        r"outside your area|outside your assigned area",
        "Data ini di luar wilayah kerja Anda. Pasangan lintas kecamatan diputuskan oleh admin kota.",
    ),
    (r"conflict is already", "Konflik ini sudah diselesaikan sebelumnya."),
    (r"record was deleted since", "Data ini sudah dihapus sejak konflik terjadi: pilih nilai server."),
    (
        r"candidate .* not found|merge .* not found|conflict .* not found|household .* not found",
        "Data tidak ditemukan.",
    ),
]

_BY_CLASS: list[tuple[type[AppError], str]] = [
    (OutOfArea, "Data ini di luar wilayah kerja Anda."),
    (Forbidden, "Peran Anda tidak berwenang membuka halaman atau melakukan tindakan ini."),
    (NotFound, "Data tidak ditemukan."),
    (NotAuthenticated, "Sesi Anda berakhir: silakan masuk lagi."),
    (Conflict, "Tindakan tidak dapat dilakukan karena data sudah berubah. Muat ulang halaman."),
    (InvalidData, "Isian tidak valid."),
]

_RULES = {
    "required": "wajib diisi",
    "only_with_value_choice": "hanya diisi bila memilih 'isi nilai lain'",
    "choice_for_delete": "konflik penghapusan hanya diselesaikan dengan nilai server atau nilai tablet",
    "restore_unsupported": "data sudah dihapus di server dan tidak dapat dipulihkan dari sini; "
    "daftarkan lagi dengan nilai dari tablet",
}


def error_message(exc: AppError) -> str:
    """One Indonesian sentence for an error of a service."""
    if isinstance(exc, InvalidData):
        parts = [f"{p.field}: {_RULES.get(p.rule, p.message)}" for p in exc.problems]
        return "Isian tidak valid. " + "; ".join(parts)
    for pattern, sentence in _KNOWN:
        if re.search(pattern, exc.message):
            return sentence
    for cls, sentence in _BY_CLASS:
        if isinstance(exc, cls):
            return sentence
    return "Permintaan tidak dapat diproses."
