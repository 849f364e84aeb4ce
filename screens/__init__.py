"""The Textual UI of the workbench. It talks to the engine (`workbench`) through its public
functions only; the engine never imports this package."""
