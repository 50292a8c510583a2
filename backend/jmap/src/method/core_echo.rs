//! Core/echo (RFC 8620 §4.1) is answered in `mod.rs`: it returns its arguments unchanged.
