"""mcpbuild as the OAuth 2.1 authorization server and resource server its MCP clients talk
to: metadata, registration and client ID metadata documents, ``/authorize`` and the
consent flow, tokens and revocation, the limits on those endpoints, and the bearer gate in
front of ``/mcp``. The OAuth client toward the provider is :mod:`builder.provider`."""
