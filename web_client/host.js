/** Host tools: the waiting list, room settings, attendance export, ending the session and the per-participant menu. */

import { h, setText, syncList } from "./dom.js";
import { ROLE_NAMES, isHost, nameOf } from "./people.js";
import { ROLES, TRACK_LABELS } from "./constants.js";

/**
 * @typedef {import("./people.js").SessionContext} SessionContext
 * @typedef {import("./protocol.js").Participant} Participant
 * @typedef {import("./requests.js").Requests} Requests
 */

/** Everything only hosts and co-hosts see. */
export class HostPanel {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   */
  constructor(ctx, byId) {
    this.ctx = ctx;
    this.el = {
      waitingPanel: byId("waiting-panel"),
      waitingList: byId("waiting-list"),
      admitAll: /** @type {HTMLButtonElement} */ (byId("admit-all")),
      settings: byId("room-settings"),
      attendance: byId("attendance-section"),
      attendanceButton: /** @type {HTMLButtonElement} */ (byId("attendance-csv")),
      attendanceStatus: byId("attendance-status"),
      endButton: /** @type {HTMLButtonElement} */ (byId("end-session")),
      muteAll: /** @type {HTMLButtonElement} */ (byId("mute-all")),
      askAllCamera: /** @type {HTMLButtonElement} */ (byId("ask-all-camera")),
      lowerAll: /** @type {HTMLButtonElement} */ (byId("host-lower-all-hands")),
      everyoneStatus: byId("everyone-status"),
      endDialog: /** @type {HTMLDialogElement} */ (byId("end-dialog")),
      endConfirm: /** @type {HTMLButtonElement} */ (byId("end-confirm")),
      endCancel: /** @type {HTMLButtonElement} */ (byId("end-cancel")),
      dialog: /** @type {HTMLDialogElement} */ (byId("participant-dialog")),
      actions: byId("participant-actions"),
      title: byId("participant-dialog-title"),
      state: byId("participant-dialog-state"),
      muteMic: /** @type {HTMLButtonElement} */ (byId("pd-mute-mic")),
      askMic: /** @type {HTMLButtonElement} */ (byId("pd-ask-mic")),
      muteCamera: /** @type {HTMLButtonElement} */ (byId("pd-mute-camera")),
      askCamera: /** @type {HTMLButtonElement} */ (byId("pd-ask-camera")),
      floor: /** @type {HTMLButtonElement} */ (byId("pd-floor")),
      spotlight: /** @type {HTMLButtonElement} */ (byId("pd-spotlight")),
      emergency: /** @type {HTMLButtonElement} */ (byId("pd-emergency")),
      emergencyInfo: byId("pd-emergency-info"),
      emergencyLocation: byId("pd-emergency-location"),
      emergencyContact: byId("pd-emergency-contact"),
      emergencyNote: byId("pd-emergency-note"),
      screenAllow: /** @type {HTMLButtonElement} */ (byId("pd-screen-allow")),
      screenStop: /** @type {HTMLButtonElement} */ (byId("pd-screen-stop")),
      role: /** @type {HTMLButtonElement} */ (byId("pd-role")),
      toWaiting: /** @type {HTMLButtonElement} */ (byId("pd-waiting")),
      remove: /** @type {HTMLButtonElement} */ (byId("pd-remove")),
      close: /** @type {HTMLButtonElement} */ (byId("pd-close")),
      confirmView: byId("remove-confirm-view"),
      confirmTitle: byId("remove-title"),
      ban: /** @type {HTMLInputElement} */ (byId("remove-ban")),
      confirmRemove: /** @type {HTMLButtonElement} */ (byId("remove-confirm")),
      cancelRemove: /** @type {HTMLButtonElement} */ (byId("remove-cancel")),
    };
    /** @type {Set<string>} ids already announced as waiting */
    this.announcedWaiting = new Set();
    /** @type {string|null} whom the participant dialog is about */
    this.subject = null;
    /** @type {HTMLElement|null} */
    this.opener = null;
    /** @type {any} */
    this.room = null;

    this.el.admitAll.addEventListener("click", () => this.ctx.send((r) => r.admitAll()));
    this.el.muteAll.addEventListener("click", () => this.everyone(async (r) => {
      const { muted } = await r.muteAll();
      return muted === 0 ? "Every member's microphone was already off."
        : `${muted === 1 ? "1 microphone" : `${muted} microphones`} muted. Members can unmute themselves when they are ready.`;
    }));
    this.el.askAllCamera.addEventListener("click", () => this.everyone(async (r) => {
      const { asked } = await r.askAllUnmute(TRACK_LABELS.CAMERA);
      return asked === 0 ? "Everyone's camera is already on."
        : `${asked === 1 ? "1 member was" : `${asked} members were`} asked to turn their camera on. It is their choice.`;
    }));
    this.el.lowerAll.addEventListener("click", () => this.everyone(async (r) => {
      await r.lowerAllHands();
      return "All hands are lowered.";
    }));
    this.el.settings.addEventListener("change", (/** @type {Event} */ event) => this.changeSetting(event));
    this.el.attendanceButton.addEventListener("click", () => this.downloadAttendance());

    this.el.endButton.addEventListener("click", () => {
      this.el.endDialog.showModal();
      this.el.endCancel.focus();
    });
    this.el.endCancel.addEventListener("click", () => this.el.endDialog.close());
    this.el.endConfirm.addEventListener("click", async () => {
      this.el.endConfirm.disabled = true;
      await this.ctx.send((r) => r.endSession());
      this.el.endConfirm.disabled = false;
      if (this.el.endDialog.open) this.el.endDialog.close();
    });

    this.el.close.addEventListener("click", () => this.closeDialog());
    this.el.dialog.addEventListener("close", () => this.onDialogClosed());
    this.el.muteMic.addEventListener("click", () => this.act((r, id) => r.muteParticipant(id, TRACK_LABELS.MICROPHONE), "microphone muted"));
    this.el.askMic.addEventListener("click", () => this.act((r, id) => r.askUnmute(id, TRACK_LABELS.MICROPHONE), "asked to unmute"));
    this.el.muteCamera.addEventListener("click", () => this.act((r, id) => r.muteParticipant(id, TRACK_LABELS.CAMERA), "camera turned off"));
    this.el.askCamera.addEventListener("click", () => this.act((r, id) => r.askUnmute(id, TRACK_LABELS.CAMERA), "asked to turn the camera on"));
    this.el.emergency.addEventListener("click", () => this.showEmergencyInfo());
    this.el.spotlight.addEventListener("click", () => {
      const giving = !this.room || this.room.spotlight !== this.subject;
      this.act((r, id) => r.spotlight(giving ? id : null), giving ? "is in the spotlight" : "spotlight stopped");
    });
    this.el.floor.addEventListener("click", () => {
      const giving = !this.room || this.room.floor !== this.subject;
      this.act((r, id) => r.giveFloor(giving ? id : null), giving ? "has the floor" : "floor taken back");
    });
    this.el.screenAllow.addEventListener("click", () => {
      const allowed = this.screenAllowed(this.subject);
      this.act((r, id) => r.allowScreenShare(id, !allowed),
        allowed ? "can no longer share their screen" : "may now share their screen");
    });
    this.el.screenStop.addEventListener("click", () => this.act((r, id) => r.stopScreenShare(id), "screen share stopped"));
    this.el.role.addEventListener("click", () => {
      const participant = this.subjectParticipant();
      const role = participant && participant.role === ROLES.COHOST ? ROLES.PARTICIPANT : ROLES.COHOST;
      this.act((r, id) => r.setRole(id, role), role === ROLES.COHOST ? "is now a co-host" : "is no longer a co-host");
    });
    this.el.toWaiting.addEventListener("click", () => this.act((r, id) => r.sendToWaiting(id), "sent to the waiting room"));
    this.el.remove.addEventListener("click", () => this.showRemoveConfirm());
    this.el.cancelRemove.addEventListener("click", () => this.showActions(this.el.remove));
    this.el.confirmRemove.addEventListener("click", () =>
      this.act((r, id) => r.remove(id, { ban: this.el.ban.checked }), this.el.ban.checked ? "removed and blocked" : "removed"));
  }

