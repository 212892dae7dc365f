// @ts-check
/**
 * One typed method for every client → server request of docs/protocol.md; the only place that spells a
 * request `type`. Each method resolves with the result `data` or rejects with the server's error.
 */

/**
 * @typedef {(type: string, fields?: Record<string, any>) => Promise<any>} Send
 * @typedef {{title: string, minutes: number}} Phase
 * @typedef {{mid: string, label: string}} TrackLabel
 * @typedef {"microphone"|"camera"|"screen"} ModeratedLabel
 * @typedef {{locked?: boolean, waiting_room?: boolean, chat_enabled?: boolean, private_chat?: boolean,
 *            hands_visible?: boolean, readmit_after_timeout?: boolean, members_media_without_host?: boolean}} RoomSettings
 */

/** The protocol's requests as methods over one `send` function (a connection's `request`). */
export class Requests {
  /** @param {Send} send */
  constructor(send) {
    this.send = send;
  }

  // --- 5. session flow ---

  /**
   * Section 5.1: authenticates with the join token (and, to take back a place, the resume credential).
   * @param {{version: number, token: string, room?: string, resume?: string}} fields
   */
  hello(fields) {
    return this.send("hello", fields);
  }

  /**
   * Section 5.2: enters the room after accepting the agreement of this version.
   * @param {string} [consentVersion]
   * @param {{location: string, contact: string}} [emergencyInfo] where we are and whom to call, when asked
   */
  join(consentVersion, emergencyInfo) {
    /** @type {Record<string, unknown>} */
    const fields = consentVersion === undefined ? {} : { consent_version: consentVersion };
    if (emergencyInfo) fields.emergency_info = { location: emergencyInfo.location, contact: emergencyInfo.contact };
    return this.send("join", fields);
  }

  /** Section 5.3: leaves the room; the server then closes the socket. */
  leave() {
    return this.send("leave");
  }

  // --- 6. media ---

  /**
   * Section 6.1: offers the publish connection.
   * @param {{sdp: string, tracks: TrackLabel[], replace_screen?: boolean}} fields
   */
  publish(fields) {
    return this.send("publish", fields);
  }

  /**
   * Section 6.2: ends a published track.
   * @param {string} trackId
   */
  unpublish(trackId) {
    return this.send("unpublish", { track_id: trackId });
  }

  /**
   * Section 6.2: pauses or resumes forwarding of a published track.
   * @param {string} trackId
   * @param {boolean} muted
   */
  mute(trackId, muted) {
    return this.send("mute", { track_id: trackId, muted });
  }

  /**
   * Section 6.3: answers the server's subscriber offer of this revision.
   * @param {number} revision
   * @param {string} sdp
   */
  subscriberAnswer(revision, sdp) {
    return this.send("subscriber-answer", { revision, sdp });
  }

  /**
   * Section 6.5: how large we show each received video (device pixels high, 0: not shown).
   * @param {Record<string, number>} heights by track id
   */
  tileSizes(heights) {
    return this.send("tile-sizes", { heights });
  }

  // --- 9.2 waiting room ---

  /** @param {string} participantId */
  admit(participantId) {
    return this.send("admit", { participant_id: participantId });
  }

  admitAll() {
    return this.send("admit-all");
  }

  /** @param {string} participantId */
  deny(participantId) {
    return this.send("deny", { participant_id: participantId });
  }

  /** @param {string} participantId */
  sendToWaiting(participantId) {
    return this.send("send-to-waiting", { participant_id: participantId });
  }

  // --- 9.3 moderation ---

  /**
   * @param {string} participantId
   * @param {ModeratedLabel} label
   */
  muteParticipant(participantId, label) {
    return this.send("mute-participant", { participant_id: participantId, label });
  }

  /**
   * @param {string} participantId
   * @param {ModeratedLabel} label
   */
  askUnmute(participantId, label) {
    return this.send("ask-unmute", { participant_id: participantId, label });
  }

  /** Mutes every member's microphone in the host's room; each unmutes themselves. */
  muteAll() {
    return this.send("mute-all");
  }

  /**
   * Asks every member whose track is off to turn it on (a request, never a switch).
   * @param {"microphone"|"camera"} label
   */
  askAllUnmute(label) {
    return this.send("ask-all-unmute", { label });
  }

  /**
   * @param {string} participantId
   * @param {{ban?: boolean}} [options] `ban` bars a return for the rest of the session
   */
  remove(participantId, { ban = false } = {}) {
    return this.send("remove", { participant_id: participantId, ban });
  }

  /**
   * @param {string} participantId
   * @param {"cohost"|"participant"} role
   */
  setRole(participantId, role) {
    return this.send("set-role", { participant_id: participantId, role });
  }

  /** @param {RoomSettings} settings */
  setRoom(settings) {
    return this.send("set-room", { ...settings });
  }

  /**
   * Section 9.3: a member's emergency information (hosts only; each reading is audited).
   * @param {string} participantId
   */
  emergencyInfo(participantId) {
    return this.send("emergency-info", { participant_id: participantId });
  }

