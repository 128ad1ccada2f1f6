"""`fireside dataset list|import|export|stats|split|clean|delete`: the Datasets page, headless."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from desktop.cli.common import stderr_progress
from desktop.datasets.operations import rows_text

IMPORT_FORMATS = ("auto", "openai", "sharegpt", "alpaca", "classification", "csv", "tsv")
CLEANINGS = ("empty", "duplicates", "near-duplicates", "pii")


def register(subparsers) -> None:
    parser = subparsers.add_parser("dataset", help="training data: import, clean, split, export")
    commands = parser.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="the datasets with their kind and size")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    listing.set_defaults(func=_pipe_safe(cmd_list))

    importing = commands.add_parser(
        "import", help="import a JSONL/JSON/CSV/TSV file (format detected) or a folder whose sub-folders are labels"
    )
    importing.add_argument("path", type=Path, metavar="FILE")
    importing.add_argument("--name", help="dataset name (default: the file name); an existing one is appended to")
    importing.add_argument("--format", choices=IMPORT_FORMATS, default="auto")
    importing.add_argument("--skip-bad-lines", action="store_true",
                           help="import the good lines and leave out malformed ones (default: write nothing)")
    for part in ("text", "label", "prompt", "response", "system", "messages"):
        importing.add_argument(f"--{part}-column", action="append" if part == "text" else "store",
                               metavar="COLUMN", help=f"table column holding the {part}")
    importing.set_defaults(func=_pipe_safe(cmd_import))

    exporting = commands.add_parser("export", help="write a dataset to stdout (or --output)")
    exporting.add_argument("name")
    exporting.add_argument("--format", choices=("jsonl", "csv", "tsv"), default="jsonl")
    exporting.add_argument("--split", choices=("train", "validation"), help="only that part of a split dataset")
    exporting.add_argument("--output", "-o", type=Path, help="a file instead of stdout")
    exporting.set_defaults(func=_pipe_safe(cmd_export))

    stats = commands.add_parser("stats", help="row count, labels, lengths; token lengths with --model")
    stats.add_argument("name")
    stats.add_argument("--model", help="count tokens with this model's tokenizer and compare with its context")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=_pipe_safe(cmd_stats))

    split = commands.add_parser("split", help="mark rows train or validation (seeded, stratified by label)")
    split.add_argument("name")
    split.add_argument("--validation", type=float, default=0.1, help="share of rows for validation (default 0.1)")
    split.add_argument("--seed", type=int, default=0)
    split.set_defaults(func=_pipe_safe(cmd_split))

    clean = commands.add_parser("clean", help="remove empty rows and duplicates, scrub personal data, filter by length")
    clean.add_argument("name")
    clean.add_argument("--empty", action="store_true", help="remove rows with no text (or no label / no reply)")
    clean.add_argument("--duplicates", action="store_true", help="remove exact duplicates (the first stays)")
    clean.add_argument("--near-duplicates", action="store_true",
                       help="remove rows whose text is the same after normalising case, spacing and punctuation")
    clean.add_argument("--pii", action="store_true", help="replace e-mails, phone, card numbers and IBANs by placeholders")
    clean.add_argument("--max-tokens", type=int, help="remove rows longer than this (needs --model)")
    clean.add_argument("--min-tokens", type=int, default=0, help="remove rows shorter than this (needs --model)")
    clean.add_argument("--model", help="the model whose tokenizer counts tokens")
    clean.add_argument("--dry-run", action="store_true", help="show what would change and change nothing")
    clean.set_defaults(func=_pipe_safe(cmd_clean))

    delete = commands.add_parser("delete", help="delete a dataset and its rows")
    delete.add_argument("name")
    delete.set_defaults(func=_pipe_safe(cmd_delete))


def _pipe_safe(command):
    """A reader that stops early (`| head`) ends the output quietly, not with a traceback."""
    def run(args) -> int:
        try:
            return command(args)
        except BrokenPipeError:
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0

    return run


def _db():
    from desktop.store import open_database

    return open_database()


def cmd_list(args) -> int:
    from desktop.store.datasets import list_datasets

    datasets = list_datasets(_db())
    if args.json:
        print(json.dumps(datasets, indent=2))
        return 0
    if not datasets:
        print("No datasets yet. Import one with `fireside dataset import FILE --name NAME`.")
        return 0
    width = max(len(d["name"]) for d in datasets)
    print(f"{'NAME':<{width}}  {'KIND':<14}  {'ROWS':>9}  UPDATED")
    for d in datasets:
        print(f"{d['name']:<{width}}  {d['kind']:<14}  {d['row_count']:>9,}  {d['updated'][:16].replace('T', ' ')}")
    return 0


def _mapping(args) -> dict | None:
    parts = {
        "text": args.text_column if args.text_column is None or len(args.text_column) > 1 else args.text_column[0],
        "label": args.label_column, "prompt": args.prompt_column, "response": args.response_column,
        "system": args.system_column, "messages": args.messages_column,
    }
    mapping = {part: column for part, column in parts.items() if column}
    return mapping or None


def cmd_import(args) -> int:
    from desktop.datasets.operations import default_name, import_parsed, read_source

    parsed = read_source(args.path, args.format, _mapping(args))
    if parsed.bad_lines:
        for bad in parsed.bad_lines[:50]:
            print(f"{args.path}: {bad}", file=sys.stderr)
        if len(parsed.bad_lines) > 50:
            print(f"... and {len(parsed.bad_lines) - 50} more", file=sys.stderr)
        if not args.skip_bad_lines:
            unit = parsed.bad_lines[0].unit
            print(f"fireside: {len(parsed.bad_lines)} malformed {unit}(s); nothing was written "
                  "(fix them, or pass --skip-bad-lines to import the rest)", file=sys.stderr)
            return 1
    name = args.name or default_name(args.path)
    dataset = import_parsed(_db(), parsed, name, skip_bad_lines=args.skip_bad_lines, source=str(args.path))
    skipped = f"; {len(parsed.bad_lines)} malformed left out" if parsed.bad_lines else ""
    print(f"Imported {rows_text(len(parsed.rows), parsed.kind + ' row')} ({parsed.format}) into {dataset['name']!r}, "
          f"now {rows_text(dataset['row_count'])}{skipped}.")
    return 0


def cmd_export(args) -> int:
    from desktop.datasets.operations import export_dataset
    from desktop.store.datasets import require_dataset

    db = _db()
    dataset = require_dataset(db, args.name)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            count = export_dataset(db, dataset["id"], args.format, handle, args.split)
        print(f"Wrote {rows_text(count)} to {args.output}.", file=sys.stderr)
    else:
        export_dataset(db, dataset["id"], args.format, sys.stdout, args.split)
    return 0


def _bar(count: int, largest: int, width: int = 30) -> str:
    return "█" * max(1, round(width * count / largest)) if largest else ""


def _summary(name: str, summary) -> str:
    return (f"{name}: min {summary.minimum:,}, median {summary.median:,.0f}, mean {summary.mean:,.0f}, "
            f"95% {summary.p95:,.0f}, max {summary.maximum:,}")


def cmd_stats(args) -> int:
    from desktop.datasets.operations import dataset_statistics, load_tokenizer
    from desktop.store.datasets import require_dataset, split_counts
    from models.registry import Registry

    db = _db()
    dataset = require_dataset(db, args.name)
    tokenizer = context = None
    if args.model:
        tokenizer, context = load_tokenizer(Registry(), args.model, stderr_progress)
    progress = stderr_progress if tokenizer is not None and not args.json else None
    stats, _ = dataset_statistics(db, dataset["id"], tokenizer, context, progress=progress)
    splits = split_counts(db, dataset["id"])
    if args.json:
        print(json.dumps({"name": dataset["name"], "split": splits, "model": args.model, **asdict(stats)}, indent=2))
        return 0
    print(f"{dataset['name']}: {stats.kind} dataset, {rows_text(stats.rows)}")
    if set(splits) != {"unsplit"} and splits:
        print("Split: " + ", ".join(f"{part} {n:,}" for part, n in sorted(splits.items())))
    if stats.label_counts:
        largest = max(stats.label_counts.values())
        width = max(len(label) for label in stats.label_counts)
        print(f"Labels ({len(stats.label_counts)}):")
        for label, count in stats.label_counts.items():
            print(f"  {label:<{width}}  {count:>8,}  {_bar(count, largest)}")
    if stats.messages_per_row:
        print(_summary("Messages per row", stats.messages_per_row))
    if stats.characters:
        print(_summary("Characters", stats.characters))
    print(f"Empty rows: {stats.empty_rows:,}; exact duplicates: {stats.duplicate_rows:,}"
          + (f"; texts with conflicting labels: {stats.conflicting_texts:,}" if stats.kind == "classification" else ""))
    if stats.tokens:
        print(_summary(f"Tokens ({args.model})", stats.tokens))
        if stats.context_length:
            print(f"Context of {args.model}: {stats.context_length:,} tokens; "
                  f"{rows_text(stats.truncated)} longer than that would be truncated")
    return 0


def cmd_split(args) -> int:
    from desktop.store.datasets import require_dataset, split_dataset

    db = _db()
    dataset = require_dataset(db, args.name)
    counts = split_dataset(db, dataset["id"], args.validation, args.seed)
    print(f"{dataset['name']}: {counts['train']:,} train, {counts['validation']:,} validation (seed {args.seed}).")
    return 0


def cmd_clean(args) -> int:
    from desktop.datasets.operations import apply_in_memory, load_tokenizer, plan_cleaning
    from desktop.store.datasets import apply_plan, iter_records, require_dataset
    from models.registry import Registry

    actions = [name for name in CLEANINGS if getattr(args, name.replace("-", "_"))]
    if args.max_tokens is not None or args.min_tokens:
        actions.append("token-length")
    if not actions:
        print("fireside: choose what to clean: --empty, --duplicates, --near-duplicates, --pii, "
              "--max-tokens/--min-tokens", file=sys.stderr)
        return 2
    tokenizer = None
    if "token-length" in actions:
        if not args.model:
            print("fireside: --max-tokens and --min-tokens need --model (whose tokenizer counts)", file=sys.stderr)
            return 2
        tokenizer, _ = load_tokenizer(Registry(), args.model, stderr_progress)

    db = _db()
    dataset = require_dataset(db, args.name)
    records = list(iter_records(db, dataset["id"]))
    for action in actions:
        plan = plan_cleaning(db, dataset["id"], action, tokenizer=tokenizer, min_tokens=args.min_tokens,
                             max_tokens=args.max_tokens, records=records)
        print(plan.summary())
        for number, before, after in plan.examples[:3]:
            print(f"  row {number}: {_one_line(before)}" + (f"\n    -> {_one_line(after)}" if after else ""))
        if not args.dry_run and plan.changes:
            apply_plan(db, dataset["id"], plan)
        records = apply_in_memory(records, plan)
    verb = "would have" if args.dry_run else "has"
    print(f"{dataset['name']} {verb} {rows_text(len(records))}." + (" (dry run: nothing changed)" if args.dry_run else ""))
    return 0


def _one_line(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cmd_delete(args) -> int:
    from desktop.store.datasets import delete_dataset, require_dataset

    db = _db()
    dataset = require_dataset(db, args.name)
    delete_dataset(db, dataset["id"])
    print(f"Deleted {dataset['name']!r} ({rows_text(dataset['row_count'])}).")
    return 0
