"""The pure parts of bench/instructions.py (differencing, callgrind's files, the room's schedule, the simulcast
room's VP8 descriptors, layer split and copy count), and native runs of its rooms: real Producers, Consumers
and Slots, real SRTP, real sockets, no valgrind."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from bench import instructions
from bench.instructions import (
    by_category,
    category,
    chromium_vp8_payloads,
    compare,
    differenced,
    parse_annotate,
    parse_callgrind,
    per_forwarded_packet,
    read_datagrams,
    schedule,
    viewer_layers,
    window_copies,
)
from media import vp8
from media.consumer import compiled_available
from media.rtp import HEADER, vp8_keyframe_start


def test_instructions_per_forwarded_packet_difference_out_the_fixed_costs() -> None:
    # 10 M instructions of start-up, 1,000 per incoming packet, 400 per forwarded copy, N = 8.
    def ir(k: int) -> int:
        return 10_000_000 + k * 1_000 + k * 7 * 400

    assert per_forwarded_packet(ir(2000), ir(6000), 2000, 6000, 8) == pytest.approx(1000 / 7 + 400)


@pytest.mark.parametrize(("k1", "k2", "n", "message"), [
    (6000, 2000, 8, "K2 must be larger"),
    (2000, 2000, 8, "K2 must be larger"),
    (2000, 6000, 1, "at least two participants"),
])
def test_the_arithmetic_refuses_runs_that_cannot_be_differenced(k1: int, k2: int, n: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        per_forwarded_packet(1, 2, k1, k2, n)


def test_costs_are_differenced_per_key_and_sorted_largest_first() -> None:
    one = {"python": 1_000, "libsrtp": 500, "loader": 300}
    two = {"python": 9_000, "libsrtp": 4_500, "fastsend": 800}
    assert list(differenced(one, two, 100).items()) == [
        ("python", 80.0), ("libsrtp", 40.0), ("fastsend", 8.0), ("loader", -3.0)]
    with pytest.raises(ValueError):
        differenced(one, two, 0)


@pytest.mark.parametrize(("obj", "expected"), [
    ("/work/venvs/bench/lib/python3.11/site-packages/pylibsrtp/_binding.abi3.so", "libsrtp"),
    ("/work/wt-bench/media/_fastsend.cpython-311-x86_64-linux-gnu.so", "our compiled send step"),
    ("/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0", "the Python interpreter"),
    ("/root/.pyenv/versions/3.11.7/bin/python3.11", "the Python interpreter"),
    ("/usr/lib/x86_64-linux-gnu/libc.so.6", "libc"),
    ("/work/venvs/bench/lib/python3.11/site-packages/_cffi_backend.cpython-311-x86_64-linux-gnu.so", "cffi"),
    ("/work/venvs/bench/lib/python3.11/site-packages/uvloop/loop.cpython-311-x86_64-linux-gnu.so", "uvloop"),
    ("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "the dynamic loader"),
    ("/usr/lib/x86_64-linux-gnu/libm.so.6", "other: libm.so.6"),
])
def test_each_object_is_put_in_its_part_of_the_stack(obj: str, expected: str) -> None:
    assert category(obj).startswith(expected)


def test_categories_sum_their_objects() -> None:
    split = by_category({"/a/libpython3.11.so.1.0": 10, "/b/python3.11": 5, "/c/libc.so.6": 2})
    assert split == {"the Python interpreter (libpython)": 15, "libc (malloc, memcpy, the sendto wrapper)": 2}


# A callgrind output file with compressed names (ids defined once, then referred to) and a call whose
# inclusive cost must not count as the caller's self cost.
COMPRESSED = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
positions: line
events: Ir
summary: 700

ob=(1) /root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0
fl=(1) ???
fn=(1) _PyEval_EvalFrameDefault
0 500
cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
cfi=(2) ???
cfn=(2) memcpy
calls=3 0
0 90
0 10

ob=(2)
fl=(2)
fn=(2)
0 90
fn=(3) free
+2 100

totals: 700
"""

UNCOMPRESSED = """\
positions: line
events: Ir

ob=/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0
fl=???
fn=_PyEval_EvalFrameDefault
0 500
cob=/usr/lib/x86_64-linux-gnu/libc.so.6
cfi=???
cfn=memcpy
calls=3 0
0 90
0 10

ob=/usr/lib/x86_64-linux-gnu/libc.so.6
fl=???
fn=memcpy
0 90
fn=free
+2 100
"""


