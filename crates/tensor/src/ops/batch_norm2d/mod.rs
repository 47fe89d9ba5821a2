//! batch_norm2d (being written).
