//! Cross-crate scenarios for the ceod workspace; the scenarios live in `tests/tests/`.
