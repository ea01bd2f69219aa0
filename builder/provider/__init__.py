"""mcpbuild as an OAuth 2.0 client of the provider: the Authorization Code flow
(:mod:`~builder.provider.client`), the user's grants and their refresh
(:mod:`~builder.provider.grants`), and ``mcpbuild login`` through a loopback redirect
(:mod:`~builder.provider.login`). The authorization server toward MCP clients is
:mod:`builder.auth`; the two never share a module."""
