//! augment (under construction in this session).
