"""The embedded default: ``mcpbuild demo``.

A small notes service with its own OAuth 2.0 authorization server (Authlib's server side),
served by mcpbuild through ``connectors/demo/connector.yaml``, all on this machine:

- :mod:`builder.demo.models`: the in-memory client, codes, tokens and sign-ins
- :mod:`builder.demo.adapter`: Starlette requests and responses for Authlib
- :mod:`builder.demo.authserver`: the authorization server, its grants and revocation
- :mod:`builder.demo.endpoints`: ``/oauth/authorize`` (the sign-in page), token, revoke
- :mod:`builder.demo.notes`: the notes API under ``/api``, behind bearer tokens
- :mod:`builder.demo.service`: both in one Starlette app
- :mod:`builder.demo.run`: the service and ``mcpbuild serve`` in one process
"""

from __future__ import annotations
