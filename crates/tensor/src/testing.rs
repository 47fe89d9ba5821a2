//! Test helpers: finite differences, tolerant comparison and proptest strategies.