  /**
   * Runs a request for the whole room and says what it did.
   * @param {(requests: Requests) => Promise<string>} call
   */
  async everyone(call) {
    /** @type {string} */
    let text = "";
    const ok = await this.ctx.send(async (r) => { text = await call(r); });
    if (ok) setText(this.el.everyoneStatus, text);
  }

  /**
   * Renders the host-only parts for the current client and room state.
   * @param {any} room the admitted room state
   */
  render(room) {
    const client = this.ctx.client();
    const host = isHost(client);
    this.room = room;
    this.renderWaitingList();
    for (const input of /** @type {NodeListOf<HTMLInputElement>} */ (this.el.settings.querySelectorAll("input[data-setting]"))) {
      // A switch whose change is still on its way (disabled until answered) keeps what the host chose: the
      // room state rendered meanwhile predates it, and would flip the switch back for a moment.
      const name = input.dataset.setting || "";
      if (name in room && !input.disabled) input.checked = !!room[name];
    }
    // Attendance needs a host join token: a promoted co-host's token is refused by the API.
    const tokenRole = client && client.server && client.server.participant ? client.server.participant.role : null;
    this.el.attendance.hidden = !host || tokenRole !== ROLES.HOST;
    if (!host) {
      if (this.el.dialog.open) this.el.dialog.close();
      if (this.el.endDialog.open) this.el.endDialog.close();
    } else if (this.el.dialog.open) {
      this.renderDialog();
    }
  }

