//! dataset builder.
