"""Small modal dialogs."""
