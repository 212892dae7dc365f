/** Screen sharing: the share button, the large stage that shows someone's shared screen beside the camera tiles,
 * asking before replacing another share, and plain words when a share ends for a reason of its own. */

import { setText } from "./dom.js";
import { TRACK_LABELS } from "./constants.js";

/**
 * @typedef {import("./people.js").SessionContext} SessionContext
 * @typedef {import("./protocol.js").Participant} Participant
 */

/** @type {Record<string, string>} why our own share ended, in words (no notice for the participant's own stop) */
const ENDED_TEXT = {
  replaced: "Your screen share ended because someone else started sharing.",
  revoked: "A host stopped allowing you to share your screen, so your share ended.",
  "stopped-by-host": "A host stopped your screen share.",
  moved: "Your screen share ended because you moved to another room.",
  reconnected: "Your screen share could not be restored after the connection dropped. You can share again.",
};

/** The share button, the remote screen stage and the replace confirmation. */
export class ScreenShareView {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   */
  constructor(ctx, byId) {
    this.ctx = ctx;
    this.el = {
      button: /** @type {HTMLButtonElement} */ (byId("share-screen")),
      buttonLabel: byId("share-screen-label"),
      mediaArea: byId("media-area"),
      stage: byId("screen-stage"),
      caption: byId("screen-caption"),
      sharing: byId("sharing-banner"),
      sharingStop: /** @type {HTMLButtonElement} */ (byId("sharing-banner-stop")),
      dialog: /** @type {HTMLDialogElement} */ (byId("replace-share-dialog")),
      dialogText: byId("replace-share-text"),
      confirm: /** @type {HTMLButtonElement} */ (byId("replace-share-confirm")),
      cancel: /** @type {HTMLButtonElement} */ (byId("replace-share-cancel")),
    };
    /** @type {HTMLVideoElement|null} */
    this.video = null;
    /** @type {HTMLAudioElement|null} */
    this.audio = null;
    /** @type {string|null} whose screen the stage shows */
    this.shownId = null;
    this.busy = false;
    this.allowed = false;
    /** @type {((replace: boolean) => void)|null} */
    this.answer = null;

    this.el.button.addEventListener("click", () => this.toggle());
    this.el.sharingStop.addEventListener("click", () => this.toggle());
    this.el.confirm.addEventListener("click", () => this.answerReplace(true));
    this.el.cancel.addEventListener("click", () => this.answerReplace(false));
    this.el.dialog.addEventListener("cancel", (/** @type {Event} */ event) => {
      event.preventDefault();
      this.answerReplace(false);
    });
  }

  /** @param {any} room the admitted room state */
  render(room) {
    this.allowed = !!room.can_share_screen;
    this.renderButton();
  }

  renderButton() {
    const client = this.ctx.client();
    const sharing = !!client && client.sharingScreen;
    const supported = !!navigator.mediaDevices && typeof navigator.mediaDevices.getDisplayMedia === "function";
    this.el.button.hidden = !sharing && !(this.allowed && supported);
    this.el.button.disabled = this.busy;
    this.el.button.setAttribute("aria-pressed", String(sharing));
    setText(this.el.buttonLabel, sharing ? "Stop sharing" : "Share screen");
    this.el.sharing.hidden = !sharing;
  }

  /** Shows the screen someone in our room shares (or nothing), from the received tracks. */
  renderStage() {
    const client = this.ctx.client();
    if (!client) return;
    const tracks = client.remoteTracks();
    /** @type {string|null} */
    let sharer = client.screenSharer();
    if (!sharer || !(tracks.get(sharer) || {}).screen) {
      sharer = [...tracks].find(([, byLabel]) => !!byLabel[TRACK_LABELS.SCREEN])?.[0] || null;
    }
    const participant = sharer ? client.participants.get(sharer) : null;
    const byLabel = sharer ? tracks.get(sharer) || {} : {};
    if (!sharer || !participant || !byLabel[TRACK_LABELS.SCREEN]) {
      this.clearStage();
      return;
    }
    const name = participant.name || "A participant";
    if (!this.video) {
      this.video = document.createElement("video");
      this.video.className = "screen-video";
      this.video.dataset.testid = "screen-video";
      this.video.autoplay = true;
      this.video.playsInline = true;
      this.video.muted = true;
      this.video.setAttribute("autoplay", "");
      this.video.setAttribute("playsinline", "");
      this.audio = document.createElement("audio");
      this.audio.autoplay = true;
      this.el.stage.prepend(this.video, this.audio);
    }
    const video = this.video;
    const audio = /** @type {HTMLAudioElement} */ (this.audio);
    video.dataset.participantId = sharer;
    video.dataset.participantName = name;
    video.setAttribute("aria-label", `${name}'s shared screen`);
    setVideoTrack(video, byLabel[TRACK_LABELS.SCREEN] || null);
    setVideoTrack(audio, byLabel[TRACK_LABELS.SCREEN_AUDIO] || null);
    if (audio.srcObject) audio.play().catch(() => {});
    setText(this.el.caption, `${name} is sharing their screen`);
    this.el.stage.hidden = false;
    this.el.mediaArea.dataset.sharing = "true";
    if (this.shownId !== sharer) this.ctx.announce(`${name} is sharing their screen`);
    this.shownId = sharer;
  }