@pytest.mark.parametrize("text", [COMPRESSED, UNCOMPRESSED], ids=["compressed", "uncompressed"])
def test_a_callgrind_file_gives_self_costs_per_object_and_function(text: str) -> None:
    profile = parse_callgrind(text.splitlines(keepends=True))
    assert profile.total == 700
    assert profile.per_object == {"/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0": 510,
                                  "/usr/lib/x86_64-linux-gnu/libc.so.6": 190}
    assert profile.per_function == {
        "_PyEval_EvalFrameDefault [/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0]": 510,
        "memcpy [/usr/lib/x86_64-linux-gnu/libc.so.6]": 90,
        "free [/usr/lib/x86_64-linux-gnu/libc.so.6]": 100,
    }


def test_a_callgrind_file_without_the_event_is_refused() -> None:
    with pytest.raises(ValueError, match="no Ir event"):
        parse_callgrind(["events: Dr Dw\n"])


def test_the_total_is_the_sum_of_self_costs_when_the_file_has_no_summary() -> None:
    lines = [line for line in COMPRESSED.splitlines() if not line.startswith(("summary", "totals"))]
    assert parse_callgrind(lines).total == 700


ANNOTATE = """\
--------------------------------------------------------------------------------
Profile data file 'callgrind.out' (creator: callgrind-3.19.0)
--------------------------------------------------------------------------------
I1 cache:
Events recorded:  Ir
Events shown:     Ir
Include dirs:
Thresholds:       100
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
3,020,107,361 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                      file:function
--------------------------------------------------------------------------------
2,913,002,718 (96.45%)  ???:_PyEval_EvalFrameDefault [/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0]
  120,000,000 ( 3.97%)  ???:srtp_protect [/work/venvs/bench/lib/python3.11/site-packages/pylibsrtp/_binding.abi3.so]
       99,999  ???:memcpy [/usr/lib/x86_64-linux-gnu/libc.so.6]

--------------------------------------------------------------------------------
-- Auto-annotated source: /work/wt-bench/media/_fastsend.c
--------------------------------------------------------------------------------
399,206,319 (16.85%)  => ???:_cffi_d_srtp_protect (84,000x)
"""


def test_callgrind_annotates_table_is_read_with_and_without_percentages() -> None:
    assert parse_annotate(ANNOTATE) == {
        "???:_PyEval_EvalFrameDefault [/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0]": 2_913_002_718,
        "???:srtp_protect [/work/venvs/bench/lib/python3.11/site-packages/pylibsrtp/_binding.abi3.so]": 120_000_000,
        "???:memcpy [/usr/lib/x86_64-linux-gnu/libc.so.6]": 99_999,
    }


def test_the_room_sends_video_and_audio_of_every_publisher_interleaved_in_time() -> None:
    events = list(schedule(4, 2000))
    assert len(events) == 2000
    times = [t for t, *_ in events]
    assert times == sorted(times)
    assert {p for _, p, _, _ in events} == {0, 1, 2, 3}
    video = [e for e in events if e[2] == "video"]
    audio = [e for e in events if e[2] == "audio"]
    assert len(audio) / len(video) == pytest.approx(50 / 30, rel=0.02)  # 50 pps against 30 fps
    for p in range(4):
        assert [number for _, q, kind, number in video if q == p][:3] == [0, 1, 2]  # from the key frame on
    assert list(schedule(4, 2000)) == events  # the same room every time


def test_prepared_datagrams_are_read_back_and_truncation_is_refused() -> None:
    blob = struct.pack("!HH", 2, 3) + b"abc" + struct.pack("!HH", 0, 0)
    assert read_datagrams(blob) == [(2, b"abc"), (0, b"")]
    for size in (1, 5, 6):
        with pytest.raises(ValueError):
            read_datagrams(blob[:size])


@pytest.mark.parametrize("forwarding", [
    "python",
    pytest.param("c", marks=pytest.mark.skipif(not compiled_available(), reason="media/_fastsend.c was not built")),
])
def test_the_room_forwards_every_packet_to_every_other_subscriber(tmp_path: Path, forwarding: str) -> None:
    meta = instructions.prepare_room(3, 400, tmp_path)
    report = instructions.run_room(meta, 300, forwarding)
    assert report["drops"] == {}
    assert report["failures"] == 0
    assert report["forwarded"] == 300 * 2
    assert report["received_by_subscribers"] == 300 * 2


