"""Each report as a flat :class:`Table` with the linear relations between its counts, so that
CSV, XLSX and the suppression of published tables treat every report the same way.

Headers are in Bahasa Indonesia (what Dinas Sosial reads), with the English word after a slash.
"""

from __future__ import annotations

from app.reports.programmes import MEASURES, ProgrammeReport
from app.reports.queries import DESIL_KEYS, NONE_KEY, CoverageRow, Matrix, QualityFigure
from app.reports.tables import Column, Equation, Table, line

DESIL_LABELS = {**{str(d): f"Desil {d}" for d in range(1, 11)}, NONE_KEY: "Belum ada desil / no desil"}
SERIES_LABELS = {"all": "semua / all", "official": "resmi BPS / official", "estimate": "PERKIRAAN / estimate"}
UNIT_LABELS = {"families": "keluarga / families", "persons": "jiwa / persons"}
MEASURE_LABELS = {
    "eligible": "layak / eligible",
    "receiving": "menerima / receiving",
    "exclusion": "salah eksklusi / exclusion errors",
    "inclusion": "salah inklusi / inclusion errors",
}
TOTAL = "total"


def _area_columns(level: str) -> list[Column]:
    return [
        Column("code", f"kode {level} / code", "text"),
        Column("name", f"nama {level} / name", "text"),
    ]


def matrix_table(m: Matrix) -> Table:
    split = m.official_totals is not None
    columns = [*_area_columns(m.level)]
    if split:
        columns.append(Column("series", "sumber desil / desil source", "text"))
    columns += [Column(k, DESIL_LABELS[k]) for k in DESIL_KEYS] + [Column(TOTAL, "jumlah / total")]
    rows: list[dict[str, object]] = []
    equations: list[Equation] = []
    groups: list[dict[str, int]] = []  # series -> row index, per area (and the totals row)
    entries = [(r.code, r.name, r.cells, r.official, r.estimate) for r in m.rows]
    entries.append((TOTAL, "JUMLAH / TOTAL", m.column_totals, m.official_totals, m.estimate_totals))
    for code, name, cells, official, estimate in entries:
        series = {"all": cells, "official": official, "estimate": estimate} if split else {"all": cells}
        group = {}
        for s, values in series.items():
            assert values is not None
            group[s] = len(rows)
            row: dict[str, object] = {"code": code, "name": name, **values, TOTAL: sum(values.values())}
            if split:
                row["series"] = SERIES_LABELS[s]
            rows.append(row)
        groups.append(group)
    keys = [*DESIL_KEYS, TOTAL]
    for i in range(len(rows)):  # each row sums to its total
        equations.append(line([(i, k) for k in DESIL_KEYS], (i, TOTAL)))
    for s in groups[-1]:  # each column of a series sums to the totals row
        area_rows = [g[s] for g in groups[:-1]]
        for k in keys:
            equations.append(line([(i, k) for i in area_rows], (groups[-1][s], k)))
    if split:  # all = official + estimate, desil by desil ("none" has neither)
        for g in groups:
            for k in DESIL_KEYS[:-1]:
                equations.append([((g["all"], k), 1), ((g["official"], k), -1), ((g["estimate"], k), -1)])
    notes = [
        f"Satuan / unit: {UNIT_LABELS[m.unit]}; sumber desil / desil source: {m.source}",
        "PERKIRAAN = desil perkiraan PMT Sigap, bukan desil resmi BPS / estimates are not official desil",
    ]
    title = (
        "Keluarga per kecamatan dan desil"
        if m.level == "kecamatan"
        else f"Desil per kelurahan, {m.kecamatan}"
    )
    return Table("desil-matrix", title, columns, rows, equations, notes)


def programme_table(r: ProgrammeReport, *, families: bool = True) -> Table:
    columns = [
        Column("programme", "program / programme", "text"),
        Column("unit", "satuan / unit", "text"),
        *_area_columns(r.level),
        Column("desil", "desil", "text"),
    ]
    for m in MEASURES:
        columns.append(Column(f"{m}", f"{MEASURE_LABELS[m]} (satuan program)"))
        if families:
            columns.append(Column(f"{m}_families", f"{MEASURE_LABELS[m]}, keluarga / families"))
    rows: list[dict[str, object]] = []
    equations: list[Equation] = []
    by_programme: dict[str, list[int]] = {}
    for row in r.rows:
        i = len(rows)
        by_programme.setdefault(row.programme, []).append(i)
        out: dict[str, object] = {
            "programme": row.programme,
            "unit": row.unit,
            "code": row.area_code,
            "name": row.area_name,
            "desil": DESIL_LABELS[row.desil],
        }
        for m in MEASURES:
            out[m] = row.counts.subjects[m]
            if families:
                out[f"{m}_families"] = row.counts.families[m]
        rows.append(out)
        # eligible - exclusion == receiving - inclusion (both are "eligible and receiving")
        equations.append(
            [((i, "eligible"), 1), ((i, "exclusion"), -1), ((i, "receiving"), -1), ((i, "inclusion"), 1)]
        )
    for prog, members in by_programme.items():
        t = len(rows)
        total: dict[str, object] = {
            "programme": prog,
            "unit": rows[members[0]]["unit"],
            "code": TOTAL,
            "name": "JUMLAH / TOTAL",
            "desil": "",
        }
        for m in MEASURES:
            total[m] = sum(int(rows[i][m]) for i in members)  # type: ignore[call-overload]
            equations.append(line([(i, m) for i in members], (t, m)))
            if families:
                total[f"{m}_families"] = sum(int(rows[i][f"{m}_families"]) for i in members)  # type: ignore[call-overload]
        rows.append(total)
        equations.append(
            [((t, "eligible"), 1), ((t, "exclusion"), -1), ((t, "receiving"), -1), ((t, "inclusion"), 1)]
        )
    notes = [
        f"Periode penerima / recipient period: {r.period}",
        "Layak = keputusan terkini 'eligible'; eksklusi = layak tetapi tidak menerima; inklusi = menerima "
        "tetapi tidak layak atau belum diputuskan",
    ]
    return Table(
        "programmes", "Program: layak, menerima, salah eksklusi dan inklusi", columns, rows, equations, notes
    )


