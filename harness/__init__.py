"""Study-independent machinery: data preparation, device handling, training, timing, records."""
