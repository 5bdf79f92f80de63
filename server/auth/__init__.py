"""Accounts, tokens, permissions and field encryption: a library the transport and game call.

`AccountService` (service.py) is the entry point; `AccessTokens.verify` / `AccountService.
authenticate` check a hello's token; `Grants` (permissions.py) answers "may this principal do
X"; `NameRegistry` (names.py) refuses look-alike display names; `AesGcmFields` (crypto.py)
seals sensitive columns. Nothing here touches the tick or the network.
"""
