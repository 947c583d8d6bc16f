"""Group id <-> directory name: the injective, file-system-safe encoding of any group id,
and the temp-file names of this package (see the package docstring, `eventlog.offsets`)."""
from __future__ import annotations

import functools
import hashlib
import re


from eventlog.offsets.model import (
    HASHED_PREFIX,
    MAX_PLAIN_LENGTH,
    PLAIN_PREFIX,
    SAFE_CHARS,
    check_group,
)


# ---------------------------------------------------------------------------------------------
# Group id <-> directory name


def encode_group_id(group_id: str) -> str:
    """The directory name (one path component) that holds the group `group_id`.

    `"g_"` + the id with every character outside `[a-z0-9_-]` written as the `%XX` escapes of
    its UTF-8 bytes, or `"h_"` + the sha256 hex digest of the id's UTF-8 when the escaped form
    would be longer than 200 characters. Injective; the result matches `[a-z0-9_%A-F-]+`.
    """
    return _encode_group_id(check_group(group_id))


@functools.lru_cache(maxsize=4096)
def _encode_group_id(group_id: str) -> str:
    if len(group_id) <= MAX_PLAIN_LENGTH:
        parts = []
        for ch in group_id:
            if ch in SAFE_CHARS:
                parts.append(ch)
            else:
                parts.extend("%%%02X" % b for b in ch.encode("utf-8", "surrogatepass"))
        escaped = "".join(parts)
        if len(escaped) <= MAX_PLAIN_LENGTH:
            return PLAIN_PREFIX + escaped
    digest = hashlib.sha256(group_id.encode("utf-8", "surrogatepass")).hexdigest()
    return HASHED_PREFIX + digest


_ESCAPED_RE = re.compile(r"(?:%[0-9A-F]{2})+")


def decode_group_dir(name: str) -> str | None:
    """The group id of a `"g_"` directory name, or None (hashed names, foreign names)."""
    if not name.startswith(PLAIN_PREFIX):
        return None
    body = name[len(PLAIN_PREFIX):]
    try:
        group_id = _ESCAPED_RE.sub(
            lambda m: bytes.fromhex(m.group().replace("%", "")).decode("utf-8", "surrogatepass"),
            body)
    except UnicodeDecodeError:
        return None
    return group_id if encode_group_id(group_id) == name else None


_TEMP_NAME_RE = re.compile(r"\.(group\.json|(?:0|[1-9][0-9]{0,9})\.json)\.[0-9]+\.[0-9a-f]{12}\.tmp")


def is_temp_name(name: str, final: str | None = None) -> bool:
    """Whether `name` is one of this module's temp files (of the file `final`, if given).

    Only our own temp files are recognised: other layers' temp files in the group directory
    carry no flock, so they must never be taken for abandoned ones."""
    match = _TEMP_NAME_RE.fullmatch(name)
    return match is not None and (final is None or match.group(1) == final)
