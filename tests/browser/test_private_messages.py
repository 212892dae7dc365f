"""A member's private message to the therapist is unmissable and safe to answer: the hosts (and nobody else)
get a notice outside the chat, it opens as a conversation with that member, the reply goes back privately
(never to "Everyone"), and a long message is readable in full. Driven by clicks in real browsers."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.artifacts import screenshot
from tests.support.pages import enter_room

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000
HARD_DAY = ("I'm having a hard day and don't want to talk today. " * 5).strip()
# Scrolls a message into view in the chat list and tells whether all of it is inside the list's box.
FITS_IN_LIST = """t => {
  const list = t.closest('[data-testid="chat-messages"]');
  t.scrollIntoView({block: 'nearest'});
  const a = t.getBoundingClientRect(), b = list.getBoundingClientRect();
  return {text: a.height, list: b.height, inside: a.top >= b.top - 1 && a.bottom <= b.bottom + 1};
}"""


async def enter(browser, url: str, width: int = 1280, height: int = 800):
    return await enter_room(browser, url, width, height, UI_TIMEOUT_MS)


async def test_a_private_message_to_the_hosts_is_noticed_read_in_full_and_answered_privately(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"))
        cal = await enter(browser, server.join_url(ROOM, "Cal", sub="cal"))
        pages = [ana, ben, cal]

        # Ben writes to the hosts privately; the composer says it is private before he sends.
        await ben.get_by_test_id("tab-chat").click()
        await ben.get_by_test_id("chat-recipient").select_option("hosts")
        await expect(ben.get_by_test_id("chat-to-line")).to_have_text("Private: only the hosts see it.")
        await ben.get_by_test_id("chat-input").fill(HARD_DAY)
        await ben.get_by_test_id("chat-send").click()

        # Ana sees a notice outside the chat, naming Ben but not showing the text; Cal sees nothing.
        notice = ana.get_by_test_id("private-notice")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("Ben sent you a private message")
        await expect(notice).not_to_contain_text("hard day")
        await expect(cal.get_by_test_id("private-notice")).to_be_hidden()
        await expect(cal.get_by_test_id("chat-unread")).to_be_hidden()
        await screenshot(ana, "private-message-notice-1280x800")

        # "Read and reply" opens the conversation with Ben, the reply already addressed to him privately.
        await ana.get_by_test_id("private-notice-open").click()
        await expect(notice).to_be_hidden()
        await expect(ana.get_by_test_id("chat-conversation-title")).to_have_text("Private with Ben")
        await expect(ana.get_by_test_id("chat-recipient")).to_have_value("ben")
        await expect(ana.get_by_test_id("chat-to-line")).to_contain_text("Private: only Ben")
        await expect(ana.get_by_test_id("chat-input")).to_be_focused()

        # The long message is readable in full: all of its text, in a list tall enough to show it whole.
        text = ana.get_by_test_id("chat-text").filter(has_text="hard day")
        await expect(text).to_have_text(HARD_DAY)
        fit = await text.evaluate(FITS_IN_LIST)
        await screenshot(ana, "private-conversation-1280x800")
        assert fit["inside"], f"the message ({fit['text']:.0f}px) does not fit the chat ({fit['list']:.0f}px)"
        assert fit["list"] >= 220, f"the message list is only {fit['list']:.0f}px tall"

        await ana.get_by_test_id("chat-input").fill("Thank you for telling me. You can just listen today.")
        await ana.get_by_test_id("chat-send").click()

        # Ben gets the answer privately, and his reply goes back to the hosts; Cal never sees either.
        await expect(ben.get_by_test_id("chat-message").filter(has_text="just listen")).to_contain_text(
            "private to you")
        await expect(ben.get_by_test_id("chat-recipient")).to_have_value("hosts")
        await expect(cal.get_by_test_id("chat-unread")).to_be_hidden()
        await cal.get_by_test_id("tab-chat").click()
        await expect(cal.get_by_test_id("chat-message")).to_have_count(0)

        # Back to every message: the picker still points at Ben's private conversation, not "Everyone".
        await ana.get_by_test_id("chat-conversation-back").click()
        await expect(ana.get_by_test_id("chat-conversation")).to_be_hidden()
        await expect(ana.get_by_test_id("chat-recipient")).to_have_value("ben")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()


async def test_reading_a_private_message_in_the_chat_tab_points_the_reply_at_it(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"))
        pages = [ana, ben]
        await ana.get_by_test_id("tab-chat").click()
        await expect(ana.get_by_test_id("chat-recipient")).to_have_value("room")

        await ben.get_by_test_id("tab-chat").click()
        await ben.get_by_test_id("chat-recipient").select_option("hosts")
        await ben.get_by_test_id("chat-input").fill("Can I step out for a minute?")
        await ben.get_by_test_id("chat-send").click()

        # Ana had the chat open: the message is read as it arrives, and the reply is private to Ben.
        message = ana.get_by_test_id("chat-message").filter(has_text="step out")
        await expect(message).to_contain_text("private to the hosts")
        await expect(ana.get_by_test_id("chat-recipient")).to_have_value("ben")
        await expect(message.get_by_test_id("chat-reply-private")).to_be_visible()
        await message.get_by_test_id("chat-reply-private").click()
        await expect(ana.get_by_test_id("chat-conversation-title")).to_have_text("Private with Ben")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()


async def test_on_a_phone_the_notice_can_wait_for_later_and_the_chat_still_answers_privately(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"), 390, 844)
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"), 390, 844)
        pages = [ana, ben]

        await ben.get_by_test_id("tab-chat").click()
        await ben.get_by_test_id("chat-recipient").select_option("hosts")
        await expect(ben.get_by_test_id("chat-to-line")).to_have_text("Private: only the hosts see it.")
        await ben.get_by_test_id("chat-input").fill(HARD_DAY)
        await ben.get_by_test_id("chat-send").click()

        # On Ana's phone the notice shows on the first screen, above the control bar.
        notice = ana.get_by_test_id("private-notice")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("Ben sent you a private message")
        box = await notice.bounding_box()
        controls = await ana.locator(".controls").bounding_box()
        assert box is not None and controls is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= controls["y"] + 1, (box, controls)
        await screenshot(ana, "private-message-notice-390x844")

        # "Later" puts it away; the Chat tab still counts the message as unread.
        await ana.get_by_test_id("private-notice-dismiss").click()
        await expect(notice).to_be_hidden()
        await expect(ana.get_by_test_id("chat-unread")).to_have_text("1")

        # Opened later, the chat shows the whole message and the reply is private to Ben, never "Everyone".
        await ana.get_by_test_id("tab-chat").click()
        await expect(ana.get_by_test_id("chat-text").filter(has_text="hard day")).to_have_text(HARD_DAY)
        await expect(ana.get_by_test_id("chat-recipient")).to_have_value("ben")
        await expect(ana.get_by_test_id("chat-to-line")).to_contain_text("Private: only Ben")
        await ana.get_by_test_id("chat-input").fill("I'm here. Just listen today if you like.")
        await ana.get_by_test_id("chat-send").click()
        await expect(ben.get_by_test_id("chat-message").filter(has_text="Just listen")).to_contain_text(
            "private to you")
        await screenshot(ana, "private-conversation-390x844")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()
