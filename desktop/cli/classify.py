"""`fireside classify`: label documents from the command line; CSV to stdout, progress on stderr.

    fireside classify --labels "World,Sports,Business,Sci/Tech" PATH...   zero-shot, ad-hoc labels
    fireside classify --classifier NAME PATH...                            a classifier from the app
    fireside classify --labels ... --examples train.csv PATH...           few-shot from text,label rows
A .csv/.tsv PATH classifies each row (--text-column, --id-column).
"""
from __future__ import annotations

import csv
import sys

from desktop.cli.common import stderr_progress
from desktop.format import human_duration


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify", help="label documents (files, folders, CSV/TSV rows); prints CSV: id_or_path,label,score",
        description="Label documents with a classifier. Prints CSV (id_or_path,label,score) on stdout and "
                    "progress and problems on stderr.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders (read recursively), .csv/.tsv")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--labels", help='comma-separated labels for zero-shot, e.g. "World,Sports,Business,Sci/Tech"')
    which.add_argument("--classifier", metavar="NAME", help="a classifier saved in the app (its labels, examples, method)")
    parser.add_argument("--examples", metavar="CSV",
                        help="with --labels: train few-shot on this CSV's 'text' and 'label' columns")
    parser.add_argument("--model", metavar="NAME", help="encoder for --labels (default: the default encoder)")
    parser.add_argument("--text-column", metavar="COLUMN", help="text column of .csv/.tsv inputs (default: guessed)")
    parser.add_argument("--id-column", metavar="COLUMN", help="id column of .csv/.tsv inputs (default: row number)")
    parser.set_defaults(func=run)


def _read_examples(path: str) -> list[dict]:
    from models.documents import read_table

    texts = read_table(path, text_column="text")
    labels = read_table(path, text_column="label")
    return [{"text": t.text, "label": l.text} for t, l in zip(texts, labels) if t.text and l.text]


def _spec(args) -> dict:
    if args.classifier:
        from desktop.store import open_database
        from desktop.store.classifiers import classifier_spec

        db = open_database()
        try:
            return classifier_spec(db, args.classifier)
        except LookupError as exc:
            raise ValueError(f"{exc} (the app's Classify page lists them)") from None
        finally:
            db.close()
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    spec = {"name": "command line", "labels": labels, "descriptions": {}, "method": "zero-shot",
            "examples": [], "model": args.model}
    if args.examples:
        spec["examples"] = _read_examples(args.examples)
        spec["method"] = "few-shot"
    return spec


def run(args) -> int:
    from models.classify import build_classifier
    from models.classify.pipeline import classify_sources, sources_from_paths
    from models.registry import Registry

    spec = _spec(args)
    stderr_progress(0.0, f"Loading the {spec['method']} classifier…")
    classifier = build_classifier(spec, Registry())
    if hasattr(classifier, "accuracy") and classifier.accuracy is not None:
        print(f"few-shot on {classifier.example_count} examples: estimated accuracy {classifier.accuracy:.1%} "
              f"({classifier.folds}-fold cross-validation)", file=sys.stderr)
    sources, failed, found = sources_from_paths(args.paths, args.text_column, args.id_column)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["id_or_path", "label", "score"])

    def problems(outcomes) -> None:
        for outcome in outcomes:
            if outcome.error:
                print(f"fireside: {outcome.source.path}{' row ' + outcome.source.row_key if outcome.source.row_key else ''}"
                      f": {outcome.error}", file=sys.stderr)

    def emit(outcomes) -> None:
        for outcome in outcomes:
            if outcome.prediction is not None:
                key = outcome.source.row_key or outcome.source.path
                writer.writerow([key, outcome.prediction.label, f"{outcome.prediction.score:.4f}"])
        sys.stdout.flush()
        problems(outcomes)

    def progressed(progress) -> None:
        eta = f", about {human_duration(progress.eta_s)} left" if progress.eta_s is not None else ""
        stderr_progress(progress.fraction, f"{progress.done:,} of {progress.total:,} documents{eta}")

    problems(failed)
    summary = classify_sources(classifier, sources, emit, progressed)
    summary.found = found
    summary.failed += len(failed)
    print(summary.text(), file=sys.stderr)
    return 0 if summary.classified or not (sources or failed) else 1
