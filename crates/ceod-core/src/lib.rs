//! The CEOD loss, the model, preprocessing and checkpoints (filled in by the core issue).
