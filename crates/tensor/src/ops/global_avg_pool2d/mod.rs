//! global_avg_pool2d (being written).