def test_function_names_lose_their_build_paths() -> None:
    assert instructions.short_name(
        "/tmp/python-build/Python-3.11.7/Python/ceval.c:_PyEval_EvalFrameDefault [/root/lib/libpython3.11.so.1.0]"
    ) == "_PyEval_EvalFrameDefault [libpython3.11.so.1.0]"
    assert instructions.short_name("???:srtp_protect [/x/_binding.abi3.so]") == "srtp_protect [_binding.abi3.so]"
    assert instructions.short_name("memcpy") == "memcpy"


def test_the_inclusive_list_leaves_out_the_frames_that_hold_everything() -> None:
    per_packet = {
        "main.c:Py_RunMain [/lib/libpython3.11.so.1.0]": 1000.0,
        "ceval.c:_PyEval_EvalFrameDefault [/lib/libpython3.11.so.1.0]": 950.0,
        "???:srtp_protect [/x/_binding.abi3.so]": 400.0,
        "???:srtp_protect'2 [/x/_binding.abi3.so]": 400.0,
        "dl-error-skeleton.c:_dl_catch_exception'2 [/lib/libc.so.6]": 350.0,
        "object.h:fastsend_send": 310.0,
        "???:fastsend_send [/m/_fastsend.so]": 300.0,
        "???:memcpy [/lib/libc.so.6]": 20.0,
    }
    assert instructions.telling(per_packet, 1000.0, 2) == [
        ("srtp_protect [_binding.abi3.so]", 400.0), ("fastsend_send [_fastsend.so]", 300.0)]


# -- the simulcast room ------------------------------------------------------------------------------

KEY_FRAME_320X180 = bytes((0x10, 0x00, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xB4, 0x00))


def test_chromiums_vp8_descriptor_carries_a_15_bit_picture_id_tl0picidx_and_tid() -> None:
    frame = KEY_FRAME_320X180 + bytes(range(256)) * 12
    payloads = chromium_vp8_payloads(frame, 0x1234, 200, 0, sync=True)
    assert len(payloads) == 3 and all(len(p) <= 1300 for p in payloads)
    assert b"".join(p[6:] for p in payloads) == frame
    assert payloads[0][0] == 0x90 and {p[0] for p in payloads[1:]} == {0x80}  # X, S on the first, PID 0
    assert [p[1:6] for p in payloads] == [bytes((0xE0, 0x92, 0x34, 200, 0x20))] * 3  # I L T; M; TID 0, Y
    # Read as the server reads a layer's packets: its counters, the key frame and its height.
    assert vp8.counters(payloads[0], 0) == (0x1234, 200)
    assert vp8.keyframe_height(payloads[0], 0) == 180
    assert vp8_keyframe_start(HEADER.pack(0x80, 97, 1, 0, 1) + payloads[0])
    assert not vp8_keyframe_start(HEADER.pack(0x80, 97, 2, 0, 1) + payloads[1])
    delta = chromium_vp8_payloads(b"\x11" + bytes(99), 0x7FFF, 255, 2, sync=False)
    assert delta == [bytes((0x90, 0xE0, 0xFF, 0xFF, 255, 0x80)) + b"\x11" + bytes(99)]
    assert not vp8_keyframe_start(HEADER.pack(0x80, 97, 3, 0, 1) + delta[0])
    for bad in ((0x8000, 0, 0), (0, 256, 0), (0, 0, 4)):
        with pytest.raises(ValueError):
            chromium_vp8_payloads(frame, *bad, sync=False)


@pytest.mark.parametrize("n", [2, 3, 8, 15])
def test_each_cameras_viewers_are_split_between_the_layers_and_each_subscriber_gets_a_mix(n: int) -> None:
    splits = {p: viewer_layers(n, p) for p in range(n)}
    for p, split in splits.items():
        assert sorted(split) == [sub for sub in range(n) if sub != p]
        lows = list(split.values()).count("low")
        assert abs(lows - (n - 1 - lows)) <= 1
    if n > 3:
        for sub in range(n):
            assert {splits[p][sub] for p in range(n) if p != sub} == {"low", "high"}


