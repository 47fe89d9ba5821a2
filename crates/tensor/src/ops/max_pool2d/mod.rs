//! max_pool2d (being written).