  endSession() {
    return this.send("end-session");
  }

  // --- 9.4 agenda ---

  /**
   * @param {{template?: string, phases?: Phase[]}} [options] a template `id` from `hello`; `phases` override it
   */
  agendaStart({ template, phases } = {}) {
    /** @type {Record<string, any>} */
    const fields = {};
    if (template !== undefined) fields.template = template;
    if (phases !== undefined) fields.phases = phases;
    return this.send("agenda-start", fields);
  }

  agendaNext() {
    return this.send("agenda-next");
  }

  /** @param {number} index */
  agendaSetPhase(index) {
    return this.send("agenda-set-phase", { index });
  }

  /** @param {Phase[]} phases */
  agendaUpdate(phases) {
    return this.send("agenda-update", { phases });
  }

  // --- 9.5 check-in round ---

  /** @param {{order?: string[], random?: boolean}} [options] */
  checkinStart({ order, random } = {}) {
    /** @type {Record<string, any>} */
    const fields = {};
    if (order !== undefined) fields.order = order;
    if (random !== undefined) fields.random = random;
    return this.send("checkin-start", fields);
  }

  checkinNext() {
    return this.send("checkin-next");
  }

  checkinPass() {
    return this.send("checkin-pass");
  }

  checkinEnd() {
    return this.send("checkin-end");
  }

  /** @param {number} rating 1 to 10, seen only by hosts */
  checkinMood(rating) {
    return this.send("checkin-mood", { rating });
  }

  /** @param {string} text the current speaker's check-in, typed instead of spoken */
  checkinText(text) {
    return this.send("checkin-text", { text });
  }

  /** @param {"agree"|"heart"|"thanks"|"pause"} reaction shown briefly on our tile (section 9.11) */
  react(reaction) {
    return this.send("react", { reaction });
  }

  // --- 9.6 raised hands ---

  raiseHand() {
    return this.send("raise-hand");
  }

  /** @param {string} [participantId] someone else's hand (hosts); default our own */
  lowerHand(participantId) {
    return this.send("lower-hand", participantId === undefined ? {} : { participant_id: participantId });
  }

  lowerAllHands() {
    return this.send("lower-all-hands");
  }

  /** @param {string|null} participantId null takes the floor back */
  giveFloor(participantId) {
    return this.send("give-floor", { participant_id: participantId });
  }

  /** @param {string|null} participantId shown large for everyone; null stops the spotlight */
  spotlight(participantId) {
    return this.send("spotlight", { participant_id: participantId });
  }

  // --- 9.7 chat, 9.8 homework ---

  /**
   * @param {string} to `room`, `hosts` or a participant id
   * @param {string} text
   */
  chat(to, text) {
    return this.send("chat", { to, text });
  }

  /** @param {string} text */
  homework(text) {
    return this.send("homework", { text });
  }

  // --- 10.1 breakout rooms ---

  /** @param {{names?: string[], count?: number}} plan names, or a count of rooms named "Room 1", … */
  breakoutCreate({ names, count }) {
    return this.send("breakout-create", names !== undefined ? { names } : { count });
  }

  /**
   * @param {string} participantId
   * @param {string|null} room null for the main room
   */
  breakoutAssign(participantId, room) {
    return this.send("breakout-assign", { participant_id: participantId, room });
  }

  breakoutAssignRandom() {
    return this.send("breakout-assign-random");
  }

  /** @param {number|null} [minutes] null or absent: no timer */
  breakoutOpen(minutes = null) {
    return this.send("breakout-open", minutes === null ? {} : { minutes });
  }

  /** @param {number} minutes from now; 0 clears the timer */
  breakoutTimer(minutes) {
    return this.send("breakout-timer", { minutes });
  }

  /** @param {{self_select: boolean}} settings */
  breakoutSettings({ self_select }) {
    return this.send("breakout-settings", { self_select });
  }

  /** @param {string} room */
  breakoutChoose(room) {
    return this.send("breakout-choose", { room });
  }

  /** @param {string} text */
  breakoutBroadcast(text) {
    return this.send("breakout-broadcast", { text });
  }

  /** @param {string|null} room null goes back to the main room */
  breakoutVisit(room) {
    return this.send("breakout-visit", { room });
  }

  /** @param {string} room */
  breakoutClose(room) {
    return this.send("breakout-close", { room });
  }

  breakoutCloseAll() {
    return this.send("breakout-close-all");
  }

  askForHelp() {
    return this.send("ask-for-help");
  }

  // --- 10.2 screen sharing ---

  /**
   * @param {string} participantId
   * @param {boolean} allowed
   */
  allowScreenShare(participantId, allowed) {
    return this.send("allow-screen-share", { participant_id: participantId, allowed });
  }

  /** @param {string} participantId */
  stopScreenShare(participantId) {
    return this.send("stop-screen-share", { participant_id: participantId });
  }
}
