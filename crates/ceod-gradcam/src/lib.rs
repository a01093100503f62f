//! Class activation maps from candle's backward pass (filled in by the gradcam issue).
