"""The pure parts of bench/instructions.py (differencing, callgrind's files, the room's schedule), and one
native run of its room: real Producers, Consumers and Slots, real SRTP, real sockets, no valgrind."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bench import instructions
from bench.instructions import (
    by_category,
    category,
    differenced,
    parse_annotate,
    parse_callgrind,
    per_forwarded_packet,
    read_datagrams,
    schedule,
)
from media.consumer import compiled_available


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
