"""What a test reads of a Haven page's subscribe connection through getStats (Playwright evaluates it)."""

# Per inbound RTP stream of the page's subscribe RTCPeerConnection: kind, mid, frames decoded, packets, width.
INBOUND_STATS = """async () => {
  const pc = window.haven && window.haven.client && window.haven.client.subscribePc;
  if (!pc) return [];
  const out = [];
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp') out.push({kind: r.kind, mid: r.mid, frames: r.framesDecoded || 0,
      packets: r.packetsReceived || 0, width: r.frameWidth || 0});
  });
  return out;
}"""
