"""Reference lists of the SMS format K2 that tablet and server both hold (docs/sms-fallback.md,
section 4): Kota Ternate's kelurahan codes and a gazetteer of birth places.

They are part of the format, not data: a value travels as its position in the list, so the
lists are frozen (append, never reorder or remove).  A value that is not listed still
travels, spelled out, at a few more bits.  The kelurahan list is the reference data of
``seed_data/ternate_wilayah.csv`` (tests/sync_client/test_smscodec.py checks that every
kelurahan there is listed), kept here because the tablet has no wilayah table.
"""

from __future__ import annotations

# (kecamatan code, the kelurahan numbers under it); a new kelurahan is a new line at the END
_KELURAHAN_BY_KECAMATAN = (
    ("82.71.01", "1001 1002 1003 1004 1005 1019"),
    ("82.71.02", "1001 1002 1003 1004 1005 1006 1007 1008 1009 1010 1011 1020 1021 1022 1023 1024 1025"),
    ("82.71.03", "1007 1008 1009 1010 1011 1012 1013 1014 1015 1016 1017 1019 1020 1021"),
    ("82.71.04", "1001 1002 1003 1004 1006 1007"),
    ("82.71.05", "1001 1002 1003 1004 1005 1006"),
    ("82.71.06", "1001 1002 1003 1004 1005 1006 1007 1008 1009 1010 1011 1012 1013 1014 1015 1016"),
    ("82.71.07", "1001 1002 1003 1004 1005 1006"),
    ("82.71.08", "1001 1002 1003 1004 1005 1006 1007"),
)
KELURAHAN: tuple[str, ...] = tuple(f"{kec}.{n}" for kec, numbers in _KELURAHAN_BY_KECAMATAN
                                   for n in numbers.split())

# Birth places (tempat lahir) of people living in Kota Ternate: the towns and islands of
# Maluku Utara first, then the rest of eastern Indonesia, then the big cities elsewhere.
# Written as on a form; the codec also takes them in upper case (as on a KTP).
PLACES: tuple[str, ...] = tuple("""
Ternate|Tidore|Sofifi|Jailolo|Tobelo|Labuha|Bacan|Weda|Maba|Sanana|Morotai|Daruba|Galela|Kao
|Malifut|Sidangoli|Sahu|Ibu|Loloda|Makian|Kayoa|Moti|Hiri|Batang Dua|Mayau|Tifure|Obi|Laiwui
|Gebe|Patani|Buli|Wasile|Subaim|Payahe|Soasio|Bobong|Taliabu|Mangoli|Halmahera
|Tidore Kepulauan|Halmahera Barat|Halmahera Utara|Halmahera Selatan|Halmahera Tengah
|Halmahera Timur|Pulau Morotai|Pulau Taliabu|Kepulauan Sula|Maluku Utara|Ambon|Masohi|Tual
|Langgur|Saumlaki|Namlea|Piru|Dobo|Bula|Banda|Seram|Buru|Maluku|Manado|Bitung|Tomohon
|Kotamobagu|Tondano|Tahuna|Sangihe|Talaud|Minahasa|Gorontalo|Palu|Luwuk|Poso|Toli-Toli
|Banggai|Kendari|Bau-Bau|Buton|Muna|Makassar|Ujung Pandang|Gowa|Bone|Pare-Pare|Palopo
|Bulukumba|Mamuju|Sorong|Manokwari|Jayapura|Fakfak|Nabire|Biak|Timika|Merauke|Kupang|Ende
|Maumere|Bima|Mataram|Denpasar|Jakarta|Surabaya|Bandung|Semarang|Yogyakarta|Malang|Bogor
|Surakarta|Solo|Cirebon|Tegal|Kediri|Madiun|Banyuwangi|Medan|Padang|Palembang|Pekanbaru
|Jambi|Bandar Lampung|Banda Aceh|Pontianak|Banjarmasin|Balikpapan|Samarinda
""".replace("\n", "").split("|"))

