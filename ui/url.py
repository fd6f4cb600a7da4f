"""The page state that matters lives in the URL (`st.query_params`), so a copied link reproduces
what a teacher shows: the model, the page (its path) and the values that define the view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

_SEEDED = "_url_seeded"


def read(name: str) -> str | None:
    return st.query_params.get(name)


def write(name: str, value: Any) -> None:
    text = str(value)
    if st.query_params.get(name) != text:
        st.query_params[name] = text


def drop(name: str) -> None:
    if name in st.query_params:
        del st.query_params[name]


def seed(key: str, name: str, parse: Callable[[str], Any], valid: Callable[[Any], bool] = lambda v: True) -> None:
    """Before a widget with `key` is drawn for the first time in this session, start it at the URL's
    value (when it parses and is valid); afterwards the widget owns the value."""
    seeded = st.session_state.setdefault(_SEEDED, set())
    if key in seeded:
        return
    seeded.add(key)
    raw = read(name)
    if raw is None or key in st.session_state:
        return
    try:
        value = parse(raw)
    except (TypeError, ValueError):
        return
    if valid(value):
        st.session_state[key] = value


def floats(raw: str) -> list[float]:
    return [float(v) for v in raw.split(",") if v != ""]


def format_floats(values) -> str:
    return ",".join(f"{v:.3g}" for v in values)


def reseed() -> None:
    """Let the next page take its widgets' values from the URL again (a lesson opening a view): forget
    which widgets were seeded, and their values. Call it from a callback, before the widgets are drawn."""
    for key in st.session_state.pop(_SEEDED, set()):
        st.session_state.pop(key, None)