  /** Shows hosts who is waiting, with buttons to admit or decline each. */
  renderWaitingList() {
    const client = this.ctx.client();
    const waiting = client && isHost(client) && client.admission === "admitted" ? client.waiting : [];
    this.el.waitingPanel.hidden = waiting.length === 0;
    this.el.admitAll.hidden = waiting.length < 2;
    syncList(this.el.waitingList, waiting, (person) => person.id, (person) => {
      const admit = h("button", {
        type: "button", className: "primary", dataset: { testid: "admit-button", participantId: person.id },
      }, "Admit");
      admit.addEventListener("click", () => this.ctx.send((r) => r.admit(person.id)));
      const deny = h("button", {
        type: "button", className: "secondary", dataset: { testid: "deny-button", participantId: person.id },
      }, "Decline");
      deny.addEventListener("click", () => this.ctx.send((r) => r.deny(person.id)));
      return h("li", { dataset: { testid: "waiting-person", participantId: person.id } },
        h("span", { className: "waiting-name" }), h("span", { className: "waiting-since" }), admit, deny);
    }, (element, person) => {
      const name = person.name || "A participant";
      setText(/** @type {Element} */ (element.querySelector(".waiting-name")), name);
      const since = Number(person.since);
      setText(/** @type {Element} */ (element.querySelector(".waiting-since")), since
        ? `waiting since ${new Date(since).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" })}` : "");
      element.dataset.participantName = name;
      for (const button of element.querySelectorAll("button")) {
        /** @type {HTMLElement} */ (button).dataset.participantName = name;
        button.setAttribute("aria-label", `${button.textContent} ${name}`);
      }
    });
    for (const person of waiting) {
      if (!this.announcedWaiting.has(person.id)) this.ctx.announce(`${person.name || "A participant"} is waiting to join`);
    }
    this.announcedWaiting = new Set(waiting.map((person) => person.id));
  }

