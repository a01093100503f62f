//! Pixel-space geometry for CEOD (filled in by the geometry issue).
