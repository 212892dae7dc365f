/** The therapy session's side panel (agenda, check-in, hands, homework, chat, host tools) and its marks on the tiles. */

import { makeTabs } from "./dom.js";
import { AgendaView } from "./agenda.js";
import { CheckinView, checkinOf } from "./checkin.js";
import { HandsView } from "./hands.js";
import { HomeworkView } from "./homework.js";
import { ChatView } from "./chat.js";
import { HostPanel } from "./host.js";
import { BreakoutView } from "./breakouts.js";
import { ScreenShareView } from "./screenshare.js";
import { HostContinuityView } from "./continuity.js";
import { admittedRoom, isHost } from "./people.js";
import { markTile } from "./tiles.js";

/** @typedef {import("./people.js").SessionContext} SessionContext */

/** Owns every session view and keeps them in step with the client's room state. */
export class SessionUI {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   * @param {{leave: (options: {keepResume: boolean, steppedOut: boolean}) => Promise<void>}} app
   */
  constructor(ctx, byId, app) {
    this.ctx = ctx;
    this.el = {
      tablist: byId("side-tabs"),
      tabSession: byId("tab-session"),
      tabChat: byId("tab-chat"),
      tabHost: byId("tab-host"),
      tabBreakouts: byId("tab-breakouts"),
      panelChat: byId("panel-chat"),
      unread: byId("chat-unread"),
    };
    this.selectTab = makeTabs(this.el.tablist, (tab) => {
      if (tab === this.el.tabChat) this.chat.markRead();
    });
    this.agenda = new AgendaView(ctx, byId);
    this.checkin = new CheckinView(ctx, byId);
    this.hands = new HandsView(ctx, byId);
    this.homework = new HomeworkView(ctx, byId);
    this.host = new HostPanel(ctx, byId);
    this.breakouts = new BreakoutView(ctx, byId);
    this.screen = new ScreenShareView(ctx, byId);
    this.continuity = new HostContinuityView(ctx, byId, app);
    this.chat = new ChatView(ctx, byId, {
      isVisible: () => !this.el.panelChat.hidden && document.visibilityState === "visible",
      onUnread: (count) => {
        this.el.unread.hidden = count === 0;
        this.el.unread.textContent = count === 0 ? "" : String(count);
        this.el.tabChat.setAttribute("aria-label", count === 0 ? "Chat" : `Chat, ${count} unread`);
      },
      open: () => this.selectTab(this.el.tabChat),
    });
    /** @type {boolean|null} whether the viewer was a host at the last render (null: not rendered yet) */
    this.wasHost = null;
  }

  /** Fills the panel for a participant just admitted (chat history included). */
  enter() {
    const client = this.ctx.client();
    // The server's limits and agenda templates (its `hello`) bound every form; nothing restates them.
    if (client) {
      this.agenda.configure(client.limits, client.agendaTemplates);
      this.breakouts.configure(client.limits);
      this.homework.configure(client.limits);
    }
    this.chat.load();
    this.render();
    if (client && client.hostAbsence) {
      this.continuity.onAbsence(client.hostAbsence);
      client.hostAbsence = null;
    }
  }

  /** Re-renders every view from the client's current room state and roster. */
  render() {
    const client = this.ctx.client();
    const room = admittedRoom(client);
    if (!room) return;
    const host = isHost(client);
    this.el.tabHost.hidden = !host;
    const hostTabOpen = [this.el.tabHost, this.el.tabBreakouts].some((tab) => tab.getAttribute("aria-selected") === "true");
    if (!host && hostTabOpen) this.selectTab(this.el.tabSession);
    if (this.wasHost !== null && host !== this.wasHost) {
      this.ctx.announce(host ? "You are now a co-host. The Host tab has the room controls." : "You are no longer a co-host");
    }
    this.wasHost = host;
    this.agenda.render(room);
    this.checkin.render(room);
    this.hands.render(room);
    this.homework.render(room);
    this.chat.render(room);
    this.host.render(room);
    this.breakouts.render();
    this.screen.render(room);
    this.continuity.render();
  }

  /**
   * Marks the tiles with turn-taking and gives hosts a menu on each remote tile.
   * @param {HTMLElement} localTile
   * @param {Map<string, HTMLElement>} tiles remote participant id → tile element
   */
  renderTiles(localTile, tiles) {
    const client = this.ctx.client();
    const room = admittedRoom(client);
    const checkin = checkinOf(room);
    const hands = room && Array.isArray(room.hands) ? room.hands : [];
    const floor = room && typeof room.floor === "string" ? room.floor : null;
    /** @param {string|null} id */
    const marks = (id) => ({
      turn: !!id && !!checkin && checkin.current === id,
      floor: !!id && floor === id,
      hand: !!id && hands.includes(id),
    });
    markTile(localTile, marks(client && client.self ? client.self.id : null));
    for (const [id, tile] of tiles) markTile(tile, marks(id));
    this.host.decorateTiles(tiles);
    this.screen.renderStage();
  }

  /**
   * Handles the server events that only some views care about.
   * @param {any} message
   */
  onServerEvent(message) {
    if (message.type === "checkin-mood") this.checkin.onMood(message);
    else if (message.type === "checkin-text") this.checkin.onText(message);
    else if (message.type === "agenda-overrun") this.agenda.onOverrun();

  }

  /** @param {any} message */
  onChatMessage(message) {
    this.chat.add(message);
  }

  /**
   * We are now in another room or breakout: its chat replaces the one shown.
   * @param {{location: string, from: string}} detail
   */
  onMoved(detail) {
    this.chat.load();
    this.chat.markRead();
    this.breakouts.onMoved(detail);
    this.render();
  }

  /** @param {{seconds_left: number}} detail */
  onBreakoutWarning(detail) {
    this.breakouts.onWarning(detail);
  }

  /** @param {{text: string, from: {id: string, name: string}|null}} detail */
  onBreakoutBroadcast(detail) {
    this.breakouts.onBroadcast(detail);
  }

  /** @param {{room: string, participant_id: string}} detail */
  onHelpRequested(detail) {
    this.breakouts.onHelpRequested(detail);
  }

  /** @param {{active: boolean, reason: string}} detail */
  onLocalShare(detail) {
    this.screen.onLocalShare(detail);
  }

  /** Clears everything when the participant leaves the room (waiting room, end of session). */
  reset() {
    this.agenda.reset();
    this.checkin.reset();
    this.hands.reset();
    this.homework.reset();
    this.chat.reset();
    this.host.reset();
    this.breakouts.reset();
    this.screen.reset();
    this.continuity.reset();
    this.wasHost = null;
  }
}