  /**
   * Adds a "Manage" button to each remote tile for hosts (and removes them for everyone else).
   * @param {Map<string, HTMLElement>} tiles participant id → tile element
   */
  decorateTiles(tiles) {
    const client = this.ctx.client();
    const host = isHost(client);
    for (const [id, tile] of tiles) {
      let button = /** @type {HTMLButtonElement|null} */ (tile.querySelector(":scope > .tile-menu"));
      if (!host) {
        if (button) button.remove();
        continue;
      }
      if (!button) {
        const opener = /** @type {HTMLButtonElement} */ (h("button", {
          type: "button", className: "tile-menu", "aria-haspopup": "dialog", dataset: { testid: "participant-menu" },
        }, "Manage"));
        opener.addEventListener("click", () => this.openDialog(id, opener));
        tile.append(opener);
        button = opener;
      }
      const name = nameOf(client, id);
      button.dataset.participantId = id;
      button.dataset.participantName = name;
      button.setAttribute("aria-label", `Manage ${name}`);
    }
    if (this.el.dialog.open && this.subject && !tiles.has(this.subject)) this.renderDialog();
  }

  /**
   * @param {Event} event
   */
  async changeSetting(event) {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.dataset.setting) return;
    const setting = /** @type {keyof import("./requests.js").RoomSettings} */ (input.dataset.setting);
    const wanted = input.checked;
    input.disabled = true;
    const ok = await this.ctx.send((r) => r.setRoom({ [setting]: wanted }));
    input.disabled = false;
    if (!ok) input.checked = !wanted;
  }

  async downloadAttendance() {
    const client = this.ctx.client();
    if (!client || !client.sessionId) return;
    const sessionId = client.sessionId;
    this.el.attendanceButton.disabled = true;
    setText(this.el.attendanceStatus, "Preparing the attendance file…");
    try {
      const response = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/attendance?format=csv`, {
        headers: { Authorization: `Bearer ${client.token}` },
        cache: "no-store",
        credentials: "omit",
      });
      if (!response.ok) throw new Error(response.status === 403 || response.status === 401
        ? "only the session's host can download attendance" : `the server answered ${response.status}`);
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: `attendance-${sessionId}.csv`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      setText(this.el.attendanceStatus, "The attendance file was downloaded.");
    } catch (err) {
      setText(this.el.attendanceStatus, `The attendance could not be downloaded: ${err instanceof Error ? err.message : String(err)}.`);
    } finally {
      this.el.attendanceButton.disabled = false;
    }
  }

  // --- the per-participant menu ------------------------------------------------------------------

  /**
   * @param {string} id
   * @param {HTMLElement} opener
   */
  openDialog(id, opener) {
    this.subject = id;
    this.opener = opener;
    this.el.ban.checked = false;
    // Shown only on request, for this participant, and gone when the menu closes.
    this.el.emergencyInfo.hidden = true;
    this.el.emergencyLocation.textContent = "";
    this.el.emergencyContact.textContent = "";
    this.showActions(null);
    this.renderDialog();
    if (!this.el.dialog.open) this.el.dialog.showModal();
    const first = [...this.el.actions.querySelectorAll("button")].find((b) => !b.hidden && !b.disabled);
    if (first) first.focus();
  }

  /** Asks the server for the participant's emergency information (each reading is audited) and shows it here. */
  async showEmergencyInfo() {
    const id = this.subject;
    /** @type {any} */
    let info = null;
    if (!id || !(await this.ctx.send(async (r) => { info = await r.emergencyInfo(id); }))) return;
    if (this.subject !== id || !info) return;
    this.el.emergencyInfo.hidden = false;
    if (!info.confirmed) {
      this.el.emergencyLocation.textContent = "—";
      this.el.emergencyContact.textContent = "—";
      setText(this.el.emergencyNote, "Not confirmed at this join.");
      return;
    }
    this.el.emergencyLocation.textContent = String(info.location);
    this.el.emergencyContact.textContent = String(info.contact);
    const at = new Date(Number(info.confirmed_at)).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    setText(this.el.emergencyNote, `Confirmed at ${at}, when they joined. Your viewing is recorded in the audit log.`);
  }

  /**
   * Tells whether a host allowed this participant to share their screen (section 10.2).
   * @param {string|null} id
   */
  screenAllowed(id) {
    const allowed = this.room && Array.isArray(this.room.screen_allowed) ? this.room.screen_allowed : [];
    return !!id && allowed.includes(id);
  }

  /** @returns {Participant|null} */
  subjectParticipant() {
    const client = this.ctx.client();
    return client && this.subject ? client.participants.get(this.subject) || null : null;
  }

  renderDialog() {
    const client = this.ctx.client();
    const participant = this.subjectParticipant();
    if (!participant) {
      if (this.el.dialog.open) {
        this.closeDialog();
        this.ctx.announce(`${nameOf(client, this.subject)} is no longer in the room`);
      }
      return;
    }
    const name = participant.name || "A participant";
    setText(this.el.title, name);
    setText(this.el.confirmTitle, `Remove ${name} from the session?`);
    const microphone = participant.tracks.find((t) => t.label === TRACK_LABELS.MICROPHONE);
    const camera = participant.tracks.find((t) => t.label === TRACK_LABELS.CAMERA);
    const parts = [];
    if (ROLE_NAMES[participant.role]) parts.push(ROLE_NAMES[participant.role]);
    parts.push(!microphone ? "No microphone" : microphone.muted ? "Microphone muted" : "Microphone on");
    parts.push(!camera ? "No camera" : camera.muted ? "Camera off" : "Camera on");
    setText(this.el.state, parts.join(" · "));
    this.el.muteMic.hidden = !microphone || microphone.muted;
    this.el.askMic.hidden = !microphone || !microphone.muted;
    this.el.muteCamera.hidden = !camera || camera.muted;
    this.el.askCamera.hidden = !camera || !camera.muted;
    // Hosts and co-hosts may always share; everyone else needs a host's permission.
    const allowed = this.screenAllowed(participant.id);
    this.el.screenAllow.hidden = participant.role !== "participant";
    this.el.screenAllow.dataset.allowed = String(allowed);
    setText(this.el.screenAllow, allowed ? "Stop allowing screen sharing" : "Allow screen sharing");
    this.el.screenStop.hidden = !participant.tracks.some((t) => t.label === TRACK_LABELS.SCREEN);
    const spotlit = !!this.room && this.room.spotlight === participant.id;
    setText(this.el.spotlight, spotlit ? "Stop the spotlight" : "Spotlight for everyone");
    const hasFloor = !!this.room && this.room.floor === participant.id;
    setText(this.el.floor, hasFloor ? "Take back the floor" : "Give the floor");
    // A host from the join link keeps that role and cannot be sent away or removed.
    const tokenHost = participant.role === ROLES.HOST;
    this.el.role.hidden = tokenHost;
    setText(this.el.role, participant.role === ROLES.COHOST ? "Remove co-host" : "Make co-host");
    this.el.toWaiting.hidden = participant.role !== "participant";
    this.el.remove.hidden = tokenHost;
  }

  /** @param {HTMLElement|null} focus */
  showActions(focus) {
    this.el.actions.hidden = false;
    this.el.confirmView.hidden = true;
    if (focus) focus.focus();
  }

  showRemoveConfirm() {
    this.el.ban.checked = false;
    this.el.actions.hidden = true;
    this.el.confirmView.hidden = false;
    this.el.cancelRemove.focus();
  }

  /**
   * Sends a moderation request about the dialog's participant, then closes the dialog.
   * @param {(requests: Requests, participantId: string) => Promise<any>} call
   * @param {string} done how to announce success, after the participant's name
   */
  async act(call, done) {
    const id = this.subject;
    if (!id) return;
    const name = nameOf(this.ctx.client(), id);
    const ok = await this.ctx.send((r) => call(r, id));
    if (ok) {
      this.ctx.announce(`${name}: ${done}`);
      if (this.subject === id) this.closeDialog();
    }
  }

  closeDialog() {
    if (this.el.dialog.open) this.el.dialog.close();
  }

  onDialogClosed() {
    const opener = this.opener;
    this.subject = null;
    this.opener = null;
    this.showActions(null);
    if (opener && opener.isConnected) opener.focus();
  }

  reset() {
    this.closeDialog();
    if (this.el.endDialog.open) this.el.endDialog.close();
    this.announcedWaiting.clear();
    this.el.waitingList.replaceChildren();
    this.el.waitingPanel.hidden = true;
    this.room = null;
  }
}
