"""Setting names as users type them: the command line and INI spell them `d-model`, `dk`, `seq-len`; the
run files' attributes (and so Python) `d_model`, `d_k`, `seq_len`. Both are accepted; the attribute
spelling is the canonical one. An unknown name is an InputError with the closest known names."""

import difflib

from .guard import InputError

# Spellings that differ by more than '-' against '_' (the CLI's dk, dv; n for the sequence length).
ALIASES = {"dk": "d_k", "dv": "d_v", "n": "seq_len", "dmodel": "d_model", "h": "heads"}


def canonical(name):
    """`name` in the attributes' spelling: d-model -> d_model, dk -> d_k (unknown names unchanged)."""
    key = name.strip().replace("-", "_")
    return ALIASES.get(key, key)


def resolve(name, known, what="a setting", option=None):
    """The name of `known` that `name` means (either spelling); InputError naming the closest ones."""
    if name in known:
        return name
    key = canonical(name)
    if key in known:
        return key
    hint = did_you_mean(key, known)
    prefix = option or f"'{name}'"
    raise InputError(f"{prefix}: no run has {what} '{name}'{hint}")


def did_you_mean(name, known):
    """' (did you mean 'd_model'?)', or the list of known names when none is close."""
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    if close:
        return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
    shown = sorted(known)
    return f" (known: {', '.join(shown[:40])}{', ...' if len(shown) > 40 else ''})"
