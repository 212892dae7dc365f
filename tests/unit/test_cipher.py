"""server/cipher.py: sealed clinical fields open only with their key and in their own row."""

import os
import stat

import pytest

from server.cipher import (
    KEY_ENV,
    CipherError,
    Keyring,
    format_keys,
    is_sealed,
    load_keyring,
    new_key,
    parse_keys,
    write_keyring,
)


def test_a_sealed_value_round_trips_and_hides_its_text():
    ring = Keyring([new_key()])
    sealed = ring.seal("mood 3: rough week", "moods.rating:m-1")
    assert is_sealed(sealed) and "rough" not in sealed
    assert ring.open(sealed, "moods.rating:m-1") == "mood 3: rough week"
    assert ring.seal("x", "c") != ring.seal("x", "c")  # a fresh nonce every time


def test_a_wrong_key_another_row_or_an_altered_value_does_not_open():
    ring, other = Keyring([new_key()]), Keyring([new_key()])
    sealed = ring.seal("5", "moods.rating:m-1")
    with pytest.raises(CipherError, match="does not hold"):
        other.open(sealed, "moods.rating:m-1")
    with pytest.raises(CipherError, match="another row"):
        ring.open(sealed, "moods.rating:m-2")
    altered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(CipherError):
        ring.open(altered, "moods.rating:m-1")
    for junk in ("plain text", "hv1:", "hv1:zz:", "hv1:" + ring.current.id + ":!!!"):
        with pytest.raises(CipherError):
            ring.open(junk, "moods.rating:m-1")


def test_rotation_seals_with_the_new_key_and_still_opens_the_old():
    old = new_key()
    sealed = Keyring([old]).seal("note", "session_notes.note:s-1")
    rotated = Keyring([new_key(), old])
    assert rotated.needs_reseal(sealed)
    assert rotated.open(sealed, "session_notes.note:s-1") == "note"
    assert not rotated.needs_reseal(rotated.seal("note", "session_notes.note:s-1"))


def test_the_key_file_is_made_once_private_and_the_environment_wins(tmp_path):
    ring = load_keyring(tmp_path, env={})
    path = tmp_path / "records.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keyring(tmp_path, env={}).current == ring.current
    os.chmod(path, 0o644)
    load_keyring(tmp_path, env={})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    env_key = new_key()
    assert load_keyring(tmp_path, env={KEY_ENV: format_keys([env_key])}).current == env_key
    write_keyring(tmp_path, [env_key, ring.current])
    assert load_keyring(tmp_path, env={}).keys == [env_key, ring.current]


def test_a_missing_or_malformed_keyring_is_refused_with_where_it_came_from(tmp_path):
    with pytest.raises(CipherError, match="does not exist"):
        load_keyring(tmp_path / "none", env={}, create=False)
    with pytest.raises(CipherError, match="HAVEN_RECORDS_KEY, key 1"):
        load_keyring(tmp_path, env={KEY_ENV: "abc:tooshort"})
    with pytest.raises(CipherError, match="no key"):
        parse_keys("\n\n", "records.key")
    key = new_key()
    with pytest.raises(CipherError, match="twice"):
        parse_keys(format_keys([key, key]), "records.key")
