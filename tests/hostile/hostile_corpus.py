"""The large, binary and pathological part of the hostile corpus, generated.

``files/`` holds the small cases as committed text (each with an ``# expect:``
line). What is large (over a MiB), binary (other encodings, garbage) or built by
repetition (alias bombs, deep nesting) is generated here, the same every run:
:func:`write_corpus` writes it into a folder next to copies of the committed files.
Run ``python tests/hostile/hostile_corpus.py DIR`` to look at the files.
"""

from __future__ import annotations

import gzip
import random
import shutil
import sys
from pathlib import Path

FILES = Path(__file__).resolve().parent / "files"

HEAD = "name: llama\nmodel: org/model\n"
TOKEN = "hf_CorpusCanaryToken0123456789abcdef"
"""The canary token in the corpus: no output may contain it."""


def _laughs(levels: int = 9, width: int = 9, indent: str = "  ") -> str:
    """A "billion laughs" mapping: each level lists the previous one ``width`` times."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"{indent}l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _laughs_under(field: str) -> str:
    """A bomb whose expansion lands in a field pydantic walks (node_pools, a list)."""
    return "anchors:\n" + _laughs() + f"{field}: *l9\n"


def _deep_block(levels: int) -> str:
    return (
        HEAD
        + "labels:\n"
        + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(levels))
        + ("  " * (levels + 1) + "x: y\n")
    )


def generated_cases() -> dict[str, tuple[bytes, str]]:
    """``name -> (content, a fragment the one-line error must contain)``."""
    rng = random.Random(12)
    head = HEAD.encode()
    big_comment = b"# " + b"padding " * 140_000 + b"\n"
    cases: dict[str, tuple[bytes, str]] = {
        # bytes that are not UTF-8 text
        "latin-1.yaml": ("name: café\nmodel: org/model\n".encode("latin-1"), "is not UTF-8 text"),
        "windows-1252.yaml": (
            "name: llama\nmodel: org/model\nlabels: {note: \u201cquoted\u201d}\n".encode("cp1252"),
            "is not UTF-8 text",
        ),
        "utf-16-le-bom.yaml": (HEAD.encode("utf-16"), "is UTF-16 text"),
        "utf-16-be-bom.yaml": (b"\xfe\xff" + HEAD.encode("utf-16-be"), "is UTF-16 text"),
        "utf-32-bom.yaml": (HEAD.encode("utf-32"), "is UTF-32 text"),
        "utf-16-no-bom.yaml": (HEAD.encode("utf-16-le"), "contains NUL bytes"),
        "random-bytes.bin": (bytes(rng.randrange(256) for _ in range(4096)), "workload"),
        "png-header.yaml": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "binary data"),
        "gzipped.yaml.gz": (gzip.compress(head, mtime=0), "binary data"),
        "latin-1-high-bytes-only.yaml": (b"name: \xff\xfe\xfd\nmodel: org/model\n", "byte 0xff"),
        "truncated-utf8.yaml": (head + b"labels: {a: caf\xc3}\n", "is not UTF-8 text"),
        "overlong-utf8.yaml": (head + b"node_type: \xc0\xaf\n", "is not UTF-8 text"),
        "utf8-surrogate.yaml": (head + b"node_type: \xed\xa0\x80\n", "is not UTF-8 text"),
        "nul-in-text.yaml": (head + b"node_type: a\x00b\n", "contains NUL bytes"),
        "bell-character.yaml": (head + b"node_type: a\x07b\n", "character #x0007"),
        "terminal-escape.yaml": (head + b"node_type: \x1b[2J\n", "character #x001b"),
        "empty.yaml": (b"", "is empty"),
        "whitespace-only.yaml": (b"  \n\n   \n", "is empty"),
        "tab-only.yaml": (b"\t\n", "not valid YAML"),
        "bom-only.yaml": (b"\xef\xbb\xbf", "is empty"),
        "bom-then-list.yaml": (b"\xef\xbb\xbf- a\n", "got a list"),
        # size
        "over-1-mib-comment.yaml": (head + big_comment, "over the 1024 KiB"),
        "over-1-mib-one-line.yaml": (head + b"node_type: " + b"a" * (1024 * 1024) + b"\n", "over"),
        "huge-name-scalar.yaml": (
            b"name: " + b"x" * 900_000 + b"\nmodel: org/model\n",
            "at most 46 characters",
        ),
        "huge-integer.yaml": (head + b"replicas: {min: " + b"9" * 5000 + b"}\n", "4300 digits"),
        "huge-integer.json": (
            b'{"name": "llama", "model": "org/model", "replicas": {"min": ' + b"9" * 5000 + b"}}",
            "4300 digits",
        ),
        # alias bombs and cycles
        "billion-laughs.yaml": ((HEAD + "bogus:\n" + _laughs()).encode(), "10000 values"),
        "billion-laughs-with-token.yaml": (
            (HEAD + f"hf_access: {{type: token, token: {TOKEN}}}\nbogus:\n" + _laughs()).encode(),
            "10000 values",
        ),
        "billion-laughs-in-labels.yaml": (
            (HEAD + "labels:\n" + _laughs()).encode(),
            "10000 values",
        ),
        "laughs-in-node-pools.yaml": ((HEAD + _laughs_under("node_pools")).encode(), "values"),
        "laughs-through-merge-keys.yaml": (
            (
                HEAD
                + "x0: &x0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n"
                + "".join(
                    f"x{i}: &x{i} {{" + ", ".join(f"k{j}: *x{i - 1}" for j in range(10)) + "}\n"
                    for i in range(1, 8)
                )
            ).encode(),
            "10000 values",
        ),
        "many-aliases.yaml": (
            (HEAD + "a: &a x\n" + "node_pools: [" + ", ".join(["*a"] * 150) + "]\n").encode(),
            "more than 100 aliases",
        ),
        "self-referencing-merge.yaml": (
            (HEAD + "labels: &m\n  a: b\n  <<: *m\n").encode(),
            "a cycle",
        ),
        # depth and size
        "deep-flow-lists.yaml": (
            (HEAD + "labels: " + "[" * 100_000 + "]" * 100_000).encode(),
            "16 levels",
        ),
        "deep-flow-mappings.yaml": (
            (HEAD + "labels: " + "{a: " * 5000 + "b" + "}" * 5000 + "\n").encode(),
            "16 levels",
        ),
        "deep-block-mappings.yaml": (_deep_block(40).encode(), "16 levels"),
        "deep-json.json": (
            b'{"name": "llama", "model": "org/model", "labels": '
            + b"[" * 50_000
            + b"]" * 50_000
            + b"}",
            "16 levels",
        ),
        "deep-json-objects.json": (
            b'{"name": "llama", "model": "org/model", "labels": '
            + b'{"a": ' * 3000
            + b"1"
            + b"}" * 3000
            + b"}",
            "16 levels",
        ),
        "many-labels.yaml": (
            (HEAD + "labels:\n" + "".join(f"  k{i}: v{i}\n" for i in range(25_000))).encode(),
            "10000 values",
        ),
        "many-node-pools.yaml": (
            (HEAD + "node_pools: [" + ", ".join(f"p{i}" for i in range(30_000)) + "]\n").encode(),
            "10000 values",
        ),
        "many-keys.json": (
            b'{"name": "llama", "model": "org/model", "labels": {'
            + b", ".join(b'"k%d": "v"' % i for i in range(30_000))
            + b"}}",
            "10000 values",
        ),
    }
    return cases


def expectation(path: Path) -> str | None:
    """The fragment a committed file's error must contain (``# expect:`` or ``.expect``)."""
    sidecar = path.with_suffix(".expect")
    if sidecar.exists():
        return sidecar.read_text(encoding="utf-8").strip()
    first = path.read_text(encoding="utf-8").splitlines()[0]
    return first.removeprefix("# expect:").strip() if first.startswith("# expect:") else None


def write_corpus(folder: Path) -> dict[Path, str | None]:
    """Write every case into ``folder``; return each file with its expected fragment."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[Path, str | None] = {}
    for source in sorted(FILES.iterdir()):
        if source.suffix == ".expect":
            continue
        target = folder / source.name
        shutil.copyfile(source, target)
        cases[target] = expectation(source)
    for name, (content, expect) in generated_cases().items():
        target = folder / name
        target.write_bytes(content)
        cases[target] = expect
    return cases


if __name__ == "__main__":
    written = write_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus"))
    print(f"{len(written)} files")
