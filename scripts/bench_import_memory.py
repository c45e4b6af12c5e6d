"""Show that the Stack Exchange dump reader runs in flat memory on a large Posts.xml.

Generates a synthetic Posts.xml of the requested size in a temporary folder (deleted afterwards):
40% questions (15% of them closed), 60% answers, HTML bodies with paragraphs, links, inline code
and code blocks. It then streams the file through `StackExchangeDump`, dropping each question,
and reports the peak RSS (getrusage ru_maxrss) and current RSS (psutil) after 10%, 50% and 100%
of the file's bytes. The reader runs in a fresh child process, so the peak RSS is the reader's
alone and not the generator's. A benchmark, not a test:

    nice -n 19 python scripts/bench_import_memory.py --size-gb 1
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

import psutil

from sotriage.data.stackexchange import read_stackexchange_dump

WORDS = ("coffee grind brew espresso water temperature bean roast pressure filter kettle pour time "
         "extraction acid bitter sweet crema milk foam machine burr blade dose ratio taste").split()
CHECKPOINTS = (0.10, 0.50, 1.00)
_ATTRIBUTE_ENTITIES = {'"': "&quot;", "\n": "&#xA;"}


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18))).capitalize() + "."


def _body(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 5)):
        paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.3:
            paragraph += f' See <a href="https://example.com/{rng.randint(1, 999)}">this page</a> and <code>brew(x &lt; 3)</code>.'
        parts.append(f"<p>{paragraph}</p>")
        if rng.random() < 0.3:
            code = "\n".join(f"    step_{i} = grind({rng.randint(1, 40)}) &amp;&amp; pour()" for i in range(rng.randint(2, 12)))
            parts.append(f"<pre><code>{code}\n</code></pre>")
    return "\n\n".join(parts) + "\n"


def _attribute(value: str) -> str:
    return escape(value, _ATTRIBUTE_ENTITIES)


def generate_posts(path: Path, size_bytes: int, seed: int = 0) -> dict:
    """Write a Posts.xml of at least `size_bytes`; return how many rows and questions it has."""
    rng = random.Random(seed)
    bodies = [_attribute(_body(rng)) for _ in range(2000)]
    titles = [_attribute(_sentence(rng).rstrip(".") + "?") for _ in range(2000)]
    rows = questions = 0
    written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        header = '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
        handle.write(header)
        written += len(header.encode("utf-8"))
        post_id = 0
        while written < size_bytes:
            lines = []
            for _ in range(1000):
                post_id += 1
                minute = post_id % 60
                created = f"20{10 + post_id // 5_000_000 % 10}-0{1 + post_id // 500_000 % 9}-{1 + post_id // 20_000 % 28:02d}T12:{minute:02d}:00.000"
                body = rng.choice(bodies)
                if rng.random() < 0.4:
                    closed = f' ClosedDate="{created}"' if rng.random() < 0.15 else ""
                    tags = "".join(f"&lt;{rng.choice(WORDS)}&gt;" for _ in range(rng.randint(1, 5)))
                    lines.append(f'  <row Id="{post_id}" PostTypeId="1" CreationDate="{created}" Score="1" Body="{body}" '
                                 f'OwnerUserId="{rng.randint(1, 100000)}" Title="{rng.choice(titles)}" Tags="{tags}" AnswerCount="1"{closed} />\n')
                    questions += 1
                else:
                    lines.append(f'  <row Id="{post_id}" PostTypeId="2" ParentId="{max(1, post_id - 1)}" CreationDate="{created}" Score="0" Body="{body}" />\n')
                rows += 1
            chunk = "".join(lines)
            handle.write(chunk)
            written += len(chunk.encode("utf-8"))
        handle.write("</posts>\n")
    return {"rows": rows, "questions": questions}


def rss_mib() -> tuple[float, float]:
    """(peak RSS so far, current RSS) of this process in MiB; ru_maxrss is in KiB on Linux."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak, psutil.Process().memory_info().rss / 2**20


def measure(path: Path) -> list[dict]:
    size = path.stat().st_size
    dump = read_stackexchange_dump(path, progress=False)
    peak, current = rss_mib()
    points = [{"share": 0.0, "bytes_read": 0, "questions": 0, "peak_rss_mib": round(peak, 1), "rss_mib": round(current, 1), "seconds": 0.0}]
    pending = list(CHECKPOINTS)
    started = time.perf_counter()
    count = 0
    for _ in dump:
        count += 1
        if pending[0] < 1.0 and dump.bytes_read >= pending[0] * size:
            peak, current = rss_mib()
            points.append({"share": pending.pop(0), "bytes_read": dump.bytes_read, "questions": count, "peak_rss_mib": round(peak, 1),
                           "rss_mib": round(current, 1), "seconds": round(time.perf_counter() - started, 1)})
    peak, current = rss_mib()
    points.append({"share": 1.0, "bytes_read": dump.bytes_read, "questions": count, "peak_rss_mib": round(peak, 1),
                   "rss_mib": round(current, 1), "seconds": round(time.perf_counter() - started, 1)})
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=1.0, help="size of the generated Posts.xml in GB (10^9 bytes)")
    parser.add_argument("--dir", default=None, help="folder for the temporary file (default: the system temp folder)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated content")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # internal: the child process's Posts.xml
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return

    size_bytes = int(args.size_gb * 1e9)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="sotriage-bench-") as folder:
        free = shutil.disk_usage(folder).free
        if free < size_bytes * 1.1:
            raise SystemExit(f"only {free / 1e9:.1f} GB free in {folder}; pass a smaller --size-gb or another --dir")
        path = Path(folder) / "Posts.xml"
        started = time.perf_counter()
        counts = generate_posts(path, size_bytes, args.seed)
        print(f"generated {path.stat().st_size / 1e9:.2f} GB, {counts['rows']} rows, {counts['questions']} questions "
              f"in {time.perf_counter() - started:.0f} s")
        child = subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True, capture_output=True, text=True)
        points = json.loads(child.stdout.strip().splitlines()[-1])

    print("| file read | bytes read | questions | peak RSS (MiB) | current RSS (MiB) | seconds |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for point in points:
        print(f"| {point['share']:.0%} | {point['bytes_read']:,} | {point['questions']:,} | {point['peak_rss_mib']} | "
              f"{point['rss_mib']} | {point['seconds']} |")
    final = points[-1]
    print(f"throughput: {final['bytes_read'] / 1e6 / max(final['seconds'], 1e-9):.1f} MB/s")


if __name__ == "__main__":
    main()
