"""Secrets inside URLs, masked: the one rule every printed or stored string goes through.

``mask("http://user:pass@host/v1?api_key=abc&n=1")`` -> ``"http://host/v1?api_key=***&n=1"``.
URL credentials (``scheme://user:password@``) are removed and the values of secret-looking query
parameters (``api_key``, ``key``, ``token``, ``*_token``, ``secret``, ``password``,
``auth``, ``sig``, ...) are replaced by ``***``; everything else is left as it is, so a
masked string still says which host and path were meant.

Used by the compiler (diagnostics, ``plan``, drawings), the run store (every string it
writes), the command line (error lines, ``runs``, ``show``) and the API executor (error
messages). Pure: only ``re``.
"""
from __future__ import annotations

import re
from typing import Any

MASK = "***"

_URL_CRED = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s?#]*@")
_SECRET_QUERY = re.compile(
    r"(?P<head>[?&;](?:[a-z0-9_.-]*[_.-])?(?:api[_-]?key|apikey|key|token|access[_-]?token|secret|"
    r"client[_-]?secret|password|passwd|pwd|auth|authorization|sig|signature|credentials?)=)"
    r"(?P<value>[^&#;\s'\")\]>]*)", re.IGNORECASE)


def mask(text: Any) -> Any:
    """``text`` without URL credentials and with secret query values replaced by ``***``; a value
    that is not a string is returned unchanged."""
    if not isinstance(text, str) or ("@" not in text and "=" not in text):
        return text
    text = _URL_CRED.sub(lambda m: m.group("scheme"), text)
    return _SECRET_QUERY.sub(lambda m: m.group("head") + (MASK if m.group("value") else ""), text)


def mask_all(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples of strings and numbers) with every string
    masked, keys included."""
    if isinstance(obj, dict):
        return {mask(k): mask_all(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask_all(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(mask_all(v) for v in obj)
    return mask(obj)
