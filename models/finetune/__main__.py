"""`python -m models.finetune run JOB_DIR [--resume]`: run one prepared job in this process."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.finetune",
                                     description="Run a prepared fine-tuning job (see `fireside finetune`).")
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="run or resume the job in JOB_DIR")
    run.add_argument("job_dir", type=Path)
    run.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    args = parser.parse_args(argv)

    from models.home import force_offline
    from models.quiet import quiet_libraries

    force_offline()
    quiet_libraries()
    from models.finetune.runner import run_job

    return run_job(args.job_dir, resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
