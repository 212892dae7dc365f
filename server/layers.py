"""Builds each layer's settings from the validated Config: the layers keep no defaults of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiortc import RTCIceServer

from media.api import MediaSettings, TransportSettings, UdpMux, compiled_available
from signaling.connection import ConnectionSettings
from signaling.session import SessionPolicy

from .config import Config, ConfigError
from .turn import TurnCredentials


def compiled_send(config: Config) -> bool:
    """Decide whether the compiled send step is used (media.forwarding); refuse "c" without a build."""
    choice = config.media.forwarding
    if choice == "c" and not compiled_available():
        raise ConfigError("media.forwarding", '"c" needs media/_fastsend.c built: reinstall with a C compiler')
    return choice == "c" or (choice == "auto" and compiled_available())


def ice_servers(config: Config) -> tuple[tuple[RTCIceServer, ...], tuple[dict[str, Any], ...]]:
    """Return the STUN/TURN servers for aiortc and for clients (the same ones)."""
    ice = config.ice
    servers: list[RTCIceServer] = []
    described: list[dict[str, Any]] = []
    if ice.stun_server:
        servers.append(RTCIceServer(urls=ice.stun_server))
        described.append({"urls": [ice.stun_server]})
    if ice.turn_server:
        servers.append(RTCIceServer(urls=ice.turn_server, username=ice.turn_username,
                                    credential=ice.turn_password))
        described.append({"urls": [ice.turn_server], "username": ice.turn_username,
                          "credential": ice.turn_password})
    return tuple(servers), tuple(described)


def turn_credentials(config: Config) -> TurnCredentials | None:
    """Return the minter of [turn] credentials for clients, or None when no TURN relay is configured."""
    turn = config.turn
    if not turn.urls:
        return None
    return TurnCredentials(turn.urls, turn.secret.encode(), turn.credential_ttl)


def media_settings(config: Config, udp_mux: UdpMux | None = None) -> MediaSettings:
    """Return the media layer's settings; ``udp_mux`` is the shared media port when ice.udp_port is set."""
    rtc_servers, _ = ice_servers(config)
    return MediaSettings(
        transport=TransportSettings(ice_servers=rtc_servers, announced_ip=config.ice.announced_ip,
                                    compiled_send=compiled_send(config), udp_mux=udp_mux),
        max_bitrate=config.media.max_bitrate_kbps * 1000,
    )


def session_policy(config: Config) -> SessionPolicy:
    """Return what every session starts with."""
    limits, session = config.limits, config.session
    return SessionPolicy(
        max_rooms=limits.max_rooms, max_participants=limits.max_participants_per_room,
        consent_text=session.consent_text, support_text=session.support_text, waiting_room=session.waiting_room,
        chat_enabled=session.chat_enabled, private_chat=session.private_chat, hands_visible=session.hands_visible,
        max_chat_chars=session.max_chat_chars, host_grace=session.host_grace,
        members_media_without_host=session.members_media_without_host,
    )


def connection_settings(config: Config, policy: SessionPolicy,
                        consent_for: Callable[[str], str | None] = lambda room: None,
                        agenda_for: Callable[[str], list[dict[str, Any]] | None] = lambda room: None,
                        emergency_for: Callable[[str], bool | None] = lambda room: None,
                        ) -> ConnectionSettings:
    """Return what every connection works with; ``consent_for``, ``agenda_for`` and ``emergency_for`` give a
    room's own agreement, default agenda and emergency-information rule, where it has them (a practice
    group's rooms)."""
    limits = config.limits
    _, client_servers = ice_servers(config)
    minter = turn_credentials(config)
    return ConnectionSettings(
        max_message_bytes=limits.max_message_bytes,
        messages_per_second=limits.messages_per_second,
        message_burst=limits.message_burst,
        heartbeat_interval=limits.heartbeat_interval,
        heartbeat_timeout=limits.heartbeat_timeout,
        ice_servers=client_servers,
        consent_text=policy.consent_text,
        consent_version=policy.consent_version,
        support_text=policy.support_text,
        max_chat_chars=policy.max_chat_chars,
        max_participants=policy.max_participants,
        require_emergency_info=config.session.require_emergency_info,
        # Each hello mints its own: a credential is good until its expiry whoever holds it, so none is shared.
        fresh_ice_servers=lambda: (minter.mint(),) if minter else (),
        consent_for=consent_for,
        agenda_for=agenda_for,
        emergency_for=emergency_for,
    )
