"""Types of the compiled send step (media/_fastsend.c)."""

SENT: int
WOULD_BLOCK: int
FAILED: int
TOO_LARGE: int

def send(protect: int, ctx: int, fd: int, sockaddr: bytes, ssrc: int, b0: int, b1: int, seq: int, ts: int,
         tail: bytes) -> int: ...
def sockaddr(host: str, port: int) -> bytes: ...
