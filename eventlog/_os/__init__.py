"""Operating-system adapters: atomic files, wake-ups, fork safety. Imports nothing above errors."""