def test_the_window_counts_a_plain_streams_copies_to_everyone_and_a_layers_to_its_viewers() -> None:
    meta = {"n": 3, "publishers": [
        {"streams": [{"ssrc": 10, "layer": "low"}, {"ssrc": 11, "layer": "high"}, {"ssrc": 12}],
         "viewers": {"1": "low", "2": "low"}},
        {"streams": [{"ssrc": 20}, {"ssrc": 21}]},
    ]}

    def datagram(ssrc: int) -> tuple[int, bytes]:
        return 0, HEADER.pack(0x80, 97, 0, 0, ssrc) + b"srtp"

    datagrams = [datagram(s) for s in (10, 11, 12, 20, 10, 21, 11)]
    assert window_copies(meta, datagrams, 0, 7) == (2 + 0 + 2 + 2 + 2 + 2 + 0, 4)
    assert window_copies(meta, datagrams, 4, 6) == (4, 2)


def test_simulcast_rows_are_compared_with_the_plain_room_of_their_size_and_path() -> None:
    def row(scenario: str, ir: int, per_fwd: float, per_in: float, per_s: int, **more: int) -> dict:
        return {"n": 8, "forwarding": "c", "scenario": scenario, "ir_k1": 1_000, "ir_k2": 1_000 + ir,
                "instructions_per_fwd_pkt": per_fwd, "instructions_per_incoming_pkt": per_in,
                "instructions_per_media_second": per_s, **more}

    rows = [row("plain", 400_000, 10_000.0, 70_000.0, 1_000), row("simulcast", 300_000, 15_000.0, 84_000.0, 1_200),
            row("simulcast-switched", 500_000, 25_000.0, 140_000.0, 2_000, layer_copies=10_000),
            {**row("simulcast", 1, 1.0, 1.0, 1), "n": 3}]  # no plain room of its size: nothing to say
    assert compare(rows) == [
        {"n": 8, "forwarding": "c", "scenario": "simulcast", "over_plain_per_fwd_pkt": 1.5,
         "over_plain_per_incoming_pkt": 1.2, "over_plain_per_media_second": 1.2},
        {"n": 8, "forwarding": "c", "scenario": "simulcast-switched", "over_plain_per_fwd_pkt": 2.5,
         "over_plain_per_incoming_pkt": 2.0, "over_plain_per_media_second": 2.0, "rewrite_per_copy": 20.0},
    ]


@pytest.mark.parametrize("forwarding", [
    "python",
    pytest.param("c", marks=pytest.mark.skipif(not compiled_available(), reason="media/_fastsend.c was not built")),
])
@pytest.mark.parametrize("switched", [False, True], ids=["unswitched", "switched"])
def test_the_simulcast_room_forwards_each_layer_to_its_viewers_and_switched_viewers_rewrite_vp8(
        tmp_path: Path, forwarding: str, switched: bool) -> None:
    meta_path = instructions.prepare_room(3, 700, tmp_path, simulcast=True)
    meta = json.loads(meta_path.read_text())
    assert 0 < meta["switch_at"] < 500
    datagrams = read_datagrams(Path(meta["data"]).read_bytes())
    short, long = (instructions.run_room(meta_path, k, forwarding, switched) for k in (500, 700))
    for report in (short, long):
        assert report["drops"] == {} and report["failures"] == 0
        assert report["layer_viewers"] == {"l": 3, "h": 3} and report["switches_pending"] == 0
        assert report["rewriting"] == (6 if switched else 0)  # every viewer's copies shifted, or none
    copies, layer_copies = window_copies(meta, datagrams, 500, 700)
    assert 0 < layer_copies < copies < 200 * 2  # a layer's packets go to half the viewers
    assert long["forwarded"] - short["forwarded"] == copies
    assert long["received_by_subscribers"] - short["received_by_subscribers"] == copies


def test_the_plain_room_sends_every_packet_to_every_other_participant(tmp_path: Path) -> None:
    meta_path = instructions.prepare_room(3, 300, tmp_path)
    meta = json.loads(meta_path.read_text())
    assert "simulcast" not in meta and len(meta["times"]) == 300
    assert window_copies(meta, read_datagrams(Path(meta["data"]).read_bytes()), 100, 300) == (200 * 2, 0)
    with pytest.raises(ValueError, match="only a simulcast room"):
        instructions.run_room(meta_path, 10, "python", switched=True)
