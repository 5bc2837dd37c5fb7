"""The README and docs/ say what runs: every Python snippet runs, every relative link and anchor
resolves, and the README stays short.

A snippet runs in a namespace with a fresh ``app`` and ``stack`` (and what the library exports),
in a folder with the files snippets name (``samples.csv``, ``runs.jsonl``), and its app is
synthesized. The README's first snippet is a whole app (tests/test_example_app.py runs it with the
CDK CLI too); the others are fragments of a stack, as a reader would paste them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

import omics_batch_construct

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MAX_README_LINES = 250


def snippets() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for index, code in enumerate(re.findall(r"(?ms)^```python\n(.*?)^```", page.read_text())):
            found.append((f"{page.relative_to(REPO)}#{index + 1}", code))
    return found


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    found = set()
    for heading in re.findall(r"(?m)^#{1,6} (.+)$", page.read_text()):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_readme_is_short() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= MAX_README_LINES


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    text = re.sub(r"(?ms)^```.*?^```", "", page.read_text())  # not in code blocks
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no such heading")
    assert broken == []


@pytest.mark.parametrize(("where", "code"), snippets(), ids=[where for where, _ in snippets()])
def test_every_python_snippet_runs(where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples.csv").write_text(
        "sample,fastq_1,fastq_2\n"
        "NA12878,s3://my-fastq-bucket/NA12878_R1.fq.gz,s3://my-fastq-bucket/NA12878_R2.fq.gz\n"
        "NA12891,s3://my-fastq-bucket/NA12891_R1.fq.gz,s3://my-fastq-bucket/NA12891_R2.fq.gz\n"
    )
    (tmp_path / "runs.jsonl").write_text(
        '{"runSettingId": "NA12878", "parameters": {"fastq_1": "s3://my-fastq-bucket/NA12878_R1.fq.gz"}}\n'
    )
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    namespace: dict[str, Any] = {name: getattr(omics_batch_construct, name) for name in omics_batch_construct.__all__}
    namespace.update(app=app, stack=cdk.Stack(app, "Docs"), omics=cdk.aws_omics)
    exec(compile(code, where, "exec"), namespace)
    namespace["app"].synth()
