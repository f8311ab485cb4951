"""The control socket: newline-delimited JSON over a unix socket, and `exitd ctl`.

`protocol` parses requests and shapes answers (pure), `access` decides who may do what from
the caller's SO_PEERCRED, `commands` maps each command to a thin handler over the daemon,
`server` is the socket's async shell, `ctl` the client. docs/control.md is the reference.
"""
