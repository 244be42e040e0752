"""Character cards and lorebooks from files: read, checked strictly, cleaned to text."""
