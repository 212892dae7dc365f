"""A participant in its own process, so a test can kill it: python -m tests.support.run_client URL TOKEN."""

from __future__ import annotations

import asyncio
import sys

from media import adapter
from tests.support.client import ProtocolClient
from tests.support.peers import RandomVp8Track, ToneTrack


async def main(base_url: str, token: str) -> None:
    adapter.set_host_addresses(["127.0.0.1"])
    client = ProtocolClient(base_url, token)
    await client.connect()
    await client.publish({"camera": RandomVp8Track(), "microphone": ToneTrack()})
    print("publishing", flush=True)
    await asyncio.sleep(120)  # bounded: the test kills us long before this


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
