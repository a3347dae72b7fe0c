"""The demo's lint: every SQL file is UTF-8, ends with a newline and has no tabs."""

import pathlib
import sys

problems = []
for path in sorted(pathlib.Path("supabase").rglob("*.sql")):
    text = path.read_bytes()
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{path}: not UTF-8")
        continue
    if not decoded.endswith("\n"):
        problems.append(f"{path}: no newline at the end")
    if "\t" in decoded:
        problems.append(f"{path}: tab characters")
    sys.stdout.write(f"checked {path}\n")
for problem in problems:
    sys.stderr.write(problem + "\n")
sys.exit(1 if problems else 0)
