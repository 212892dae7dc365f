"""Table tests for media.policy: which tracks each member consumes, from who may send and receive."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from media.policy import consumable_tracks
from media.producer import TrackInfo


@dataclass
class Party:
    sending: bool = True
    receiving: bool = True


def tracks(*owners: str) -> list[TrackInfo]:
    return [TrackInfo(f"{owner}-{i}", owner, "video", "camera") for i, owner in enumerate(owners)]


CAM_ANN, CAM_BOB, MIC_BOB, CAM_CAT = tracks("ann", "bob", "bob", "cat")
EVERYONE = [CAM_ANN, CAM_BOB, MIC_BOB, CAM_CAT]

# (members, subscriber, expected tracks)
TABLE = [
    ({"ann": Party(), "bob": Party(), "cat": Party()}, "ann", [CAM_BOB, MIC_BOB, CAM_CAT]),
    ({"ann": Party(), "bob": Party(), "cat": Party()}, "bob", [CAM_ANN, CAM_CAT]),
    ({"ann": Party(), "bob": Party(sending=False), "cat": Party()}, "ann", [CAM_CAT]),
    ({"ann": Party(receiving=False), "bob": Party(), "cat": Party()}, "ann", []),
    ({"ann": Party(sending=False, receiving=False), "bob": Party(), "cat": Party()}, "bob", [CAM_CAT]),
    ({"ann": Party(sending=False), "bob": Party(sending=False), "cat": Party(sending=False)}, "ann", []),
    ({"ann": Party(), "cat": Party()}, "ann", [CAM_CAT]),  # bob's tracks are in another Router now
    ({"bob": Party()}, "ann", []),  # not a member
]


@pytest.mark.parametrize(("members", "subscriber", "expected"), TABLE)
def test_a_member_consumes_the_tracks_of_every_other_member_who_may_send_if_it_may_receive(
    members: dict[str, Party], subscriber: str, expected: list[TrackInfo]
) -> None:
    assert consumable_tracks(subscriber, members, EVERYONE) == expected


def test_the_policy_hands_back_the_objects_it_was_given_in_their_order() -> None:
    members = {"ann": Party(), "bob": Party()}
    given = [CAM_BOB, MIC_BOB]
    chosen = consumable_tracks("ann", members, iter(reversed(given)))
    assert chosen == [MIC_BOB, CAM_BOB] and chosen[0] is MIC_BOB
