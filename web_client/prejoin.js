/**
 * Checks before joining: a microphone level meter (so a member sees that the microphone hears them) and a
 * speaker test (a short, quiet tone). The level arithmetic is a pure function, tested in node.
 */

/**
 * Returns how loud a block of samples is, from 0 (silence) to 1, as a meter shows it: the RMS, scaled so that
 * ordinary speech fills most of the bar.
 * @param {ArrayLike<number>} samples time-domain samples in [-1, 1]
 * @returns {number}
 */
export function levelOf(samples) {
  if (!samples || samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  const rms = Math.sqrt(sum / samples.length);
  return Math.min(1, rms * 4);
}

/** The microphone level meter of the pre-join screen. */
export class MicLevelMeter {
  /**
   * @param {HTMLMeterElement} meter
   * @param {HTMLElement} hint
   */
  constructor(meter, hint) {
    this.meter = meter;
    this.hint = hint;
    /** @type {AudioContext|null} */
    this.context = null;
    /** @type {ReturnType<typeof setInterval>|null} */
    this.timer = null;
    this.heard = false;
  }

  /**
   * Follows the microphone of a stream (or shows that there is none).
   * @param {MediaStream|null} stream
   */
  attach(stream) {
    this.stop();
    const track = stream ? stream.getAudioTracks()[0] : undefined;
    if (!track || typeof AudioContext !== "function") {
      this.meter.value = 0;
      this.hint.textContent = "No microphone is in use, so the others will not hear you.";
      return;
    }
    this.context = new AudioContext();
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 1024;
    this.context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    this.heard = false;
    this.hint.textContent = "Say something: the bar moves when your microphone hears you.";
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      const level = track.enabled ? levelOf(samples) : 0;
      this.meter.value = level;
      if (!track.enabled) this.hint.textContent = "Your microphone is off for joining. Turn it on to test it.";
      else if (level > 0.05 && !this.heard) {
        this.heard = true;
        this.hint.textContent = "Your microphone hears you.";
      }
    }, 100);
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.context) this.context.close().catch(() => {});
    this.context = null;
    this.meter.value = 0;
  }
}

/**
 * Plays a short, quiet tone on the speakers and says what to do if it was not heard.
 * @param {HTMLElement} status
 * @returns {Promise<void>}
 */
export async function testSpeakers(status) {
  if (typeof AudioContext !== "function") {
    status.textContent = "This browser cannot play a test sound.";
    return;
  }
  const context = new AudioContext();
  try {
    await context.resume();
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = 523;
    gain.gain.value = 0.08;
    tone.connect(gain).connect(context.destination);
    status.dataset.state = "playing";
    status.textContent = "Playing a short tone…";
    tone.start();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    tone.stop();
    status.dataset.state = "played";
    status.textContent = "Did you hear a tone? If not, turn up the volume or check which speakers or headphones " +
      "your computer uses, then test again.";
  } finally {
    await context.close().catch(() => {});
  }
}
