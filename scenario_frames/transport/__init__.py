"""The transport layer: one HTTP client (session, credentials, retries, bounded waits and bodies)."""
