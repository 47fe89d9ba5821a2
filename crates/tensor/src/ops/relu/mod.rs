//! relu (being written).
