/** Local camera and microphone: acquiring them (with a timeout and fallbacks), listing them, and explaining failures. */

export const MEDIA_TIMEOUT_MS = 10000;

/** The camera resolutions a participant can choose before joining (index.html names them); `standard` is the default. */
export const VIDEO_QUALITIES = Object.freeze({
  standard: { width: 640, height: 480 },
  low: { width: 320, height: 240 },
});

/**
 * @typedef {{stream: MediaStream|null, error: Error|null}} LocalMedia
 * `error` is set when some or all of the devices could not be opened.
 */

/**
 * Opens the camera and microphone; if both cannot be had, tries each alone, so a missing or busy device
 * does not cost the other one.
 * @param {{cameraId?: string, microphoneId?: string, quality?: string}} [choice] `quality` is a key of
 *   {@link VIDEO_QUALITIES}
 * @returns {Promise<LocalMedia>}
 */
export async function getLocalMedia({ cameraId, microphoneId, quality } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { stream: null, error: namedError("NotSupportedError", "this browser cannot share a camera here") };
  }
  const { width, height } = quality === "low" ? VIDEO_QUALITIES.low : VIDEO_QUALITIES.standard;
  const size = { width, height };
  const video = cameraId ? { ...size, deviceId: { exact: cameraId } } : { ...size };
  const audio = microphoneId ? { deviceId: { exact: microphoneId } } : true;
  try {
    return { stream: await getUserMediaWithTimeout({ video, audio }), error: null };
  } catch (err) {
    const error = /** @type {Error} */ (err);
    // Refused or hanging: asking again for each device would only repeat it.
    if (["NotAllowedError", "SecurityError", "TimeoutError"].includes(error.name)) return { stream: null, error };
    // The chosen device is gone (unplugged): fall back to the defaults.
    if (error.name === "OverconstrainedError" && (cameraId || microphoneId)) return getLocalMedia({ quality });
    const tracks = [];
    for (const constraints of [{ audio }, { video }]) {
      try {
        tracks.push(...(await getUserMediaWithTimeout(constraints)).getTracks());
      } catch {
        // Reported through the first error.
      }
    }
    return { stream: tracks.length ? new MediaStream(tracks) : null, error };
  }
}

/**
 * Lists cameras and microphones (labels are empty until the page has permission).
 * @returns {Promise<{cameras: MediaDeviceInfo[], microphones: MediaDeviceInfo[]}>}
 */
export async function listDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return { cameras: [], microphones: [] };
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return {
      cameras: devices.filter((d) => d.kind === "videoinput" && d.deviceId),
      microphones: devices.filter((d) => d.kind === "audioinput" && d.deviceId),
    };
  } catch {
    return { cameras: [], microphones: [] };
  }
}

/**
 * Stops every track of a stream (turns the camera light off).
 * @param {MediaStream|null} stream
 */
export function stopStream(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

/**
 * Explains, in plain language, what the participant can do about a media failure.
 * @param {Error} error
 * @param {MediaStream|null} stream what could be opened anyway
 * @returns {string}
 */
export function describeMediaError(error, stream) {
  const hasVideo = !!stream && stream.getVideoTracks().length > 0;
  const hasAudio = !!stream && stream.getAudioTracks().length > 0;
  if (hasVideo && !hasAudio) return "Your microphone could not be used, so others will not hear you. You can still join.";
  if (hasAudio && !hasVideo) return "Your camera could not be used, so you will join with audio only.";
  switch (error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera and microphone access is blocked. You can still join to see and hear the group. " +
        "To share, click the camera or padlock icon next to the web address, allow the camera and microphone " +
        "for this site, then choose Try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera or microphone was found. Check that they are plugged in and switched on, then choose " +
        "Try again. You can also join without them to see and hear the group.";
    case "NotReadableError":
    case "AbortError":
      return "Your camera or microphone is being used by another app. Close that app and choose Try again, " +
        "or join without them.";
    case "TimeoutError":
      return "Your camera and microphone did not respond. You can still join, or choose Try again.";
    default:
      return "Your camera and microphone could not be started. You can still join to see and hear the group.";
  }
}

/**
 * @param {MediaStreamConstraints} constraints
 * @returns {Promise<MediaStream>}
 */
function getUserMediaWithTimeout(constraints) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(namedError("TimeoutError", "getUserMedia did not answer in time"));
    }, MEDIA_TIMEOUT_MS);
    navigator.mediaDevices.getUserMedia(constraints).then(
      (stream) => {
        clearTimeout(timer);
        // Answered after we gave up: release the devices instead of leaking a live camera.
        if (settled) stopStream(stream);
        else resolve(stream);
      },
      (err) => {
        clearTimeout(timer);
        if (!settled) reject(err);
      },
    );
  });
}

/**
 * @param {string} name
 * @param {string} message
 */
function namedError(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}
