"""Secrets that daskflow never shows: the registry of values replaced by ``***``.

See :mod:`daskflow.secrets.masking` and docs/secrets.md.
"""

from daskflow.secrets.masking import (
    MASK,
    MIN_SECRET_LENGTH,
    is_sensitive_name,
    mask_secret,
    redact,
    redact_value,
    register_connection,
    register_variable,
)

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "is_sensitive_name",
    "mask_secret",
    "redact",
    "redact_value",
    "register_connection",
    "register_variable",
]
