"""Write requirements.txt (core install) and requirements-dev.txt (core + [dev]) from pyproject.toml.

python tools/gen_requirements.py          # rewrite both files
python tools/gen_requirements.py --check  # exit 1 if they are out of date (the tests run this)
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = "# Generated from pyproject.toml by tools/gen_requirements.py: edit pyproject.toml, then re-run it.\n"


def render() -> dict[Path, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = "".join(f"{d}\n" for d in project["dependencies"])
    dev = "".join(f"{d}\n" for d in project["optional-dependencies"]["dev"])
    return {ROOT / "requirements.txt": HEADER + core, ROOT / "requirements-dev.txt": HEADER + "-r requirements.txt\n" + dev}


def main() -> int:
    files = render()
    if "--check" in sys.argv:
        stale = [p.name for p, text in files.items() if not p.exists() or p.read_text() != text]
        if stale:
            print(f"out of date: {', '.join(stale)}; run python tools/gen_requirements.py")
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
