"""The records key as the server and the commands load it, with failures an operator can act on.

The server makes the key file on first start (``create``); commands never do, because a command run beside
a server must not invent a key that seals nothing the server can open. Any failure names where the key
comes from (``HAVEN_RECORDS_KEY`` or the key file), so a start fails with one clear line, not a traceback.
"""

from __future__ import annotations

import os

from .cipher import KEY_ENV, CipherError, Keyring, key_file, load_keyring
from .config import ConfigError

CONFIG_KEY = "records key"


def key_source(data_dir: str | os.PathLike[str]) -> str:
    """Where the records key is read from, as the operator would look for it."""
    if os.environ.get(KEY_ENV):
        return KEY_ENV
    return str(key_file(data_dir).resolve())


def records_keyring(data_dir: str | os.PathLike[str], *, create: bool) -> Keyring:
    """Load the records' keyring; ConfigError naming its source when it is missing, unreadable or malformed."""
    try:
        return load_keyring(data_dir, create=create)
    except CipherError as exc:
        raise ConfigError(CONFIG_KEY, str(exc), key_source(data_dir)) from None
    except OSError as exc:
        raise ConfigError(CONFIG_KEY, f"cannot read it: {exc.strerror or exc}", key_source(data_dir)) from None


def wrong_key(data_dir: str | os.PathLike[str], exc: CipherError) -> ConfigError:
    """The error for a key that does not open what is stored: the wrong key, or a key lost."""
    return ConfigError(CONFIG_KEY, f"does not open the sealed records ({exc}); restore the key that sealed "
                       f"them, or set {KEY_ENV} to it", key_source(data_dir))
