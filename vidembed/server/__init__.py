"""The HTTP layer: translates the TwelveLabs v1.3 wire format into TaskService calls and back."""
