"""The functions connexion routes operations to: parse, call the core, shape the answer."""
