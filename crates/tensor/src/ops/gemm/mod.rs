//! gemm (being written).