# Whole words of names and addresses: common given names of Maluku Utara and Indonesia, the
# family names (marga) of Ternate and Tidore, Arabic family names, the kelurahan's names and
# the words of addresses.  In a text, a listed word costs about 10 bits instead of ~3.5 per
# letter (smsmodel.WORD).  Upper case, as the text code works in upper case.
WORDS: tuple[str, ...] = tuple("""
MUHAMMAD|MOH.|M.|AHMAD|ABDUL|ABD.|ALI|HASAN|HUSEN|HUSAIN|ISMAIL|YUSUF|IBRAHIM|UMAR|USMAN
|RIZAL|FADLI|IRFAN|RAHMAT|ARIF|SUKRI|JAFAR|NASIR|SAMSUL|BUDI|HENDRA|IMRAN|IKSAN|RUSDI|YAKUB
|ANWAR|SAIFUL|TAUFIK|ZULKIFLI|AGUS|ANDI|DEDI|FAHRI|FAUZI|HAMID|HAMZAH|HARUN|IDRIS|ILHAM|IWAN
|JUNAIDI|KASIM|LUKMAN|MAHMUD|MUSA|MUSTAFA|NURDIN|RAHMAN|RIDWAN|RUDI|SALIM|SOFYAN|SULAIMAN
|SYAMSUDIN|WAHYU|YUNUS|ZAINAL|ARSYAD|BASRI|DARWIS|FAISAL|HADI|HALIM|HANAFI|HIDAYAT|JAMAL
|KAMARUDIN|KARIM|MALIK|MANSUR|RASYID|SAID|SALEH|SAHRUL|SUDIRMAN|SYARIF|YAHYA|ZAKARIA|ADAM
|AKBAR|AZIS|FIRMAN|RUSTAM|AMIN|ABUBAKAR|ISHAK|JUFRI|MUKSIN|RAMLI|SAHID|YASIN|SIDIK|SITI
|SITTI|NUR|NURUL|NURHAYATI|FATMA|FATIMAH|AISYAH|RAHMA|RAHMAWATI|HADIJA|KHADIJAH|MARIAM
|MARYAM|SALMA|WAHYUNI|SRI|ANI|ROSITA|HALIMA|HALIMAH|KARTINI|DEWI|YULIANTI|SAIDA|NURLELA
|RUKMINI|ASMA|ZAINAB|FARIDA|SUMARNI|IRMA|SARAH|WATI|YANTI|LINA|NURJANAH|HASNA|ROSNA|JUMIATI
|SURYANI|HARTINI|MURNI|RATNA|RINA|SARTIKA|INDAH|PUTRI|LESTARI|AYU|FITRI|FITRIA|MEGAWATI
|SUSANTI|ERNA|NURMALA|HAWA|SAFIA|SALAMA|JAMILA|NAIMA|RUGAYA|ST.|HI.|HJ.|BIN|BINTI|LA|WA
|SANGAJI|TOMAGOLA|SYAH|SJAH|ALTING|SOLEMAN|KIAT|LATIF|BAAY|GANI|DJAFAR|NASER|KADIR|MARSAOLY
|BUAMONA|FABANYO|TIDORE|SABTU|ABDULLAH|ABAS|HASYIM|MANSYUR|THALIB|IDRUS|ALHADAR|ALKATIRI
|ASSAGAF|ALBAAR|BACHMID|BASALAMAH|DUWILA|JALAN|KELURAHAN|KAMPUNG|LINGKUNGAN|DUSUN|PERUM
|MASJID|PASAR|PANTAI|KOTA|BARU|LAMA|UTARA|SELATAN|BARAT|TIMUR|TENGAH|ATAS|BAWAH|DALAM|RAYA
|TERNATE|PULAU|HIRI|MOTI|JAMBULA|KASTELA|BASTIONG|KALUMATA|MANGGA|DUA|TANAH|TINGGI|SASA
|GAMBESI|FITU|AKEHUDA|SANGO|TARAU|SALERO|DUFA-DUFA|MAKASSAR|SALAHUDDIN|GAMALAMA|MARIKURUBU
|TAKOMA|SULAMADAHA|TOBOLOLO|MAYAU|TIFURE|TAFRAKA|FAUDU|TOMAJIKO|UBO-UBO|TOBOKO|NGADE|JATI
|SOA|SIO
""".replace("\n", "").split("|"))
