//! dropout (being written).
