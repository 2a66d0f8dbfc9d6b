"""Deterministic sample extracts of three source systems, with the truth about who is who.

``generate`` plans every record as integers, then renders and writes each
file in chunks of ``CHUNK_ROWS`` rows, so memory stays flat from a thousand
records to millions. The same seed, size and profile give byte-identical
files: every random value is a hash of (seed, purpose, record), never a
position in a random stream.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from customer_mdm.config.reader import Issues
from customer_mdm.samples.draws import I64, Draws
from customer_mdm.samples.noise import NoiseProfile
from customer_mdm.samples.plan import Plan, Rows, make_plan
from customer_mdm.samples.population import ROLE_HEAD, Population
from customer_mdm.samples.records import Renderer
from customer_mdm.samples.sources import LAYOUTS, SourceLayout, malformed_line
from customer_mdm.samples.writers import ChunkWriter, CsvWriter, JsonLinesWriter, ParquetWriter

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000   # fixed: Parquet row groups follow it, so it is part of the byte-identical output
MAX_EXTRACTS = 120     # ten years of monthly extracts; dates are rendered up to 2035
TRUTH_COLUMNS = ("source_system", "source_record_id", "entity_id")
_ARGUMENTS = "sample generator arguments"


@dataclass(frozen=True)
class GeneratedFile:
    source: str
    extract: int
    path: Path
    rows: int
    malformed: int = 0


@dataclass(frozen=True)
class GenerationSummary:
    files: tuple[GeneratedFile, ...]
    truth: Path
    entities: int
    records: int          # distinct source records (rows of the truth file)
    households: int       # households with two or more people
    seconds: float

    def rows_per_source(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for f in self.files:
            totals[f.source] = totals.get(f.source, 0) + f.rows
        return totals

    def describe(self) -> str:
        lines = [f"generated {len(self.files)} files in {self.seconds:.1f} s: {self.entities:,} people "
                 f"({self.households:,} shared households), {self.records:,} source records",
                 f"truth: {self.truth}"]
        for f in self.files:
            extra = f" (+{f.malformed} malformed)" if f.malformed else ""
            lines.append(f"  {f.path}: {f.rows:,} rows{extra}")
        lines.append("rows per source: " + ", ".join(f"{s} {n:,}" for s, n in self.rows_per_source().items()))
        return "\n".join(lines)


def default_truth_path(out_dir: str | Path) -> Path:
    """``<out>/../truth/truth.csv``: beside the landing folder, where no source glob looks."""
    return Path(out_dir).parent / "truth" / "truth.csv"


def generate(out_dir: str | Path, *, records: int = 5_000, seed: int = 42, extracts: int = 2,
             noise: NoiseProfile | None = None, malformed: int = 0,
             truth: str | Path | None = None) -> GenerationSummary:
    """Writes ``<out>/<source>/<source>_NNNN.<ext>`` for extracts 1..n and the truth CSV.

    ``records`` is the approximate total of rows over all files; ``malformed``
    CSV lines with a wrong field count are added to the first CRM extract
    (they are not records, so the truth file does not list them).
    """
    started = time.perf_counter()
    _check_arguments(records=records, extracts=extracts, malformed=malformed)
    profile = noise or NoiseProfile()
    out = Path(out_dir)
    truth_path = Path(truth) if truth is not None else default_truth_path(out)
    draws = Draws(seed)
    plan = make_plan(records, extracts, profile, draws)
    _check_malformed_fits(plan, malformed)
    population = Population(plan.entities, profile, draws)
    hh = population.households
    households = int(np.unique(hh.head[hh.role != ROLE_HEAD]).size)
    log.info("planned %d people (%d shared households), %d source records, %d rows over %d extracts in %.1f s",
             plan.entities, households, plan.records, sum(len(x) for x in plan.extracts), extracts,
             time.perf_counter() - started)
    renderer = Renderer(plan, population, profile, draws)
    writers: list[ChunkWriter] = []
    files = []
    try:
        for index, layout in enumerate(LAYOUTS):
            for extract in range(1, extracts + 1):
                file_started = time.perf_counter()
                writer = _open(layout, out / layout.name / layout.file_name(extract))
                writers.append(writer)
                wanted = malformed if (layout.extension, extract) == ("csv", 1) else 0
                bad = _write_extract(writer, layout, plan.file_rows(index, extract), plan, renderer, wanted)
                writer.close()
                files.append(GeneratedFile(layout.name, extract, writer.path, writer.rows, bad))
                log.info("wrote %s: %d rows%s in %.1f s", writer.path, writer.rows,
                         f" (+{bad} malformed)" if bad else "", time.perf_counter() - file_started)
        truth_writer = CsvWriter(truth_path, pa.schema([(c, pa.string()) for c in TRUTH_COLUMNS]))
        writers.append(truth_writer)
        _write_truth(truth_writer, plan)
        truth_writer.close()
    except BaseException:
        for writer in writers:
            writer.discard()
        raise
    for writer in writers:
        writer.publish()
    _remove_stale_extracts(out, extracts)
    summary = GenerationSummary(files=tuple(files), truth=truth_path, entities=plan.entities,
                                records=plan.records, households=households,
                                seconds=time.perf_counter() - started)
    log.info("generated %d files and the truth (%d records) in %.1f s", len(files), plan.records, summary.seconds)
    return summary


def _check_arguments(*, records: int, extracts: int, malformed: int) -> None:
    issues = Issues()
    if records < 1:
        issues.add(_ARGUMENTS, "records", "an integer >= 1", records)
    if not 1 <= extracts <= MAX_EXTRACTS:
        issues.add(_ARGUMENTS, "extracts", f"an integer from 1 to {MAX_EXTRACTS} (monthly extracts from 2024)",
                   extracts)
    if malformed < 0:
        issues.add(_ARGUMENTS, "malformed", "an integer >= 0", malformed)
    issues.raise_if_any()


def _check_malformed_fits(plan: Plan, malformed: int) -> None:
    """Malformed lines copy real rows of the first CSV extract, so there must be as many."""
    csv_source = next(i for i, layout in enumerate(LAYOUTS) if layout.extension == "csv")
    available = len(plan.file_rows(csv_source, 1))
    if malformed > available:
        issues = Issues()
        issues.add(_ARGUMENTS, "malformed", f"at most the {available} rows of the first CRM extract "
                                            "(generate more records)", malformed)
        issues.raise_if_any()


def _open(layout: SourceLayout, path: Path) -> ChunkWriter:
    schema = pa.schema([(c, pa.string()) for c in layout.columns])
    if layout.extension == "csv":
        return CsvWriter(path, schema)
    if layout.extension == "jsonl":
        return JsonLinesWriter(path)
    return ParquetWriter(path, schema)


def _write_extract(writer: ChunkWriter, layout: SourceLayout, rows: Rows, plan: Plan, renderer: Renderer,
                   malformed: int) -> int:
    """Writes one extract chunk by chunk; returns how many malformed lines went in."""
    # Malformed lines sit evenly spread, each after the row it was copied from, under ids no record has.
    after = [(i + 1) * len(rows) // (malformed + 1) for i in range(malformed)]
    next_id = int(plan.number[plan.source == LAYOUTS.index(layout)].max(initial=0)) + 1
    written_bad = 0
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows.take(np.arange(start, min(start + CHUNK_ROWS, len(rows))))
        table = layout.table(renderer.render(chunk), plan.number[chunk.record], renderer.profile, renderer.draws)
        here = [p - start for p in after if start <= p < start + table.num_rows]
        if not (here and isinstance(writer, CsvWriter)):
            writer.write(table)
            continue
        done = 0
        for position in here:
            writer.write(table.slice(done, position + 1 - done))
            row = table.slice(position, 1).to_pylist()[0]
            record_id = layout.record_id(np.array([next_id + written_bad]))[0].as_py()
            writer.write_raw(malformed_line(row, record_id, too_many=written_bad % 2 == 0))
            written_bad += 1
            done = position + 1
        writer.write(table.slice(done))
    return written_bad


def _write_truth(writer: ChunkWriter, plan: Plan) -> None:
    for index, layout in enumerate(LAYOUTS):
        mine = np.flatnonzero(plan.source == index)
        mine = mine[np.argsort(plan.number[mine], kind="stable")]
        for start in range(0, len(mine), CHUNK_ROWS):
            chunk = mine[start:start + CHUNK_ROWS]
            writer.write(pa.table({
                "source_system": pa.array([layout.name] * len(chunk), pa.string()),
                "source_record_id": layout.record_id(plan.number[chunk]),
                "entity_id": _entity_ids(plan.entity[chunk]),
            }))


def _entity_ids(entity: I64) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar("E"), pc.utf8_lpad(pc.cast(pa.array(entity + 1), pa.string()),
                                                                    8, "0"), "")


def _remove_stale_extracts(out: Path, extracts: int) -> None:
    """Deletes this generator's own files of extracts beyond ``extracts`` left by an earlier, larger run."""
    for layout in LAYOUTS:
        pattern = re.compile(rf"{layout.name}_(\d{{4}})\.{layout.extension}")
        for path in sorted((out / layout.name).glob(f"{layout.name}_*.{layout.extension}")):
            match = pattern.fullmatch(path.name)
            if match and int(match.group(1)) > extracts:
                path.unlink()
                log.info("removed %s, an extract beyond the %d generated now", path, extracts)