  clearStage() {
    if (this.video) {
      this.video.srcObject = null;
      this.video.remove();
    }
    if (this.audio) {
      this.audio.srcObject = null;
      this.audio.remove();
    }
    this.video = null;
    this.audio = null;
    this.el.stage.hidden = true;
    this.el.mediaArea.dataset.sharing = "false";
    if (this.shownId) this.ctx.announce("The screen share ended");
    this.shownId = null;
  }

  /** Starts or stops our own share. */
  async toggle() {
    const client = this.ctx.client();
    if (!client || this.busy) return;
    this.busy = true;
    this.renderButton();
    try {
      if (client.sharingScreen) {
        await client.stopScreenShare();
      } else {
        // Ask before the browser's picker when someone already shares; the server may still find a share
        // that started meanwhile, and then we ask again.
        const sharer = client.screenSharer();
        const other = sharer && client.self && sharer !== client.self.id ? client.participants.get(sharer) || null : null;
        if (other && !(await this.confirmReplace(other))) return;
        await client.startScreenShare({
          audio: true,
          onReplace: (current) => (other && (!current || current.id === other.id) ? true : this.confirmReplace(current)),
        });
      }
    } catch (err) {
      const code = err && /** @type {any} */ (err).code;
      // Closing the picker, or keeping the other person's share, needs no message.
      if (code !== "cancelled" && code !== "screen-share-active" && client === this.ctx.client()) {
        this.ctx.notice(`Your screen could not be shared: ${shareErrorText(err)}`);
      }
    } finally {
      this.busy = false;
      this.renderButton();
    }
  }

  /**
   * Asks whether our share should replace the one running in the room.
   * @param {Participant|null} sharer
   * @returns {Promise<boolean>}
   */
  confirmReplace(sharer) {
    if (this.answer) this.answer(false);
    const who = sharer ? sharer.name || "Someone" : "Someone";
    setText(this.el.dialogText, `${who} is sharing their screen right now. If you share yours, their share stops.`);
    return new Promise((resolve) => {
      this.answer = resolve;
      if (!this.el.dialog.open) this.el.dialog.showModal();
      this.el.cancel.focus();
    });
  }

  /** @param {boolean} replace */
  answerReplace(replace) {
    const answer = this.answer;
    this.answer = null;
    if (this.el.dialog.open) this.el.dialog.close();
    if (answer) answer(replace);
  }

  /**
   * Our own share started or ended.
   * @param {{active: boolean, reason: string}} detail
   */
  onLocalShare({ active, reason }) {
    this.renderButton();
    if (active) {
      this.ctx.announce("You are sharing your screen");
      return;
    }
    const text = ENDED_TEXT[reason];
    if (text) this.ctx.notice(text);
    this.ctx.announce(text || "You stopped sharing your screen");
  }

  reset() {
    this.answerReplace(false);
    // Leaving the room is not worth an announcement of the share ending.
    this.shownId = null;
    this.clearStage();
    this.allowed = false;
    this.renderButton();
  }
}

/**
 * @param {HTMLMediaElement} element
 * @param {MediaStreamTrack|null} track
 */
function setVideoTrack(element, track) {
  const current = element.srcObject instanceof MediaStream ? element.srcObject.getTracks()[0] || null : null;
  if (current === track) return;
  element.srcObject = track ? new MediaStream([track]) : null;
}

/** @param {any} err */
function shareErrorText(err) {
  switch (err && err.code) {
    case "not-permitted": return "a host needs to allow you to share your screen.";
    case "not-supported": return "this browser cannot share a screen.";
    case "timeout": return "the browser did not offer a screen to share. Please try again.";
    case "disconnected": return "the connection was interrupted.";
    case "unsupported-codec": return "your browser offered no video format the server can forward.";
    default: return (err && err.message) || "unknown error";
  }
}
