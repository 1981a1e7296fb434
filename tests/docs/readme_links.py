#!/usr/bin/env python3
"""Every relative link and image in every README.md of the project resolves: the file or folder exists
inside the repository, and a heading anchor (`file.md#heading`, `#heading`) names a heading of that file.

    python3 tests/docs/readme_links.py [ROOT]     (exit 0 = pass, 1 = a broken link; ctest: docs.readme_links)

The READMEs point at one another and at the code they document; a file moved or a heading renamed would
otherwise leave a reader at a dead end. Links inside code (fenced blocks, `inline code`) are not links, and
web addresses (http:, https:, mailto:) are not checked: the test runs offline.
"""

import os
import re
import sys

SKIP_DIRS = {".git", "__pycache__"}
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def readmes(root):
    for top, dirs, files in os.walk(root):
        # Build trees (build/, build-asan/) hold copies made by tools, not the project's documents.
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("build"))
        if "README.md" in files:
            yield os.path.join(top, "README.md")


def prose_lines(text, keep_code=False):
    """(line number, line) outside fenced code blocks, with inline code removed unless keep_code."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            continue
        yield number, line if keep_code else re.sub(r"`[^`]*`", "", line)


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped (letters of any script, digits, '-' and
    '_' kept), spaces made '-'."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for _, line in prose_lines(text, keep_code=True):  # a heading's code is part of its anchor
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(root):
    """[(readme, line, target, why)] and the number of links checked."""
    root = os.path.realpath(root)
    problems, checked = [], 0
    for readme in readmes(root):
        with open(readme, encoding="utf-8") as f:
            text = f.read()
        here = os.path.dirname(readme)
        for number, line in prose_lines(text):
            for target in LINK.findall(line):
                if SCHEME.match(target):
                    continue
                checked += 1
                path, _, anchor = target.partition("#")
                resolved = os.path.realpath(os.path.join(here, path)) if path else readme
                rel = os.path.relpath(readme, root)
                if resolved != root and not resolved.startswith(root + os.sep):
                    problems.append((rel, number, target, "points outside the repository"))
                elif not os.path.exists(resolved):
                    problems.append((rel, number, target, "no such file or folder"))
                elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                    problems.append((rel, number, target, f"no heading with the anchor #{anchor}"))
    return problems, checked


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    files = list(readmes(root))
    problems, checked = broken_links(root)
    for rel, number, target, why in problems:
        print(f"FAIL: {rel}:{number}: link ({target}): {why}")
    if not files or not checked:
        print(f"FAIL: found {len(files)} README.md files and {checked} relative links under {root}")
        return 1
    if problems:
        return 1
    print(f"every relative link resolves: {checked} links in {len(files)} README.md files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
