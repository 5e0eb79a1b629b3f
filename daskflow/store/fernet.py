"""Encryption at rest of connection passwords, extras and variable values.

The key is ``DASKFLOW_FERNET_KEY`` or the ``daskflow.fernet-key`` setting: one
or more Fernet keys separated by commas, the newest first. Values are encrypted
with the first key and decrypted with any of them, so a key is rotated by
putting the new one first, running ``daskflow connections rotate-key`` (which
re-encrypts every row with it) and then dropping the old one.

Without a key, values are stored in clear and marked ``is_encrypted = false``;
they are encrypted by the first ``rotate-key`` after a key is set.

>>> key = Fernet.generate_key().decode()
>>> box = Box.from_setting(key)
>>> box.decrypt(box.encrypt("s3cret"), what="x")
's3cret'
>>> Box.from_setting(f"{key},not-a-key")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
daskflow.store.errors.FernetKeyError: the Fernet key in ... is not valid (key 2 of 2): ...
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from daskflow import config
from daskflow.store.errors import FernetKeyError

WHERE = "DASKFLOW_FERNET_KEY / daskflow.fernet-key"


def key_setting() -> str:
    """The configured key text (may be empty: no encryption)."""
    return (os.environ.get("DASKFLOW_FERNET_KEY") or config.get("fernet-key") or "").strip()


class Box:
    """Encrypts with the first configured key, decrypts with any; no keys: no encryption."""

    def __init__(self, fernet: MultiFernet | None) -> None:
        self.fernet = fernet

    @classmethod
    def from_setting(cls, setting: str | None = None) -> Box:
        text = key_setting() if setting is None else setting
        keys = [k.strip() for k in text.split(",") if k.strip()]
        if not keys:
            return cls(None)
        fernets = []
        for n, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError) as exc:
                raise FernetKeyError(f"the Fernet key in {WHERE} is not valid (key {n} of "
                                 f"{len(keys)}): {exc}") from None
        return cls(MultiFernet(fernets))

    @property
    def enabled(self) -> bool:
        return self.fernet is not None

    def encrypt(self, value: str | None) -> str | None:
        if value is None or self.fernet is None:
            return value
        return self.fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str | None, what: str) -> str | None:
        """``value`` in clear; ``what`` ("connection 'x'") names it in errors."""
        if value is None:
            return None
        if self.fernet is None:
            raise FernetKeyError(f"{what} is stored encrypted but no Fernet key is set; set "
                             f"{WHERE} to the key it was written with")
        try:
            return self.fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            raise FernetKeyError(f"{what} cannot be decrypted with the Fernet key(s) in {WHERE}; "
                             "it was written with another key (keep the old key after the "
                             "new one until `daskflow connections rotate-key` has run)") from None

    def rotate(self, value: str | None, encrypted: bool, what: str) -> str | None:
        """``value`` encrypted with the first key (``encrypted``: as it is stored now)."""
        if value is None or self.fernet is None:
            return value
        if not encrypted:
            return self.encrypt(value)
        try:
            return self.fernet.rotate(value.encode()).decode()
        except InvalidToken:
            raise FernetKeyError(f"{what} cannot be decrypted with the Fernet key(s) in {WHERE}; "
                             "list the key it was written with after the new one") from None
