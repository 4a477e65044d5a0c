"""Rule sets of any size for benchmarks: the bundled contracts cloned under new ids."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["clone_ruleset_files"]

_ID_LINE = re.compile(r"^(?P<indent>[ \t]+)id:[ \t]*(?P<id>[^\s#]+)", re.MULTILINE)


def clone_ruleset_files(src_dir: str | Path, dst_dir: str | Path, copies: int) -> list[Path]:
    """Write ``copies`` rule files cloned round-robin from ``src_dir`` with new contract ids
    (``gpu-train-001-c0001``, ``maas-api-001-c0002``, …) into ``dst_dir``, for benchmarks."""
    texts = []
    for path in sorted(p for p in Path(src_dir).iterdir() if p.suffix in (".yaml", ".yml")):
        text = path.read_text(encoding="utf-8")
        head = re.search(r"^contract:[ \t]*$", text, re.MULTILINE)
        match = _ID_LINE.search(text, head.end()) if head else None
        if match is None:
            raise ValueError(f"{path}: no contract id line under 'contract:'")
        texts.append((text[: match.start("id")], match["id"], text[match.end("id") :]))
    if not texts:
        raise ValueError(f"no rule files in {src_dir}")
    Path(dst_dir).mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(1, copies + 1):
        before, cid, after = texts[(i - 1) % len(texts)]
        written.append(Path(dst_dir) / f"{cid}-c{i:04d}.yaml")
        written[-1].write_text(f"{before}{cid}-c{i:04d}{after}", encoding="utf-8")
    return written
