"""Background loops: each calls one service function on a tick."""
