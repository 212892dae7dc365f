/** Raised hands and the floor: the raise-hand button, the queue (hosts always, everyone when visible), host actions. */

import { h, setText, syncList } from "./dom.js";
import { isHost, nameOf } from "./people.js";

/** @typedef {import("./people.js").SessionContext} SessionContext */

/** Shows the hand queue and who has the floor. */
export class HandsView {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   */
  constructor(ctx, byId) {
    this.ctx = ctx;
    this.el = {
      button: /** @type {HTMLButtonElement} */ (byId("raise-hand")),
      buttonLabel: byId("raise-hand-label"),
      status: byId("hands-status"),
      queue: byId("hand-queue"),
      host: byId("hands-host"),
      lowerAll: /** @type {HTMLButtonElement} */ (byId("lower-all-hands")),
      takeFloor: /** @type {HTMLButtonElement} */ (byId("take-floor")),
      banner: byId("floor-banner"),
    };
    /** @type {string[]} */
    this.hands = [];
    /** @type {string|null} */
    this.floor = null;
    this.handUp = false;

    this.el.button.addEventListener("click", () => this.ctx.send((r) => (this.handUp ? r.lowerHand() : r.raiseHand())));
    this.el.lowerAll.addEventListener("click", () => this.ctx.send((r) => r.lowerAllHands()));
    this.el.takeFloor.addEventListener("click", () => this.ctx.send((r) => r.giveFloor(null)));
  }

  /** @param {any} room the admitted room state */
  render(room) {
    const client = this.ctx.client();
    const host = isHost(client);
    const selfId = client && client.self ? client.self.id : null;
    const hands = Array.isArray(room.hands) ? room.hands.filter((/** @type {any} */ id) => typeof id === "string") : [];
    const floor = typeof room.floor === "string" ? room.floor : null;
    const showQueue = host || !!room.hands_visible;

    if (host) {
      for (const id of hands) {
        if (!this.hands.includes(id) && id !== selfId) this.ctx.announce(`${nameOf(client, id)} raised their hand`);
      }
    }
    if (floor !== this.floor && floor !== null) {
      this.ctx.announce(floor === selfId ? "A host gave you the floor" : `${nameOf(client, floor)} has the floor`);
    }
    this.hands = hands;
    this.floor = floor;
    this.handUp = !!selfId && hands.includes(selfId);

    // Hosts give the floor rather than ask for it.
    this.el.button.hidden = host && !this.handUp;
    this.el.button.setAttribute("aria-pressed", String(this.handUp));
    setText(this.el.buttonLabel, this.handUp ? "Lower hand" : "Raise hand");

    const shown = showQueue ? hands : [];
    syncList(this.el.queue, shown, (id) => id, (id) => {
      const giveFloor = h("button", {
        type: "button", className: "secondary small", dataset: { testid: "hand-give-floor" },
      }, "Give the floor");
      giveFloor.addEventListener("click", () => this.ctx.send((r) => r.giveFloor(id)));
      const lower = h("button", { type: "button", className: "link-button", dataset: { testid: "hand-lower" } }, "Lower");
      lower.addEventListener("click", () => this.ctx.send((r) => r.lowerHand(id)));
      return h("li", { dataset: { testid: "hand-queue-item", participantId: id } },
        h("span", { className: "person-name" }), h("span", { className: "person-actions" }, giveFloor, lower));
    }, (element, id) => {
      const name = nameOf(client, id);
      element.dataset.participantName = id === selfId && client && client.self ? client.self.name : name;
      setText(/** @type {Element} */ (element.querySelector(".person-name")), name);
      const actions = /** @type {HTMLElement} */ (element.querySelector(".person-actions"));
      actions.hidden = !host;
      for (const button of actions.querySelectorAll("button")) button.setAttribute("aria-label", `${button.textContent} — ${name}`);
    });

    let status;
    if (showQueue) {
      status = hands.length === 0 ? "No hands are raised."
        : hands.length === 1 ? "1 hand is raised:" : `${hands.length} hands are raised, in order:`;
      if (!host) status += " Everyone in the group can see this list.";
    } else {
      status = this.handUp
        ? "Your hand is raised. The therapist can see it."
        : "Raise your hand to let the therapist know you'd like to speak.";
    }
    setText(this.el.status, status);

    this.el.host.hidden = !host;
    this.el.lowerAll.hidden = hands.length === 0;
    this.el.takeFloor.hidden = floor === null;

    // The floor belongs to the room its holder is in: from a breakout, someone in another room has no banner.
    const floorHere = floor !== null && (floor === selfId || (!!client && client.participants.has(floor)));
    this.el.banner.hidden = !floorHere;
    if (floorHere) setText(this.el.banner, floor === selfId ? "You have the floor" : `${nameOf(client, floor)} has the floor`);
  }

  reset() {
    this.hands = [];
    this.floor = null;
    this.handUp = false;
    this.el.queue.replaceChildren();
    this.el.banner.hidden = true;
    this.el.button.hidden = false;
    this.el.button.setAttribute("aria-pressed", "false");
    setText(this.el.buttonLabel, "Raise hand");
  }
}
