//! autograd (under construction in this session).
