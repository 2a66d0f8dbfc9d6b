"""Ways people and systems write the same value differently, applied to Arrow string arrays.

Whole-column changes (case, formats) run as Arrow compute kernels; edits
that need per-value randomness (typos, nicknames, Gmail dots) run in Python
on only the rows a rate selects, so their cost scales with the rate.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nicknames import NickNamer

from customer_mdm.samples.draws import U64, Mask

_KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Letters next to each letter on a QWERTY keyboard (same row and the rows above and below)."""
    position = {ch: (r, c) for r, row in enumerate(_KEY_ROWS) for c, ch in enumerate(row)}
    return {ch: "".join(other for other, (r2, c2) in position.items()
                        if other != ch and abs(r2 - r) <= 1 and abs(c2 - c) <= 1)
            for ch, (r, c) in position.items()}


_NEIGHBOURS = _keyboard_neighbours()


def join_present(*values: pa.Array, separator: str = " ") -> pa.Array:
    """Joins the non-null values of each row; null where all are null.

    pyarrow 26's ``binary_join_element_wise(null_handling="skip")`` drops rows
    whose inputs are all null (the result comes back shorter), so those rows
    get a placeholder first and null after.
    """
    none = np.logical_and.reduce([np.asarray(v.is_null()) for v in values])
    first = pc.if_else(pa.array(none), pa.scalar(""), values[0])
    joined = pc.binary_join_element_wise(first, *values[1:], separator, null_handling="skip")
    return pc.if_else(pa.array(none), pa.nulls(len(joined), pa.string()), joined)


def edit_some(values: pa.Array, chosen: Mask, edit: Callable[[str, int], str], bits: U64) -> pa.Array:
    """``values`` with ``edit(value, random bits)`` applied to the chosen non-null entries."""
    index = np.flatnonzero(chosen)
    if len(index) == 0:
        return values
    old = values.take(pa.array(index)).to_pylist()
    new = [None if text is None else edit(text, int(b)) for text, b in zip(old, bits[index])]
    return pc.replace_with_mask(values, pa.array(chosen), pa.array(new, pa.string()))


def typo(text: str, bits: int) -> str:
    """One keyboard slip on a letter: insert, delete, substitute or transpose."""
    if not text:
        return text
    at = (bits >> 2) % len(text)
    if not text[at].isalpha():
        letters = [i for i, ch in enumerate(text) if ch.isalpha()]
        if not letters:
            return text
        at = letters[(bits >> 2) % len(letters)]
    original = text[at]
    near = _NEIGHBOURS.get(original.lower()) or "aeiou"   # letters off the QWERTY rows (é, ñ): a vowel
    slip = near[(bits >> 20) % len(near)]
    if original.isupper():
        slip = slip.upper()
    operation = bits & 3
    if operation == 0:
        return text[:at + 1] + slip + text[at + 1:]
    if operation == 1 and len(text) > 1:
        return text[:at] + text[at + 1:]
    if operation == 3 and at + 1 < len(text) and text[at + 1] != original:
        return text[:at] + text[at + 1] + original + text[at + 2:]
    return text[:at] + slip + text[at + 1:]


def recase(values: pa.Array, chosen: Mask, bits: U64) -> pa.Array:
    """All upper or all lower case (half each) where chosen."""
    upper = pa.array(chosen & (bits % 2 == 0))
    lower = pa.array(chosen & (bits % 2 == 1))
    return pc.if_else(upper, pc.utf8_upper(values), pc.if_else(lower, pc.utf8_lower(values), values))


def moved_gmail_dots(address: str, bits: int) -> str:
    """Gmail ignores dots in the local part: drop them if any, else add one."""
    local, _, domain = address.partition("@")
    if "." in local:
        return local.replace(".", "") + "@" + domain
    at = 1 + bits % max(len(local) - 1, 1)
    return local[:at] + "." + local[at:] + "@" + domain


def email_noise(address: str, bits: int) -> str:
    """Case noise or stray whitespace as typed into a form."""
    return (address.upper(), address.capitalize(), " " + address, address + " ")[bits % 4]


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


@lru_cache(maxsize=None)
def nicknames_of(name: str) -> tuple[str, ...]:
    """Nicknames of a first name from the ``nicknames`` table, title case, in a fixed order."""
    return tuple(sorted(nick.title() for nick in _nicknamer().nicknames_of(name)))


def nickname(name: str, bits: int) -> str:
    options = nicknames_of(name)
    return options[bits % len(options)] if options else name


def has_nickname(names: pa.Array) -> Mask:
    """Which entries have at least one nickname (the names a nickname rate can apply to)."""
    unique = pc.unique(names)
    known = pa.array([bool(nicknames_of(n)) if n is not None else False for n in unique.to_pylist()])
    return np.asarray(pc.take(known, pc.index_in(names, unique)).fill_null(False), dtype=bool)
