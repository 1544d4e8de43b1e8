"""A speech recogniser on `textrnn serve`.

- POST /v1/transcribe: JSON, the audio file's bytes in base64 (what the page sends, from a
  file or from the microphone, recorded as WAV).
- POST /v1/audio/transcriptions: OpenAI's shape, multipart with `file` and `model`, for the
  clients people already have.

Both check the upload's size (--max-audio-kb) before reading it and its duration
(--max-audio-seconds) from its header before decoding its samples, so a long or large
upload costs the server nothing but the refusal."""
import base64
import binascii
import math
from dataclasses import dataclass

from ..data.audio import Clip, clip_info
from ..errors import DataError
from ..settings import setting

UPLOAD = "the uploaded audio"  # how messages name an upload
# OpenAI's response formats: json and text carry the transcript; verbose_json adds the
# duration, one segment and, when asked for, the words' times; srt and vtt are subtitles.
FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
WORDS_PER_CUE = 8  # a subtitle cue holds at most this many words


@dataclass
class TranscribeRequest:
    """POST /v1/transcribe's body."""
    audio: str = setting("", "the audio file's bytes, base64-encoded: WAV, FLAC, Ogg or MP3, "
                         "any sample rate, mono or stereo", required=True)
    beam: int = setting(1, "prefix beam search width; 1: greedy", low=1, high=1024)


def heard(server, run, data: bytes, beam: int = 1) -> dict:
    """The transcript of an upload's bytes ({"text", "words", "seconds"}), after the
    server's caps on its size, its duration and the beam."""
    server.cap("the audio's size in KiB", math.ceil(len(data) / 1024), "max_audio_kb")
    server.cap("the beam", beam, "max_beam")
    clip = Clip(data=data, name=UPLOAD)
    _, seconds = clip_info(clip)
    server.cap("the audio's duration in seconds", round(seconds, 2), "max_audio_seconds")
    result = run.transcribe([clip], beam=beam, max_seconds=server.cfg.max_audio_seconds)[0]
    return {**result, "seconds": round(seconds, 3)}


def transcribe_endpoint(server, name: str, run, body: TranscribeRequest) -> dict:
    """POST /v1/transcribe: what the clip says, with each word's start and end in seconds."""
    try:
        data = base64.b64decode(body.audio, validate=True)
    except (binascii.Error, ValueError):
        raise DataError("audio is not base64; send the file's bytes base64-encoded") from None
    return {"model": name, **heard(server, run, data, body.beam)}


def openai_routes(api, server, task) -> list[str]:
    """Adds OpenAI's POST /v1/audio/transcriptions to `api`; returns its path (its errors
    take OpenAI's shape)."""
    from fastapi import File, Form, UploadFile
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import PlainTextResponse

    @api.post("/audio/transcriptions", summary="OpenAI-compatible transcription of an audio file")
    async def transcriptions(file: UploadFile = File(..., description="the audio file"),
                             model: str | None = Form(None, description="a served speech run's "
                                                      "name (GET /v1/models)"),
                             response_format: str = Form("json", description=", ".join(FORMATS)),
                             language: str | None = Form(None, description="accepted and ignored"),
                             prompt: str | None = Form(None, description="accepted and ignored"),
                             temperature: float = Form(0.0, description="accepted and ignored"),
                             granularities: list[str] = Form([], alias="timestamp_granularities[]",
                                                             description="word, segment")):
        """A recogniser's transcript in OpenAI's shapes; `model` is the run's name."""
        if response_format not in FORMATS:
            raise DataError(f"response_format {response_format!r} is not one of {', '.join(FORMATS)}")
        name, run = server.runs.pick(model, task)
        data = await file.read(server.cfg.max_audio_kb * 1024 + 1)  # one byte over: too large
        result = await run_in_threadpool(heard, server, run, data)
        if response_format == "json":
            return {"text": result["text"]}
        if response_format == "text":
            return PlainTextResponse(result["text"] + "\n")
        if response_format in ("srt", "vtt"):
            return PlainTextResponse(subtitles(result["words"], response_format),
                                     media_type="text/vtt" if response_format == "vtt" else "text/plain")
        return verbose(result, language, "word" in granularities)

    return ["/v1/audio/transcriptions"]


def verbose(result: dict, language: str | None, words: bool) -> dict:
    """OpenAI's verbose_json: the whole clip as one segment, the words' times if asked."""
    segment = {"id": 0, "seek": 0, "start": 0.0, "end": result["seconds"], "text": result["text"],
               "tokens": [], "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0,
               "no_speech_prob": 0.0}
    out = {"task": "transcribe", "language": language or "", "duration": result["seconds"],
           "text": result["text"], "segments": [segment]}
    if words:
        out["words"] = result["words"]
    return out


def subtitles(words: list[dict], kind: str) -> str:
    """SubRip or WebVTT cues of up to WORDS_PER_CUE words, timed by the words' alignment."""
    def stamp(t: float) -> str:
        ms = round(t * 1000)
        h, m, s = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
        return f"{h:02d}:{m:02d}:{s:02d}{',' if kind == 'srt' else '.'}{ms % 1000:03d}"

    cues = []
    for n, i in enumerate(range(0, len(words), WORDS_PER_CUE), start=1):
        group = words[i:i + WORDS_PER_CUE]
        text = " ".join(w["word"] for w in group)
        times = f"{stamp(group[0]['start'])} --> {stamp(group[-1]['end'])}"
        cues.append(f"{n}\n{times}\n{text}\n" if kind == "srt" else f"{times}\n{text}\n")
    return ("WEBVTT\n\n" if kind == "vtt" else "") + "\n".join(cues)
