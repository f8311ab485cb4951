"""Who may talk to the control socket: the caller's uid/gid from SO_PEERCRED against config.

The socket's mode (0660) keeps strangers out at the file system; this is the second gate, per
command. Readers may run read-only commands; writers may run everything. With nothing
configured, only the daemon's own uid may do anything. `role` is pure; the group lookups
happen once, when the policy is built (at start and on every reload).
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from dataclasses import dataclass
from enum import Enum

import structlog

from exitd.ops.config import ControlSettings

log = structlog.get_logger("exitd.control")

_UCRED = struct.Struct("3i")  # pid, uid, gid
# SO_PEERGROUPS (Linux 4.13): the caller's supplementary groups; Python names no constant.
_SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
_MAX_GROUPS = 256


class Role(Enum):
    NONE = "none"
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Peer:
    pid: int
    uid: int
    gid: int
    groups: frozenset[int] = frozenset()  # supplementary, where the kernel tells them


@dataclass(frozen=True, slots=True)
class Group:
    """A group as the policy checks it: its gid (a caller's primary group) and members."""

    gid: int
    members: frozenset[int]  # uids of its supplementary members

    def has(self, peer: Peer) -> bool:
        return peer.gid == self.gid or self.gid in peer.groups or peer.uid in self.members


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    read_uids: frozenset[int]
    read_groups: tuple[Group, ...]
    write_uids: frozenset[int]
    write_groups: tuple[Group, ...]

    def role(self, peer: Peer) -> Role:
        if peer.uid in self.write_uids or any(g.has(peer) for g in self.write_groups):
            return Role.WRITE
        if peer.uid in self.read_uids or any(g.has(peer) for g in self.read_groups):
            return Role.READ
        return Role.NONE


def build_policy(settings: ControlSettings, own_uid: int | None = None) -> AccessPolicy:
    """The policy `settings` describe; the daemon's own uid writes when no writer is named."""
    own = os.getuid() if own_uid is None else own_uid
    writers = frozenset(settings.write_uids)
    if not writers and settings.write_group is None:
        writers = frozenset({own})
    return AccessPolicy(
        frozenset(settings.read_uids),
        _groups(settings.read_group),
        writers,
        _groups(settings.write_group),
    )


def _groups(name: str | int | None) -> tuple[Group, ...]:
    if name is None:
        return ()
    try:
        entry = grp.getgrgid(name) if isinstance(name, int) else grp.getgrnam(name)
    except KeyError:
        if isinstance(name, int):
            return (Group(name, frozenset()),)  # a gid without a name still matches callers
        log.warning("control.unknown_group", group=name, effect="grants nobody")
        return ()
    members = set()
    for user in entry.gr_mem:
        try:
            members.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            continue
    return (Group(entry.gr_gid, frozenset(members)),)


def peer_of(sock: socket.socket) -> Peer:
    """The connected caller's pid, uid, gid and groups, as the kernel vouches for them."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    try:
        listed = sock.getsockopt(socket.SOL_SOCKET, _SO_PEERGROUPS, 4 * _MAX_GROUPS)
    except OSError:  # an older kernel: the primary gid and the group files still count
        listed = b""
    groups = frozenset(struct.unpack(f"{len(listed) // 4}I", listed[: len(listed) // 4 * 4]))
    return Peer(pid, uid, gid, groups)
