"""Who may sign in: the users file and the lockout of repeated failures."""
