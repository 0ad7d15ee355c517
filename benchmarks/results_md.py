"""One helper the benchmark scripts share: replace a marked section of RESULTS.md."""
from pathlib import Path


def replace_section(md_path: Path, begin: str, end: str, section: str) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) in place of the text
    between those markers in ``md_path``; append it when the markers are absent (or the file is)."""
    text = md_path.read_text() if md_path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    md_path.write_text(text)
