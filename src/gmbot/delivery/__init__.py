"""Getting each update handled exactly once by one of many instances."""
