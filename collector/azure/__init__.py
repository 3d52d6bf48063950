"""The only code that knows Azure: credentials, the client factory, throttling, paging."""
