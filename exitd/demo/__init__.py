"""`exitd demo`: the daemon at work on a real price path, for someone who has just installed it."""