def coverage_table(rows_in: list[CoverageRow], sources: list[str]) -> Table:
    columns = [
        Column("kecamatan_code", "kode kecamatan", "text"),
        Column("kecamatan_name", "kecamatan", "text"),
        Column("code", "kode kelurahan", "text"),
        Column("name", "kelurahan", "text"),
        Column("target_families", "target keluarga / target families", "text"),
        *(Column(f"source_{s}", f"terdaftar via {s} / registered via {s}") for s in sources),
        Column("families", "keluarga terdaftar / registered families"),
        Column("percent_families", "% target keluarga", "derived", ("families",)),
        Column("target_persons", "target jiwa / target persons", "text"),
        Column("persons", "jiwa terdaftar / registered persons"),
        Column("percent_persons", "% target jiwa", "derived", ("persons",)),
    ]
    rows: list[dict[str, object]] = []
    equations: list[Equation] = []
    for r in rows_in:
        i = len(rows)
        rows.append(
            {
                "kecamatan_code": r.kecamatan_code,
                "kecamatan_name": r.kecamatan_name,
                "code": r.kelurahan_code,
                "name": r.kelurahan_name,
                "target_families": r.target_families,
                **{f"source_{s}": r.by_source.get(s, 0) for s in sources},
                "families": r.families,
                "percent_families": r.percent_families,
                "target_persons": r.target_persons,
                "persons": r.persons,
                "percent_persons": r.percent_persons,
            }
        )
        equations.append(line([(i, f"source_{s}") for s in sources], (i, "families")))
    t = len(rows)
    total: dict[str, object] = {
        "kecamatan_code": TOTAL,
        "kecamatan_name": "",
        "code": "",
        "name": "JUMLAH / TOTAL",
    }
    for key in [*(f"source_{s}" for s in sources), "families", "persons"]:
        total[key] = sum(int(rows[i][key]) for i in range(t))  # type: ignore[call-overload]
        equations.append(line([(i, key) for i in range(t)], (t, key)))
    rows.append(total)
    equations.append(line([(t, f"source_{s}") for s in sources], (t, "families")))
    return Table("coverage", "Cakupan pendaftaran per kelurahan", columns, rows, equations)


def quality_table(figures: list[QualityFigure]) -> Table:
    columns = [
        Column("indicator", "indikator / indicator", "text"),
        Column("category", "kategori / category", "text"),
        Column("count", "jumlah / count"),
    ]
    rows: list[dict[str, object]] = [
        {"indicator": f.indicator, "category": f.category, "count": f.count} for f in figures
    ]
    equations: list[Equation] = []
    # the number of canonical families is published elsewhere (the matrix): the verification
    # shares add up to it, so they are one line
    status_rows = [i for i, f in enumerate(figures) if f.indicator == "verification_status"]
    if status_rows:
        t = len(rows)
        rows.append(
            {
                "indicator": "verification_status",
                "category": TOTAL,
                "count": sum(figures[i].count for i in status_rows),
            }
        )
        equations.append(line([(i, "count") for i in status_rows], (t, "count")))
    return Table("quality", "Kualitas data", columns, rows, equations)


def appeals_table(
    level: str, areas: list[tuple[str, str]], counts: dict[tuple[str, str], int], statuses: list[str]
) -> Table:
    columns = [*_area_columns(level), *(Column(s, s) for s in statuses), Column(TOTAL, "jumlah / total")]
    rows: list[dict[str, object]] = []
    equations: list[Equation] = []
    for code, name in [*areas, (TOTAL, "JUMLAH / TOTAL")]:
        i = len(rows)
        if code == TOTAL:
            cells = {s: sum(int(rows[j][s]) for j in range(i)) for s in statuses}  # type: ignore[call-overload]
        else:
            cells = {s: counts.get((code, s), 0) for s in statuses}
        rows.append({"code": code, "name": name, **cells, TOTAL: sum(cells.values())})
        equations.append(line([(i, s) for s in statuses], (i, TOTAL)))
    t = len(rows) - 1
    for key in [*statuses, TOTAL]:
        equations.append(line([(i, key) for i in range(t)], (t, key)))
    return Table("appeals", "Sanggah per status", columns, rows, equations)
