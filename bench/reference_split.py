"""The held-out draw of tests/reference_truth.json: 15 of the style PDFs kept aside before the
parser was changed, stratified by the manifest's guessed style, by a seeded random draw.

Run: ``python bench/reference_split.py`` (prints the draw; the truth file records it).
"""

from __future__ import annotations

import random
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "pdfs" / "styles" / "MANIFEST.md"
SEED = 25  # the number
HELD_OUT = 15


def styles(manifest: Path = MANIFEST) -> dict[str, str]:
    """file -> style group (numbered, natbib, acl-aaai, other) from the manifest's table."""
    out = {}
    for line in manifest.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 9 and cells[1].startswith("`"):
            guess = cells[8]
            group = ("natbib" if guess.startswith("author-year natbib") else "acl-aaai" if guess.startswith("author-year ACL")
                     else "numbered" if guess.startswith("numbered") else "other")
            out[cells[1].strip("`")] = group
    return out


def draw(by_file: dict[str, str]) -> list[str]:
    """Largest-remainder quota per style, then a seeded sample inside each style."""
    groups: dict[str, list[str]] = {}
    for f, g in sorted(by_file.items()):
        groups.setdefault(g, []).append(f)
    share = {g: HELD_OUT * len(fs) / len(by_file) for g, fs in groups.items()}
    quota = {g: int(s) for g, s in share.items()}
    for g in sorted(share, key=lambda g: share[g] - quota[g], reverse=True)[: HELD_OUT - sum(quota.values())]:
        quota[g] += 1
    rng = random.Random(SEED)
    return sorted(f for g in sorted(groups) for f in rng.sample(groups[g], quota[g]))


if __name__ == "__main__":
    by_file = styles()
    held = draw(by_file)
    for f in held:
        print(f, by_file[f])
    print({g: sum(by_file[f] == g for f in held) for g in sorted(set(by_file.values()))})
