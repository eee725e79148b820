"""Each study declared once: its cases as data, its profiles (budgets and thresholds) and
the small amount of logic that is its own (label mapping, metrics)."""
