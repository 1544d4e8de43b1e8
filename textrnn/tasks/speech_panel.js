// The speech recogniser's panel on textrnn's page: an audio file, or a recording from the
// microphone, and what it says, each word timed by the CTC alignment. The microphone is read
// as PCM through the Web Audio API (an AudioWorklet), resampled to the model's rate and sent
// as a 16-bit WAV: a browser's own MediaRecorder gives webm or mp4, which the server's audio
// reader (libsndfile) cannot read. Browsers give the microphone only to secure pages:
// https, or http on localhost or 127.0.0.1.
"use strict";

window.textrnn.panels.speech = (host, {$, postJSON, showError, element}) => {
  let current = null;
  let recording = null;  // {stream, context, chunks, started, timer} while the microphone is on
  const fileInput = element("input", {id: "audio-file", type: "file",
                                      accept: "audio/*,.wav,.flac,.ogg,.opus,.mp3"});
  const beam = element("input", {id: "beam", type: "number", min: 1, step: 1, value: 1});
  host.append(
    element("label", {htmlFor: "audio-file", textContent: "An audio file (WAV, FLAC, Ogg, MP3)"}),
    fileInput,
    element("div", {className: "controls"},
            element("button", {id: "transcribe-file", textContent: "Transcribe the file"}),
            element("button", {id: "record", className: "secondary", textContent: "Record"}),
            element("label", {htmlFor: "beam"}, "beam width", beam)),
    element("p", {id: "speech-status", className: "note"}),
    element("audio", {id: "playback", controls: true, hidden: true}),
    element("p", {id: "transcript", className: "tokens"}),
    element("p", {id: "speech-method", className: "note"}));

  // The processor runs on the audio thread: it hands each block of 128 samples (the first
  // channel, or the mean of the channels) to the page.
  const WORKLET = `
    class Recorder extends AudioWorkletProcessor {
      process(inputs) {
        const channels = inputs[0];
        if (channels.length) {
          const mono = new Float32Array(channels[0].length);
          for (const c of channels) for (let i = 0; i < c.length; i++) mono[i] += c[i] / channels.length;
          this.port.postMessage(mono);
        }
        return true;
      }
    }
    registerProcessor("textrnn-recorder", Recorder);`;

  function base64(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }

  // Samples in [-1, 1] as a mono 16-bit PCM WAV file.
  function wav(samples, rate) {
    const view = new DataView(new ArrayBuffer(44 + 2 * samples.length));
    const ascii = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
    ascii(0, "RIFF"); view.setUint32(4, 36 + 2 * samples.length, true); ascii(8, "WAVE");
    ascii(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true);  // PCM
    view.setUint16(22, 1, true); view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true);
    view.setUint16(32, 2, true); view.setUint16(34, 16, true);
    ascii(36, "data"); view.setUint32(40, 2 * samples.length, true);
    samples.forEach((v, i) => view.setInt16(44 + 2 * i, Math.max(-1, Math.min(1, v)) * 0x7fff, true));
    return new Uint8Array(view.buffer);
  }

  // The browser's own resampler (an OfflineAudioContext at the model's rate): a recording
  // at the microphone's 48 kHz would be 6 times the bytes a 8 kHz model needs.
  async function resampled(samples, from, to) {
    if (from === to || !samples.length) return samples;
    const offline = new OfflineAudioContext(1, Math.max(1, Math.round(samples.length * to / from)), to);
    const buffer = offline.createBuffer(1, samples.length, from);
    buffer.copyToChannel(samples, 0);
    const source = offline.createBufferSource();
    source.buffer = buffer;
    source.connect(offline.destination);
    source.start();
    return (await offline.startRendering()).getChannelData(0);
  }

  async function send(bytes, what) {
    showError("");
    $("transcript").dataset.state = "waiting";
    $("speech-status").textContent = "transcribing " + what + "\u2026";
    const began = performance.now();
    try {
      const beamWidth = Math.max(1, Math.round(Number(beam.value) || 1));
      const res = await postJSON(current.endpoint, {model: current.name, audio: base64(bytes), beam: beamWidth});
      const answer = await res.json();
      drawWords(answer);
      $("speech-status").textContent = what + ": " + answer.seconds.toFixed(2) + " s of audio, transcribed in " +
        ((performance.now() - began) / 1000).toFixed(2) + " s";
      $("speech-method").textContent = beamWidth > 1 ? "Prefix beam search, beam " + beamWidth + "." :
        "Greedy CTC decoding: the likeliest symbol of each frame, repeats merged and blanks dropped.";
      $("transcript").dataset.state = "done";
    } catch (e) {
      $("transcript").dataset.state = "error";
      $("speech-status").textContent = "";
      showError(e.message);
    }
  }

  // Each word with its start and end (seconds into the clip) as its tooltip.
  function drawWords(answer) {
    const out = $("transcript");
    out.textContent = "";
    if (!answer.words.length) out.append(element("em", {textContent: "(nothing heard)"}));
    answer.words.forEach((w, i) => {
      if (i) out.append(" ");
      out.append(element("span", {textContent: w.word,
                                  title: w.start.toFixed(2) + "\u2013" + w.end.toFixed(2) + " s"}));
    });
  }

  $("transcribe-file").onclick = async () => {
    const file = fileInput.files[0];
    if (!file) return showError("choose an audio file first");
    await send(new Uint8Array(await file.arrayBuffer()), file.name);
  };

  async function startRecording() {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      throw new Error("the browser gives the microphone only to secure pages: open this page at " +
                      "http://localhost or http://127.0.0.1 (or behind https)");
    }
    const stream = await navigator.mediaDevices.getUserMedia(
      {audio: {channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
    const context = new AudioContext();
    const url = URL.createObjectURL(new Blob([WORKLET], {type: "text/javascript"}));
    await context.audioWorklet.addModule(url);
    URL.revokeObjectURL(url);
    const node = new AudioWorkletNode(context, "textrnn-recorder");
    const chunks = [];
    node.port.onmessage = (e) => chunks.push(e.data);
    const silent = context.createGain();  // pulls the graph without playing the voice back
    silent.gain.value = 0;
    context.createMediaStreamSource(stream).connect(node).connect(silent).connect(context.destination);
    const started = performance.now();
    const timer = setInterval(() => {
      $("speech-status").textContent = "recording: " + ((performance.now() - started) / 1000).toFixed(1) + " s";
    }, 100);
    return {stream, context, chunks, timer};
  }

  async function stopRecording(r) {
    clearInterval(r.timer);
    r.stream.getTracks().forEach((t) => t.stop());
    await r.context.close();
    const n = r.chunks.reduce((a, c) => a + c.length, 0);
    const all = new Float32Array(n);
    let at = 0;
    for (const c of r.chunks) { all.set(c, at); at += c.length; }
    const rate = current.sample_rate;
    const bytes = wav(await resampled(all, r.context.sampleRate, rate), rate);
    $("playback").src = URL.createObjectURL(new Blob([bytes], {type: "audio/wav"}));
    $("playback").hidden = false;
    return bytes;
  }

  $("record").onclick = async () => {
    showError("");
    const button = $("record");
    if (!recording) {
      try {
        recording = await startRecording();
        button.textContent = "Stop and transcribe";
        $("transcript").dataset.state = "recording";
      } catch (e) {
        showError(e.name === "NotAllowedError" ? "the browser was not allowed to use the microphone" : e.message);
      }
      return;
    }
    const r = recording;
    recording = null;
    button.textContent = "Record";
    button.disabled = true;
    try {
      await send(await stopRecording(r), "the recording");
    } catch (e) {
      showError(e.message);
    } finally {
      button.disabled = false;
    }
  };

  return {
    show(model) {
      current = model;
    },
  };
};
