//! linear (being written).
